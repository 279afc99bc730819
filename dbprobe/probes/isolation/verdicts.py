"""The pure verdict on one run of a Hermitage test: allowed, prevented (and how), or error.

:func:`judge` turns the observations of a run into a :class:`Verdict`; it
does no I/O, so it is tested on fixed observations. Its rules, in order:

1. a step that failed for a reason other than the database protecting itself
   (not a deadlock, serialization failure or SQLite's busy write lock), or a
   labelled read showing a result no correct database can show, makes the
   verdict an *error*: the run says nothing about the isolation level;
2. the anomaly's observations, all seen, in a run where every ``commit`` of
   the script succeeded, make it *allowed* (an anomaly of a history the
   database cut short by aborting a transaction did not happen);
3. anything else is *prevented*, and the verdict says how: a transaction was
   aborted (deadlock 40P01, serialization failure 40001, SQLITE_BUSY_SNAPSHOT),
   could not take SQLite's write lock (SQLITE_BUSY), waited for a lock until
   the other transaction ended, or the reads simply never saw the anomaly.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dbprobe.probes.isolation.hermitage import AFTER, HermitageTest, Rows, format_rows, parse_rows

__all__ = ["Outcome", "PreventedBy", "StepResult", "StepStatus", "Verdict", "judge"]


class StepStatus(enum.StrEnum):
    """How a step ended."""

    OK = "ok"
    SERIALIZATION = "serialization"  # 40001, SQLITE_BUSY_SNAPSHOT: aborted by the database
    DEADLOCK = "deadlock"  # 40P01: aborted by the database
    BUSY = "busy"  # SQLite: the write lock stayed taken for the whole busy timeout
    FAILED = "failed"  # anything else: the run cannot be judged
    SKIPPED = "skipped"  # its transaction had already been aborted


@dataclass(frozen=True)
class StepResult:
    """What one step did: its status, rows (reads), and whether it waited for a lock first."""

    status: StepStatus
    rows: Rows | None = None
    blocked: bool = False
    code: str | None = None  # SQLSTATE or SQLITE_<n> of a failure
    message: str = ""


class Outcome(enum.StrEnum):
    PREVENTED = "prevented"
    ALLOWED = "allowed"
    ERROR = "error"


class PreventedBy(enum.StrEnum):
    """How the database kept the anomaly from happening."""

    ABORT = "abort"  # a transaction was aborted (deadlock, serialization failure)
    BUSY = "busy"  # SQLite: a transaction could not take the write lock
    LOCK_WAIT = "lock_wait"  # a step waited for another transaction's lock to end
    VISIBILITY = "visibility"  # reads never saw what they must not see


@dataclass(frozen=True)
class Verdict:
    """The outcome of one test at one isolation level, with a one-line explanation.

    ``step`` is the (1-based) step that decided it: the failure, the abort, the
    refused write lock, the lock wait, or the last read showing the anomaly.
    ``observations`` are the labelled reads, as ``{label: "1 => 10, 2 => 20"}``.
    """

    outcome: Outcome
    note: str
    prevented_by: PreventedBy | None = None
    step: int | None = None
    observations: Mapping[str, str] = field(default_factory=dict)

    @property
    def cell(self) -> str:
        """The matrix entry: ``prevented``, ``allowed`` or ``error: <why>``."""
        return f"error: {self.note}" if self.outcome is Outcome.ERROR else self.outcome.value


def _who(tx: str) -> str:
    return "the final read" if tx == AFTER else tx


def _at(test: HermitageTest, index: int) -> str:
    return f"step {index + 1} `{test.steps[index].sql}`"


def _saw(test: HermitageTest, label: str, rows: str) -> str:
    index = test.step_of(label)
    return f"step {index + 1}: {_who(test.steps[index].tx)} saw {rows}"


def _failure(result: StepResult) -> str:
    code = f" ({result.code})" if result.code else ""
    if result.status is StepStatus.SERIALIZATION:
        return f"serialization failure{code}"
    if result.status is StepStatus.DEADLOCK:
        return f"deadlock{code}"
    if result.status is StepStatus.BUSY:
        return f"SQLITE_BUSY, another transaction holds the write lock{code}"
    return f"{result.message or 'failed'}{code}"


def judge(test: HermitageTest, results: Sequence[StepResult]) -> Verdict:
    """Decide from a run's step results whether ``test``'s anomaly was allowed or prevented."""
    if len(results) != len(test.steps):
        raise ValueError(f"{test.name}: {len(results)} results for {len(test.steps)} steps")
    pairs = tuple(zip(test.steps, results, strict=True))
    seen = {
        step.label: result.rows
        for step, result in pairs
        if step.label is not None and result.status is StepStatus.OK and result.rows is not None
    }
    observations = {label: format_rows(rows) for label, rows in seen.items()}

    # 1. A run that went wrong for reasons of its own says nothing about isolation.
    for index, (step, result) in enumerate(pairs):
        if result.status is StepStatus.FAILED:
            return Verdict(
                Outcome.ERROR,
                f"{step.tx} failed at {_at(test, index)}: {_failure(result)}",
                step=index + 1,
                observations=observations,
            )
        if step.label in seen and seen[step.label] not in step.possible_rows:
            expected = "; ".join(format_rows(r) for r in step.possible_rows)
            return Verdict(
                Outcome.ERROR,
                f"unexpected result at {_at(test, index)}: {step.tx} saw "
                f"{format_rows(seen[step.label])}, expected one of: {expected}",
                step=index + 1,
                observations=observations,
            )

    # 2. The anomaly, in a history where every commit of the script went through.
    if all(r.status is StepStatus.OK for s, r in pairs if s.is_commit):
        for anomaly in test.anomalies:
            if all(seen.get(label) == parse_rows(rows) for label, rows in anomaly.seen.items()):
                evidence = "; ".join(
                    _saw(test, label, rows) for label, rows in anomaly.seen.items()
                )
                return Verdict(
                    Outcome.ALLOWED,
                    f"{anomaly.meaning} ({evidence})",
                    step=max(test.step_of(label) for label in anomaly.seen) + 1,
                    observations=observations,
                )

    # 3. Prevented: say how, the strongest means first.
    for statuses, by, verb in (
        ({StepStatus.SERIALIZATION, StepStatus.DEADLOCK}, PreventedBy.ABORT, "was aborted"),
        ({StepStatus.BUSY}, PreventedBy.BUSY, "could not take the write lock"),
    ):
        for index, (step, result) in enumerate(pairs):
            if result.status in statuses:
                waited = " after waiting for a lock" if result.blocked else ""
                return Verdict(
                    Outcome.PREVENTED,
                    f"{step.tx} {verb}{waited} at {_at(test, index)}: {_failure(result)}",
                    by,
                    step=index + 1,
                    observations=observations,
                )
    for index, (step, result) in enumerate(pairs):
        if result.blocked:
            return Verdict(
                Outcome.PREVENTED,
                f"{step.tx} waited for a lock at {_at(test, index)} until the other "
                "transaction ended",
                PreventedBy.LOCK_WAIT,
                step=index + 1,
                observations=observations,
            )
    shown = "; ".join(_saw(test, label, rows) for label, rows in observations.items())
    return Verdict(
        Outcome.PREVENTED,
        f"no read showed the anomaly ({shown})",
        PreventedBy.VISIBILITY,
        step=None,
        observations=observations,
    )
