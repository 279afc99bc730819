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
  ``calibration`` (each round's ``cpu_ms``, ``select_1_ms`` and ``cpu_wait``). A report
  without rounds still reads; the gate then says it can give no verdict.
  ``plans`` (with ``--explain``): one compact plan per statement fingerprint
  (:class:`~dbprobe.result.plans.StatementPlan`), absent without it; the
  finding kinds ``unindexed_foreign_key``, ``seq_scan`` and ``sort_without_index``;
  and, with ``--scales``, the ``scaling`` section and ``scales_with_data`` findings;
  ``run.loop``, the event loop the load ran on (``asyncio`` or ``uvloop``),
  absent in reports written before it was recorded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dbprobe.errors import ReportFileError
from dbprobe.metrics import LatencyHistogram, LatencySummary
from dbprobe.result.config import RunConfig
from dbprobe.result.files import write_text_atomic
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
from dbprobe.result.plans import StatementPlan

__all__ = [
    "MALFORMED",
    "SCHEMA",
    "read_report",
    "report_from_dict",
    "report_to_dict",
    "write_report",
]

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
        "plans",
    }
)

#: What parsing a malformed report raises: a value of the wrong type or out of
#: range (``int(1e999)`` overflows, ``"str".get`` has no attribute).
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)

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
    if op.server_ms is not None:
        data["server_ms"] = round(op.server_ms, 4)
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
        for key, value in (
            ("cpu_ms", r.cpu_ms),
            ("round_trip_ms", r.round_trip_ms),
            ("cpu_wait", r.cpu_wait),
        )
        if value is not None
    }


def _round_from_dict(d: Mapping[str, Any]) -> RoundFigures:
    return RoundFigures(
        duration_s=float(d["duration_s"]),
        histogram=tuple((int(us), int(n)) for us, n in d["histogram"]),
        cpu_ms=float(d["cpu_ms"]) if d.get("cpu_ms") is not None else None,
        round_trip_ms=float(d["round_trip_ms"]) if d.get("round_trip_ms") is not None else None,
        cpu_wait=float(d["cpu_wait"]) if d.get("cpu_wait") is not None else None,
    )


