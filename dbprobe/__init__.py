"""dbprobe: asyncio database performance probes for SQLAlchemy 2 (SQLite, PostgreSQL)."""

from __future__ import annotations

from dbprobe.errors import DbprobeError, ErrorClass, classify_error
from dbprobe.instrument import count_statements, install_statement_counter
from dbprobe.metrics import LatencyHistogram, LatencySummary

__all__ = [
    "DbprobeError",
    "ErrorClass",
    "LatencyHistogram",
    "LatencySummary",
    "classify_error",
    "count_statements",
    "install_statement_counter",
]
