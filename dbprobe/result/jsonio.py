"""The JSON form of a report: the one place it is produced and parsed.

Schema history:

- ``dbprobe.report/1``: first version (tool, run, target, config, operations,
  findings, resources). Keys may be added within a version; renaming or
  dropping one needs a new version.
- Added within ``dbprobe.report/1``: ``operations[].commit_histogram`` (always);
  for an open-loop run (a rate was set) ``operations[].service_latency_ms``,
  ``schedule_lag_ms``, ``late``, ``skipped``, ``unstarted``,
  ``service_histogram``, ``schedule_lag_histogram`` (absent in a closed loop,
  whose ``latency_ms`` is the service time); ``resources.loop_cpu_percent``
  and ``resources.processes``; the ``timeline`` and ``load`` sections;
  ``operations[].errors_by_class`` (when there were errors) and
  ``config.max_error_rate``; the rounds the regression gate judges:
  ``config.rounds``, ``operations[].rounds`` (each round's ``duration_s``,
  ``count``, ``p50_ms``/``p95_ms``/``p99_ms``, sparse ``histogram`` and the
  machine references ``cpu_ms`` and ``round_trip_ms`` measured in it) and
  ``calibration`` (each round's ``cpu_ms`` and ``select_1_ms``). A report
  without rounds still reads; the gate then says it can give no verdict.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dbprobe.errors import ReportFileError
from dbprobe.metrics import LatencySummary
from dbprobe.result.config import RunConfig
from dbprobe.result.findings import EVIDENCE_TYPES, Finding, FindingKind, Severity
from dbprobe.result.model import (
    CalibrationRound,
    OperationReport,
    QueryCounts,
    RawSection,
    Report,
    Resources,
    RoundFigures,
    RunInfo,
    TargetInfo,
    ToolInfo,
)

__all__ = ["SCHEMA", "read_report", "report_from_dict", "report_to_dict", "write_report"]

SCHEMA = "dbprobe.report/1"

_CORE_KEYS = frozenset(
    {
        "schema",
        "tool",
        "run",
        "target",
        "config",
        "operations",
        "findings",
        "resources",
        "calibration",
    }
)

_LATENCY_KEYS = ("min", "p50", "p90", "p95", "p99", "p999", "max", "mean", "stddev")


def _latency_to_dict(s: LatencySummary) -> dict[str, float]:
    return {key: round(getattr(s, f"{key}_ms"), 3) for key in _LATENCY_KEYS} | {"count": s.count}


def _latency_from_dict(d: Mapping[str, Any]) -> LatencySummary:
    return LatencySummary(count=int(d["count"]), **{f"{k}_ms": float(d[k]) for k in _LATENCY_KEYS})


def _operation_to_dict(op: OperationReport) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": op.name,
        "count": op.count,
        "attempts": op.attempts,
        "commits": op.commits,
        "rollbacks": op.rollbacks,
        "errors": op.errors,
        "retries": op.retries,
        "cancelled": op.cancelled,
        "error_classes": dict(op.error_classes),
        "error_samples": {k: list(v) for k, v in op.error_samples.items()},
        "latency_ms": _latency_to_dict(op.latency_ms),
        "commit_latency_ms": _latency_to_dict(op.commit_latency_ms),
        "throughput_per_s": round(op.throughput_per_s, 3),
        "queries": {
            "total": op.queries.total,
            "per_op_mean": round(op.queries.per_op_mean, 3),
            "per_op_max": op.queries.per_op_max,
        },
        "histogram": op.histogram,
        "lock_waits": op.lock_waits,
        "lock_wait_ms_total": round(op.lock_wait_ms_total, 3),
    }
    if op.commit_histogram:
        data["commit_histogram"] = op.commit_histogram
    if op.errors_by_class:
        data["errors_by_class"] = dict(op.errors_by_class)
    if op.service_latency_ms is not None:
        # Open loop: latency_ms above runs from the intended start.
        data["service_latency_ms"] = _latency_to_dict(op.service_latency_ms)
        data["schedule_lag_ms"] = _latency_to_dict(op.schedule_lag_ms or LatencySummary.empty())
        data["late"] = op.late
        data["skipped"] = op.skipped
        data["unstarted"] = op.unstarted
        data["service_histogram"] = op.service_histogram
        data["schedule_lag_histogram"] = op.schedule_lag_histogram
    if op.rounds:
        data["rounds"] = [_round_to_dict(r) for r in op.rounds]
    return data


def _round_to_dict(r: RoundFigures) -> dict[str, Any]:
    # The percentiles are derived from the histogram, written for readers of the file.
    return {
        "duration_s": round(r.duration_s, 6),
        "count": r.count,
        "p50_ms": r.percentile_ms(50.0),
        "p95_ms": r.percentile_ms(95.0),
        "p99_ms": r.percentile_ms(99.0),
        "histogram": [list(pair) for pair in r.histogram],
    } | {
        key: round(value, 4)
        for key, value in (("cpu_ms", r.cpu_ms), ("round_trip_ms", r.round_trip_ms))
        if value is not None
    }


def _round_from_dict(d: Mapping[str, Any]) -> RoundFigures:
    return RoundFigures(
        duration_s=float(d["duration_s"]),
        histogram=tuple((int(us), int(n)) for us, n in d["histogram"]),
        cpu_ms=float(d["cpu_ms"]) if d.get("cpu_ms") is not None else None,
        round_trip_ms=float(d["round_trip_ms"]) if d.get("round_trip_ms") is not None else None,
    )


def _operation_from_dict(op: Mapping[str, Any]) -> OperationReport:
    service = op.get("service_latency_ms")
    lag = op.get("schedule_lag_ms")
    return OperationReport(
        name=op["name"],
        count=int(op["count"]),
        attempts=int(op["attempts"]),
        commits=int(op["commits"]),
        rollbacks=int(op["rollbacks"]),
        errors=int(op["errors"]),
        retries=int(op["retries"]),
        cancelled=int(op["cancelled"]),
        error_classes={k: int(v) for k, v in op["error_classes"].items()},
        error_samples={k: tuple(v) for k, v in op["error_samples"].items()},
        latency_ms=_latency_from_dict(op["latency_ms"]),
        commit_latency_ms=_latency_from_dict(op["commit_latency_ms"]),
        throughput_per_s=float(op["throughput_per_s"]),
        queries=QueryCounts(
            int(op["queries"]["total"]),
            float(op["queries"]["per_op_mean"]),
            int(op["queries"]["per_op_max"]),
        ),
        histogram=op["histogram"],
        service_latency_ms=_latency_from_dict(service) if service is not None else None,
        schedule_lag_ms=_latency_from_dict(lag) if lag is not None else None,
        late=int(op.get("late", 0)),
        skipped=int(op.get("skipped", 0)),
        unstarted=int(op.get("unstarted", 0)),
        commit_histogram=str(op.get("commit_histogram", "")),
        service_histogram=str(op.get("service_histogram", "")),
        schedule_lag_histogram=str(op.get("schedule_lag_histogram", "")),
        lock_waits=int(op.get("lock_waits", 0)),
        lock_wait_ms_total=float(op.get("lock_wait_ms_total", 0.0)),
        rounds=tuple(_round_from_dict(r) for r in op.get("rounds", ())),
        errors_by_class={k: int(v) for k, v in op.get("errors_by_class", {}).items()},
    )


def _resources_to_dict(res: Resources) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rss_mb_start": round(res.rss_mb_start, 1),
        "rss_mb_peak": round(res.rss_mb_peak, 1),
        "cpu_percent": round(res.cpu_percent, 1),
    }
    if res.loop_cpu_percent is not None:
        data["loop_cpu_percent"] = round(res.loop_cpu_percent, 1)
        data["processes"] = res.processes
    return data


def report_to_dict(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "tool": {"name": report.tool.name, "version": report.tool.version},
        "run": {
            "probe": report.run.probe,
            "started_at": report.run.started_at.astimezone(dt.UTC).isoformat(),
            "duration_s": round(report.run.duration_s, 3),
            "argv": list(report.run.argv),
            "host": report.run.host,
            "python": report.run.python,
            "interrupted": report.run.interrupted,
        },
        "target": {
            "backend": report.target.backend,
            "url": report.target.url,
            "server_version": report.target.server_version,
            "scale": report.target.scale,
            "seed": report.target.seed,
            "isolation": report.target.isolation,
        },
        "config": report.config.to_json(),
        "operations": [_operation_to_dict(op) for op in report.operations],
        "findings": [
            {
                "kind": f.kind.value,
                "severity": f.severity.value,
                "operation": f.operation,
                "message": f.message,
                "evidence": f.evidence.to_json(),
            }
            for f in report.findings
        ],
        "resources": _resources_to_dict(report.resources),
    }
    if report.calibration:
        data["calibration"] = [
            {"cpu_ms": round(c.cpu_ms, 4), "select_1_ms": _rounded(c.select_1_ms)}
            for c in report.calibration
        ]
    return data | {section.name: section.to_json() for section in report.sections}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _finding_from_dict(f: Mapping[str, Any]) -> Finding:
    try:
        kind = FindingKind(f["kind"])
    except ValueError:
        raise ValueError(f"finding kind {f['kind']!r}, unknown to this dbprobe") from None
    evidence = EVIDENCE_TYPES[kind].from_json(f["evidence"])
    return Finding(kind, Severity(f["severity"]), f["operation"], f["message"], evidence)


def report_from_dict(d: Mapping[str, Any]) -> Report:
    """Parse a report dict; KeyError/TypeError/ValueError on a malformed one."""
    run, target, res = d["run"], d["target"], d["resources"]
    return Report(
        tool=ToolInfo(d["tool"]["name"], d["tool"]["version"]),
        run=RunInfo(
            probe=run["probe"],
            started_at=dt.datetime.fromisoformat(run["started_at"]),
            duration_s=float(run["duration_s"]),
            argv=tuple(run["argv"]),
            host=run["host"],
            python=run["python"],
            interrupted=bool(run.get("interrupted", False)),
        ),
        target=TargetInfo(
            backend=target["backend"],
            url=target["url"],
            server_version=target["server_version"],
            scale=target["scale"],
            seed=int(target["seed"]),
            isolation=target["isolation"],
        ),
        config=RunConfig.from_json(run["probe"], d["config"]),
        operations=tuple(_operation_from_dict(op) for op in d["operations"]),
        findings=tuple(_finding_from_dict(f) for f in d["findings"]),
        resources=Resources(
            float(res["rss_mb_start"]),
            float(res["rss_mb_peak"]),
            float(res["cpu_percent"]),
            float(res["loop_cpu_percent"]) if res.get("loop_cpu_percent") is not None else None,
            int(res.get("processes", 1)),
        ),
        sections=tuple(RawSection(k, v) for k, v in d.items() if k not in _CORE_KEYS),
        calibration=tuple(
            CalibrationRound(
                float(c["cpu_ms"]),
                float(c["select_1_ms"]) if c.get("select_1_ms") is not None else None,
            )
            for c in d.get("calibration", ())
        ),
    )


def write_report(report: Report, path: Path) -> None:
    """Write atomically: a reader never sees half a report, even if we are killed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report_to_dict(report), indent=2, sort_keys=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        # mkstemp creates the file 0600; a report is no secret (it never holds
        # a password), so give it the mode an ordinary file would get.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_report(path: Path) -> Report:
    """Read a report file; any problem is a ReportFileError naming the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportFileError(f"cannot read report {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ReportFileError(f"{path} is not a JSON report (truncated or corrupt?)") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema != SCHEMA:
        raise ReportFileError(f"{path} has schema {schema!r}; this dbprobe reads {SCHEMA!r}")
    try:
        return report_from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportFileError(
            f"{path} is a malformed {SCHEMA} report (bad or missing {exc})"
        ) from None
