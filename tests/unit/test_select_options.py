"""The select probe's options and its layer comparison (pure)."""

from __future__ import annotations

import pytest

from dbprobe.errors import ConfigError
from dbprobe.load.plan import LoadPlan
from dbprobe.metrics import LatencySummary
from dbprobe.probes.select.probe import Layer, SelectOptions, Via, select_section
from dbprobe.report.blocks import Table
from dbprobe.report.section_blocks import section_blocks
from dbprobe.report.section_views import read_section
from dbprobe.result.model import OperationReport, QueryCounts


def _op(name: str, per_s: float, statements: float) -> OperationReport:
    return OperationReport(
        name=name,
        count=100,
        attempts=100,
        commits=100,
        rollbacks=0,
        errors=0,
        retries=0,
        cancelled=0,
        error_classes={},
        error_samples={},
        latency_ms=LatencySummary.empty(),
        commit_latency_ms=LatencySummary.empty(),
        throughput_per_s=per_s,
        queries=QueryCounts(int(100 * statements), statements, int(statements)),
        histogram="",
    )


def test_via_all_means_the_three_layers_driver_first() -> None:
    assert Via.ALL.layers == (Layer.DRIVER, Layer.CORE, Layer.ORM)
    assert Via.ORM.layers == (Layer.ORM,)


def test_via_given_as_text_is_validated_and_becomes_the_enum() -> None:
    options = SelectOptions(LoadPlan(2, 5), via="core")  # type: ignore[arg-type]
    assert options.via is Via.CORE
    assert options.as_config(accounts=16).via == "core"
    with pytest.raises(
        ConfigError, match=r"unknown --via 'raw': choose one of orm, core, driver, all"
    ):
        SelectOptions(LoadPlan(2, 5), via="raw")  # type: ignore[arg-type]


def test_each_layer_is_compared_with_the_driver_in_throughput_and_time_per_select() -> None:
    section = select_section(
        1000, [_op("driver", 10_000, 0), _op("core", 2_500, 1), _op("orm", 1_000, 1)]
    )
    driver, core, orm = section.layers
    assert driver.relative_throughput == 1.0
    assert core.relative_throughput == 0.25
    assert orm.relative_throughput == 0.1
    # 1/2500 s - 1/10000 s = 300 µs; 1/1000 s - 1/10000 s = 900 µs
    assert core.added_us_per_select == pytest.approx(300.0)
    assert orm.added_us_per_select == pytest.approx(900.0)
    assert section.to_json()["layers"][2] == {
        "layer": "orm",
        "throughput_per_s": 1000.0,
        "p50_ms": 0.0,
        "mean_ms": 0.0,
        "statements_per_op": 1.0,
        "relative_throughput": 0.1,
        "added_us_per_select": 900.0,
    }


def test_without_the_driver_there_is_nothing_to_compare_with() -> None:
    section = select_section(16, [_op("orm", 800, 1)])
    (orm,) = section.layers
    assert orm.relative_throughput is None
    assert orm.added_us_per_select is None
    # The report shows the layer's own figures and a dash for the comparison.
    (_, table) = section_blocks(read_section(section.name, section.to_json()))[1:]
    assert isinstance(table, Table)
    assert [c.text for c in table.rows[0]] == ["orm", "800.0", "0.000", "0.000", "1.0", "—", "—"]
