"""The benchmark page's figures: medians, ratios against the reference, verdicts (pure)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "figures.py"


@pytest.fixture(scope="module")
def figures() -> ModuleType:
    # benchmarks/ is a folder of scripts, not a package: load the module by path.
    spec = importlib.util.spec_from_file_location("benchmark_figures", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def test_a_figure_is_the_median_of_its_samples_against_the_reference_median(
    figures: ModuleType,
) -> None:
    f = figures.Figure(
        "select", "/s", (9.0, 10.0, 30.0), "bare", (20.0, 8.0, 25.0),
        figures.Target(figures.Check.RATIO_AT_LEAST, 0.95),
    )  # fmt: skip
    assert f.value == 10.0
    assert f.reference == 20.0
    assert f.ratio == 0.5
    assert f.met is False
    assert f.shortfall() == "missed by 45.0 points"


def test_each_kind_of_target_says_whether_it_held(figures: ModuleType) -> None:
    Check, Figure, Target = figures.Check, figures.Figure, figures.Target
    at_most = Figure("rss", "MB", (0.5,), target=Target(Check.VALUE_AT_MOST, 50))
    at_least = Figure("rows", "rows/s", (100_000.0,), target=Target(Check.VALUE_AT_LEAST, 200_000))
    within = Figure("p50", "ms", (5.3,), "pgbench", (5.0,), Target(Check.RATIO_WITHIN, 0.10))
    too_far = Figure("p50", "ms", (6.0,), "pgbench", (5.0,), Target(Check.RATIO_WITHIN, 0.10))
    assert (at_most.met, at_least.met, within.met, too_far.met) == (True, False, True, False)
    assert at_least.shortfall() == "missed by 100,000 rows/s (50%)"
    assert too_far.shortfall() == "off by 20.0%, 10.0 points too many"
    assert Figure("x", "s", (), target=Target(Check.VALUE_AT_MOST, 1)).met is None


def test_the_page_lists_every_target_in_the_summary_with_its_verdict(figures: ModuleType) -> None:
    target = figures.Target(figures.Check.VALUE_AT_MOST, 0.5)
    section = figures.Section(
        "startup", "Start-up", "How.", (figures.Figure("help", "s", (0.2, 0.3), target=target),)
    )
    page = figures.render(figures.Page("t", "pre", (("CPU", "x"),), (section,)))
    assert "| help | 0.25 s | - | - | < 0.5 s | met |" in page
    assert "## Start-up\n\nHow.\n" in page
    assert page.endswith("\n")
