"""The base of every finding's evidence (:mod:`dbprobe.result.findings`).

Its own module so that evidence types kept apart from findings.py (those of
query plans, :mod:`dbprobe.result.plan_evidence`) derive from it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbprobe.result.record import Record

__all__ = ["Evidence"]


@dataclass(frozen=True)
class Evidence(Record):
    """Base of every evidence type (JSON out and in: :class:`~dbprobe.result.record.Record`)."""
