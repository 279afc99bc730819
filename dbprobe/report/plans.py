"""The query plans of a run (``--explain``) as rows for the Markdown and HTML reports (pure).

The console shows a plan with the finding it proves (in the finding's
message); the file reports list every statement's plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dbprobe.result.model import Report

__all__ = ["PLANS_NOTE", "PlanRow", "plan_rows"]

# A fingerprint is cut to this many characters in a table: the tables it reads
# and its WHERE are in the plan beside it.
_MAX_STATEMENT = 160

PLANS_NOTE = (
    "each distinct statement explained once after the measured run, with the parameters of "
    "its first execution"
)


@dataclass(frozen=True)
class PlanRow:
    """One statement's plan: the statement (cut), who issued it, and its nodes as lines."""

    statement: str
    operations: str
    lines: tuple[str, ...]


# A long select list says least about a statement's plan: it is elided.
_SELECT_LIST = re.compile(r"^SELECT (?:DISTINCT )?.{40,}? FROM ", re.IGNORECASE)


def _cut(text: str) -> str:
    text = _SELECT_LIST.sub("SELECT … FROM ", text, count=1)
    return text if len(text) <= _MAX_STATEMENT else text[: _MAX_STATEMENT - 1] + "…"


def plan_rows(report: Report) -> list[PlanRow]:
    """A row per explained statement, in the order the run first issued them."""
    return [
        PlanRow(
            statement=_cut(plan.fingerprint),
            operations=", ".join(plan.operations),
            lines=(f"not explained: {plan.error}",)
            if plan.error
            else tuple(node.line() for node in plan.nodes) or ("(no plan rows)",),
        )
        for plan in report.plans
    ]