def _records(d: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """``d[key]``, which must be a list of JSON objects (the operations, the findings)."""
    value = d[key]
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError(f'"{key}" must be a list of objects, got {_json_type(value)}')
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "a list holding " + ", ".join(sorted({_json_type(v) for v in value}))
    names = {dict: "an object", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _string(d: Mapping[str, Any], key: str) -> str:
    """``d[key]``, which must be a string: names are keys of dicts and sets downstream."""
    value = d[key]
    if not isinstance(value, str):
        raise ValueError(f'"{key}" must be a string, got {_json_type(value)}')
    return value


def _sections(d: Mapping[str, Any]) -> tuple[RawSection, ...]:
    """The probe's own sections: every key beyond the core ones, each a JSON object."""
    sections = []
    for key, value in d.items():
        if key in _CORE_KEYS:
            continue
        if not isinstance(value, dict):
            raise ValueError(f'section "{key}" must be an object, got {_json_type(value)}')
        sections.append(RawSection(key, value))
    return tuple(sections)


def _histogram(op: Mapping[str, Any], key: str, *, required: bool) -> str:
    """An encoded HdrHistogram of ``op``, checked now: every reader of the report decodes it.

    A corrupt one (bad base64, random bytes, ``""``, ``null``) would otherwise
    surface as a decoder's traceback in whichever command reads it first, or
    be stored as a baseline that no comparison can read.
    """
    value: object = op[key] if required else op.get(key, "")
    where = f"operation {op['name']!r}: {key}"
    if not isinstance(value, str):
        raise ValueError(f"{where} must be an encoded HdrHistogram, got {_json_type(value)}")
    if value or required:
        try:
            LatencyHistogram.decode(value)
        except Exception:  # the decoder raises binascii, zlib, struct and its own errors
            raise ValueError(f"{where} is not a valid encoded HdrHistogram") from None
    return value


def _operation_from_dict(op: Mapping[str, Any]) -> OperationReport:
    service = op.get("service_latency_ms")
    lag = op.get("schedule_lag_ms")
    open_loop = service is not None
    return OperationReport(
        name=_string(op, "name"),
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
        histogram=_histogram(op, "histogram", required=True),
        service_latency_ms=_latency_from_dict(service) if service is not None else None,
        schedule_lag_ms=_latency_from_dict(lag) if lag is not None else None,
        late=int(op.get("late", 0)),
        skipped=int(op.get("skipped", 0)),
        unstarted=int(op.get("unstarted", 0)),
        commit_histogram=_histogram(op, "commit_histogram", required=False),
        # Open loop: merging and comparing decode these too.
        service_histogram=_histogram(op, "service_histogram", required=open_loop),
        schedule_lag_histogram=_histogram(op, "schedule_lag_histogram", required=open_loop),
        lock_waits=int(op.get("lock_waits", 0)),
        lock_wait_ms_total=float(op.get("lock_wait_ms_total", 0.0)),
        rounds=tuple(_round_from_dict(r) for r in op.get("rounds", ())),
        errors_by_class={k: int(v) for k, v in op.get("errors_by_class", {}).items()},
        server_ms=float(op["server_ms"]) if op.get("server_ms") is not None else None,
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
            # Absent where unknown, so a report written before it was recorded
            # reads and writes back unchanged.
            **({"loop": report.run.loop} if report.run.loop is not None else {}),
            "interrupted": report.run.interrupted,
        },
        "target": {
            "backend": report.target.backend,
            "url": report.target.url,
            "server_version": report.target.server_version,
            "scale": report.target.scale,
            "seed": report.target.seed,
            "isolation": report.target.isolation,
            **(
                {"server_time_note": report.target.server_time_note}
                if report.target.server_time_note
                else {}
            ),
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
            # Absent where unknown, as in reports written before it was measured.
            | ({"cpu_wait": round(c.cpu_wait, 4)} if c.cpu_wait is not None else {})
            for c in report.calibration
        ]
    if report.plans:
        data["plans"] = [plan.to_json() for plan in report.plans]
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
    """Parse a report dict; KeyError, TypeError, ValueError (or another of
    :data:`MALFORMED`) on a malformed one."""
    run, target, res = d["run"], d["target"], d["resources"]
    return Report(
        tool=ToolInfo(d["tool"]["name"], d["tool"]["version"]),
        run=RunInfo(
            probe=_string(run, "probe"),
            started_at=dt.datetime.fromisoformat(run["started_at"]),
            duration_s=float(run["duration_s"]),
            argv=tuple(run["argv"]),
            host=run["host"],
            python=run["python"],
            interrupted=bool(run.get("interrupted", False)),
            loop=_string(run, "loop") if run.get("loop") is not None else None,
        ),
        target=TargetInfo(
            backend=target["backend"],
            url=target["url"],
            server_version=target["server_version"],
            scale=target["scale"],
            seed=int(target["seed"]),
            isolation=target["isolation"],
            server_time_note=target.get("server_time_note"),
        ),
        config=RunConfig.from_json(run["probe"], d["config"]),
        operations=tuple(_operation_from_dict(op) for op in _records(d, "operations")),
        findings=tuple(_finding_from_dict(f) for f in _records(d, "findings")),
        resources=Resources(
            float(res["rss_mb_start"]),
            float(res["rss_mb_peak"]),
            float(res["cpu_percent"]),
            float(res["loop_cpu_percent"]) if res.get("loop_cpu_percent") is not None else None,
            int(res.get("processes", 1)),
        ),
        sections=_sections(d),
        calibration=tuple(
            CalibrationRound(
                float(c["cpu_ms"]),
                float(c["select_1_ms"]) if c.get("select_1_ms") is not None else None,
                float(c["cpu_wait"]) if c.get("cpu_wait") is not None else None,
            )
            for c in d.get("calibration", ())
        ),
        plans=tuple(StatementPlan.from_json(p) for p in _plans(d)),
    )


def _plans(d: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The report's plans (``--explain``); none in a report written without it."""
    return _records(d, "plans") if "plans" in d else []


def write_report(report: Report, path: Path) -> None:
    """Write atomically: a reader never sees half a report, even if we are killed."""
    write_text_atomic(path, json.dumps(report_to_dict(report), indent=2, sort_keys=False) + "\n")


def read_report(path: Path) -> Report:
    """Read a report file; any problem is a ReportFileError naming the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportFileError(f"cannot read report {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ReportFileError(f"{path} is not a JSON report (truncated or corrupt?)") from None
    except RecursionError:
        # json's decoder recurses once per nesting level; no report nests this deep.
        raise ReportFileError(f"{path} is not a report: its JSON is nested too deeply") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema != SCHEMA:
        raise ReportFileError(f"{path} has schema {schema!r}; this dbprobe reads {SCHEMA!r}")
    try:
        return report_from_dict(data)
    except KeyError as exc:
        raise ReportFileError(f"{path} is a malformed {SCHEMA} report (missing {exc})") from None
    except MALFORMED as exc:
        raise ReportFileError(f"{path} is a malformed {SCHEMA} report: {exc}") from None
