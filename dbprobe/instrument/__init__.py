"""Instrumentation hooked into SQLAlchemy's own events."""

from dbprobe.instrument.statements import (
    StatementTally,
    count_statements,
    install_statement_counter,
)

__all__ = ["StatementTally", "count_statements", "install_statement_counter"]
