"""Instrumentation hooked into SQLAlchemy's own events."""

from dbprobe.instrument.statements import (
    StatementRecorder,
    StatementStats,
    count_statements,
    install_statement_counter,
)

__all__ = ["StatementRecorder", "StatementStats", "count_statements", "install_statement_counter"]
