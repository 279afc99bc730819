"""dbprobe: asyncio database performance probes for SQLAlchemy 2 (SQLite, PostgreSQL).

The public names below load on first use (PEP 562), so that ``python -m
dbprobe --help`` does not import SQLAlchemy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbprobe.assertions import (
        Capture,
        CapturedStatement,
        NPlusOneError,
        QueryBudgetError,
        assert_max_queries,
        assert_no_n_plus_one,
        capture,
    )
    from dbprobe.errors import DbprobeError, ErrorClass, classify_error
    from dbprobe.instrument import count_statements, install_statement_counter
    from dbprobe.metrics import LatencyHistogram, LatencySummary
    from dbprobe.probes.scenarios.declare import ScenarioContext, scenario
    from dbprobe.report.merge import merge_reports
    from dbprobe.result.findings import Finding, Severity

__all__ = [
    "Capture",
    "CapturedStatement",
    "DbprobeError",
    "ErrorClass",
    "Finding",
    "LatencyHistogram",
    "LatencySummary",
    "NPlusOneError",
    "QueryBudgetError",
    "ScenarioContext",
    "Severity",
    "assert_max_queries",
    "assert_no_n_plus_one",
    "capture",
    "classify_error",
    "count_statements",
    "install_statement_counter",
    "merge_reports",
    "scenario",
]

_HOME = {
    "Capture": "dbprobe.assertions",
    "CapturedStatement": "dbprobe.assertions",
    "DbprobeError": "dbprobe.errors",
    "ErrorClass": "dbprobe.errors",
    "Finding": "dbprobe.result.findings",
    "LatencyHistogram": "dbprobe.metrics",
    "LatencySummary": "dbprobe.metrics",
    "NPlusOneError": "dbprobe.assertions",
    "QueryBudgetError": "dbprobe.assertions",
    "Severity": "dbprobe.result.findings",
    "assert_max_queries": "dbprobe.assertions",
    "assert_no_n_plus_one": "dbprobe.assertions",
    "capture": "dbprobe.assertions",
    "classify_error": "dbprobe.errors",
    "count_statements": "dbprobe.instrument",
    "install_statement_counter": "dbprobe.instrument",
    "merge_reports": "dbprobe.report.merge",
    "scenario": "dbprobe.scenarios",
    "ScenarioContext": "dbprobe.scenarios",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'dbprobe' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
