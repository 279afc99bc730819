"""``dbprobe suite``: every probe at one scale against one target, one combined result.

A probe takes part by being an entry of :data:`SUITE_PROBES` — a name and a
coroutine function that runs it with the suite's settings and returns its
Report. The pool, deadlock and isolation probes join by adding their entry.

The suite writes, into one directory: each probe's report (``<probe>.json``,
schema ``dbprobe.report/1``), ``suite.md`` (a pull-request comment),
``suite.html`` (one self-contained page), ``pytest-benchmark.json`` and
``benchmark-custom.json`` (github-action-benchmark ``pytest`` and
``customSmallerIsBetter`` inputs). Baselines of a suite are one per probe,
saved as ``NAME/<probe>``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dbprobe.errors import ConfigError
from dbprobe.gate.decide import GateSettings, GateVerdict, judge, worst_exit_status
from dbprobe.gate.store import BaselineInfo, HistoryStore
from dbprobe.gate.thresholds import Metric
from dbprobe.gate.trend import trends_for
from dbprobe.load.harness import ProbeHooks, TargetOptions
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.probes import uow
from dbprobe.probes.repo.probe import run_repo
from dbprobe.probes.uow import run_uow
from dbprobe.report.exports import custom_smaller_is_better, pytest_benchmark_json, write_export
from dbprobe.report.html import render_suite_html
from dbprobe.report.markdown import format_suite_markdown
from dbprobe.report.view import ReportView
from dbprobe.result.files import write_text_atomic
from dbprobe.result.jsonio import write_report
from dbprobe.result.model import Report

__all__ = [
    "SUITE_PROBES",
    "FileWriter",
    "SuiteFiles",
    "SuiteProbe",
    "SuiteSettings",
    "SuiteVerdict",
    "judge_suite",
    "run_suite",
    "save_suite_baseline",
    "suite_baseline_name",
    "suite_file_names",
    "write_suite",
]


@dataclass(frozen=True)
class SuiteSettings:
    """How much load each probe of the suite gets.

    Attributes:
        threads: concurrent workers of the load probes (uow).
        duration_s: measured seconds per load probe (uow).
        warmup_s: unrecorded seconds before each load probe measures.
        repo_transactions: calls of each repo catalogue entry (one worker, as
            the repo probe runs by default: the entries are measured alone).
        retries: retries of retryable failures.
    """

    threads: int = 4
    duration_s: float = 5.0
    warmup_s: float = 1.0
    repo_transactions: int = 50
    retries: int = 3

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")
        if self.duration_s <= 0:
            raise ConfigError(f"--duration must be positive, got {self.duration_s:g}")
        if self.warmup_s < 0:
            raise ConfigError(f"--warmup must be 0 or more, got {self.warmup_s:g}")
        if self.repo_transactions < 1:
            raise ConfigError(
                f"--repo-transactions must be at least 1, got {self.repo_transactions}"
            )


ProbeRun = Callable[[TargetOptions, SuiteSettings, asyncio.Event, ProbeHooks], Awaitable[Report]]


@dataclass(frozen=True)
class SuiteProbe:
    """One probe of the suite: its name and how the suite runs it."""

    name: str
    run: ProbeRun


async def _uow(
    options: TargetOptions, s: SuiteSettings, stop: asyncio.Event, hooks: ProbeHooks
) -> Report:
    probe = uow.UowOptions(
        plan=LoadPlan(s.threads, None, s.duration_s, s.warmup_s),
        retry=RetryPolicy(retries=s.retries),
    )
    return await run_uow(options, probe, stop=stop, hooks=hooks, argv=("dbprobe", "suite"))


async def _repo(
    options: TargetOptions, s: SuiteSettings, stop: asyncio.Event, hooks: ProbeHooks
) -> Report:
    return await run_repo(
        options,
        LoadPlan(1, s.repo_transactions, None, 0.0),
        retry=RetryPolicy(retries=s.retries),
        stop=stop,
        hooks=hooks,
        argv=("dbprobe", "suite"),
    )


#: The probes ``dbprobe suite`` runs, in order.
SUITE_PROBES: tuple[SuiteProbe, ...] = (SuiteProbe("uow", _uow), SuiteProbe("repo", _repo))


async def run_suite(
    options: TargetOptions,
    settings: SuiteSettings | None = None,
    *,
    probes: Sequence[SuiteProbe] = SUITE_PROBES,
    only: Sequence[str] = (),
    stop: asyncio.Event | None = None,
    hooks: ProbeHooks | None = None,
) -> tuple[Report, ...]:
    """Run each probe (or those named in ``only``) in turn; their reports, in order.

    An interrupt (``stop``) ends the probe running and skips the rest; the
    reports so far are returned, the last one marked interrupted.
    """
    settings = settings or SuiteSettings()
    stop = stop or asyncio.Event()
    known = [p.name for p in probes]
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ConfigError(f"unknown probe {unknown[0]!r} for the suite; it runs {', '.join(known)}")
    reports: list[Report] = []
    for probe in probes:
        if only and probe.name not in only:
            continue
        report = await probe.run(options, settings, stop, hooks or ProbeHooks())
        reports.append(report)
        if report.run.interrupted or stop.is_set():
            break
    return tuple(reports)


def suite_baseline_name(name: str, probe: str) -> str:
    """The baseline of one probe of suite baseline ``name``: ``NAME/<probe>``."""
    return f"{name}/{probe}"


def save_suite_baseline(
    store: HistoryStore, name: str, reports: Sequence[Report]
) -> tuple[BaselineInfo, ...]:
    """Save each report as ``NAME/<probe>``."""
    return tuple(store.save_baseline(suite_baseline_name(name, r.run.probe), r) for r in reports)


@dataclass(frozen=True)
class SuiteVerdict:
    """A suite's runs judged: each run's view, the verdicts of those that had a baseline.

    ``exit_status`` is 1 when any probe regressed at or above the gate's level.
    """

    views: tuple[ReportView, ...]
    verdicts: tuple[GateVerdict, ...]

    @property
    def exit_status(self) -> int:
        return worst_exit_status(self.verdicts)


def judge_suite(
    reports: Sequence[Report],
    *,
    store: HistoryStore | None = None,
    baseline: str | None = None,
    with_history: bool = False,
    settings: GateSettings | None = None,
) -> SuiteVerdict:
    """Each report judged against ``baseline/<probe>`` (:func:`dbprobe.gate.decide.judge`),
    with its recorded trends when ``with_history``."""
    settings = settings or GateSettings()
    if (baseline or with_history) and store is None:
        store = HistoryStore()
    views, verdicts = [], []
    for report in reports:
        trends = trends_for(store, report, settings.metric) if with_history and store else ()
        if baseline is None:
            views.append(ReportView(report, trends=tuple(trends)))
            continue
        name = suite_baseline_name(baseline, report.run.probe)
        verdict = judge(report, name, store=store, settings=settings)
        verdicts.append(verdict)
        views.append(ReportView(report, verdict.baseline, verdict.comparison, tuple(trends)))
    return SuiteVerdict(tuple(views), tuple(verdicts))


@dataclass(frozen=True)
class SuiteFiles:
    """Where :func:`write_suite` put each format (some may have failed: see its ``write_file``)."""

    reports: tuple[Path, ...]
    markdown: Path
    html: Path | None
    pytest_benchmark: Path
    custom: Path

    def __iter__(self) -> Iterator[Path]:
        yield from self.reports
        yield self.markdown
        if self.html is not None:
            yield self.html
        yield self.pytest_benchmark
        yield self.custom


def suite_file_names(probes: Sequence[str], *, html: bool = True) -> SuiteFiles:
    """The names of the files a suite of ``probes`` writes (relative to its directory)."""
    return SuiteFiles(
        reports=tuple(Path(f"{probe}.json") for probe in probes),
        markdown=Path("suite.md"),
        html=Path("suite.html") if html else None,
        pytest_benchmark=Path("pytest-benchmark.json"),
        custom=Path("benchmark-custom.json"),
    )


#: ``write_file(path, write)`` writes one file of the suite by calling ``write(path)``
#: (what it returns is not used).
FileWriter = Callable[[Path, Callable[[Path], None]], object]


def _write_now(path: Path, write: Callable[[Path], None]) -> None:
    write(path)


def write_suite(
    views: Sequence[ReportView],
    out_dir: Path,
    *,
    html: bool = True,
    metric: Metric = Metric.P50,
    write_file: FileWriter = _write_now,
) -> SuiteFiles:
    """Write every format of a suite's result into ``out_dir`` (created if needed).

    ``html=False`` skips the HTML page (it needs matplotlib). Each file is
    written through ``write_file``: the command line's keeps a failure and
    goes on with the next file; the default raises it.
    """
    out_dir = Path(out_dir)
    reports = [v.report for v in views]
    names = suite_file_names([r.run.probe for r in reports], html=html)
    report_paths = tuple(out_dir / name for name in names.reports)
    for report, path in zip(reports, report_paths, strict=True):
        write_file(path, functools.partial(write_report, report))
    markdown = out_dir / names.markdown
    write_file(markdown, lambda p: write_text_atomic(p, format_suite_markdown(views)))
    html_path = None
    if names.html is not None:
        html_path = out_dir / names.html
        write_file(html_path, lambda p: write_text_atomic(p, render_suite_html(views)))
    pytest_path = out_dir / names.pytest_benchmark
    write_file(pytest_path, lambda p: write_export(p, pytest_benchmark_json(reports)))
    custom_metric = metric if metric.quantile is not None else Metric.P50
    custom_path = out_dir / names.custom
    write_file(
        custom_path,
        lambda p: write_export(p, custom_smaller_is_better(reports, metric=custom_metric)),
    )
    return SuiteFiles(report_paths, markdown, html_path, pytest_path, custom_path)
