"""Runs at several scales put together: the rows their plans read, the growth fitted, an
interrupt kept."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import random
from pathlib import Path

import pytest
from rich.console import Console

from dbprobe.errors import ConfigError
from dbprobe.probes.scaling import ScalingSection, order_scales, run_at_scales, scaling_from_json
from dbprobe.report.console import print_report
from dbprobe.report.html import render_html
from dbprobe.report.markdown import format_markdown
from dbprobe.result.findings import Finding, FindingKind, IndexEvidence, Severity
from dbprobe.result.jsonio import read_report, write_report
from dbprobe.result.model import Report
from dbprobe.result.plans import PlanNode, StatementPlan
from tests import synthetic

#: Rows of table ``items`` at each scale, and what reading them costs (ms).
ROWS = {"tiny": 1_000, "small": 25_000, "medium": 300_000}
CREATE = 'CREATE INDEX "ix_items_colour" ON "items" ("colour")'


def _cost(scale: str, operation: str, rng: random.Random) -> list[float]:
    per_call = 0.4 if operation == "by_id" else 0.4 + 50e-6 * ROWS[scale]
    return [per_call * rng.uniform(0.97, 1.03) for _ in range(100)]


def _report(scale: str, *, interrupted: bool = False) -> Report:
    rng = random.Random(scale)
    report = synthetic.report(
        {op: _cost(scale, op, rng) for op in ("by_id", "by_colour")}, scale=scale
    )
    plans = (
        StatementPlan("SELECT ... WHERE id = ?", "sqlite", "SELECT", ("by_id",),
                      (PlanNode(0, "SEARCH", False, "items", None, None, "SEARCH items"),),
                      table_rows=(("items", ROWS[scale]),)),
        StatementPlan("SELECT ... WHERE colour = ?", "sqlite", "SELECT", ("by_colour",),
                      (PlanNode(0, "SCAN", True, "items", None, None, "SCAN items"),),
                      table_rows=(("items", ROWS[scale]),)),
    )  # fmt: skip
    index = Finding(
        FindingKind.SEQ_SCAN,
        Severity.WARNING,
        "by_colour",
        "sequential scan",
        IndexEvidence(table="items", columns=("colour",), rows=ROWS[scale], create_index=CREATE,
                      fingerprints=(plans[1].fingerprint,), operations=("by_colour",),
                      plan="SCAN items"),
    )  # fmt: skip
    run = dataclasses.replace(report.run, interrupted=interrupted)
    return dataclasses.replace(report, plans=plans, findings=(index,), run=run)


@pytest.mark.asyncio
async def test_each_scale_is_run_smallest_first_and_fitted_on_the_rows_its_plans_read(
    tmp_path: Path,
) -> None:
    ran = []

    async def run(scale: str) -> Report:
        ran.append(scale)
        return _report(scale)

    report = await run_at_scales(["medium", "tiny", "small"], run, stop=asyncio.Event())
    assert ran == ["tiny", "small", "medium"]
    assert report.target.scale == "medium"
    (section,) = [s for s in report.sections if isinstance(s, ScalingSection)]
    growth = {op.name: op for op in section.operations}
    assert growth["by_id"].rows == (1_000, 25_000, 300_000)
    assert growth["by_id"].table == "items"
    assert growth["by_id"].fit is not None
    assert str(growth["by_id"].fit.growth) == "constant"
    assert growth["by_colour"].fit is not None
    assert str(growth["by_colour"].fit.growth) == "linear"
    (finding,) = [f for f in report.findings if f.kind is FindingKind.SCALES_WITH_DATA]
    assert finding.operation == "by_colour"
    assert finding.message.startswith("by_colour grows with the rows of items: linear (exponent ")
    assert (
        f"its plan: SCAN items; {CREATE} would serve it (see the index finding)" in finding.message
    )
    # The section and the finding read back from the report file, and show in every format.
    write_report(report, tmp_path / "run.json")
    again = read_report(tmp_path / "run.json")
    (raw,) = [s for s in again.sections if s.name == "scaling"]
    assert scaling_from_json(raw.to_json()) == scaling_from_json(section.to_json())
    assert [f.evidence for f in again.findings] == [f.evidence for f in report.findings]
    console = Console(record=True, width=200, file=io.StringIO())
    print_report(again, console)
    markdown = format_markdown(again)
    for text in (console.export_text(), markdown):
        assert "1,000 / 25,000 / 300,000" in text
        assert "linear" in text
    assert 'alt="p50 against the rows read, per operation, log-log' in render_html(again)


@pytest.mark.asyncio
async def test_an_interrupted_scale_keeps_what_the_finished_scales_tell() -> None:
    stop = asyncio.Event()

    async def run(scale: str) -> Report:
        if scale == "medium":
            stop.set()
            return _report(scale, interrupted=True)
        return _report(scale)

    report = await run_at_scales(["tiny", "small", "medium"], run, stop=stop)
    assert report.run.interrupted
    (section,) = [s for s in report.sections if isinstance(s, ScalingSection)]
    assert section.scales == ("tiny", "small")
    by_colour = next(op for op in section.operations if op.name == "by_colour")
    # Two scales: 0.45 and 1.65 ms, a slope of 0.40, which a constant cost per call
    # could have bent from linear or from logarithmic alike.
    assert by_colour.rows == (1_000, 25_000)
    assert by_colour.fit is not None
    assert str(by_colour.fit.growth) == "undetermined"
    assert by_colour.fit.note.endswith("add a third scale")
    assert not [f for f in report.findings if f.kind is FindingKind.SCALES_WITH_DATA]
    markdown = format_markdown(report)
    assert f"by_colour: {by_colour.fit.note}" in markdown


def test_scales_are_known_names_two_at_least_run_smallest_first() -> None:
    assert order_scales(["medium", "tiny", "tiny"]) == ("tiny", "medium")
    with pytest.raises(ConfigError, match="at least two different scales"):
        order_scales(["small", "small"])
    with pytest.raises(ConfigError, match="unknown scale 'huge'"):
        order_scales(["small", "huge"])
