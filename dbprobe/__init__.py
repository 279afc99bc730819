"""dbprobe: asyncio database performance probes for SQLAlchemy 2 (SQLite, PostgreSQL)."""

from __future__ import annotations

from dbprobe.capture import (
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
from dbprobe.report.model import Finding, Severity

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
    "Severity",
    "assert_max_queries",
    "assert_no_n_plus_one",
    "capture",
    "classify_error",
    "count_statements",
    "install_statement_counter",
]
