"""Findings: what a run tells the user to act on, each kind with its evidence typed.

A :class:`Finding` has a :class:`FindingKind` and a frozen evidence object of
the type that kind takes (:data:`EVIDENCE_TYPES`): the numbers behind the
message, as fields. The JSON form of each evidence type is produced and
parsed by the record itself (``to_json``/``from_json``), with exactly the
keys reports of schema ``dbprobe.report/1`` have always carried: a key
written only when it has a value is listed in the type's ``_OPTIONAL``.

A new finding kind is one member of :class:`FindingKind` and one evidence
dataclass registered in :data:`EVIDENCE_TYPES`.

Standard library only (with :mod:`dbprobe.result.record`): the command line
offers the kinds in ``--fail-on`` without importing anything heavier.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Self

from dbprobe.result.evidence import Evidence
from dbprobe.result.plan_evidence import GrowthEvidence, IndexEvidence, PlanChangeEvidence

__all__ = [
    "EVIDENCE_TYPES",
    "AnomalyEvidence",
    "DeadlockEvidence",
    "ErrorRateEvidence",
    "Evidence",
    "Finding",
    "FindingKind",
    "GeneratorSaturatedEvidence",
    "GrowthEvidence",
    "IndexEvidence",
    "LeakedConnectionEvidence",
    "LostUpdateEvidence",
    "MergeWindowEvidence",
    "MissingGreenletEvidence",
    "NPlusOneEvidence",
    "NoEvidence",
    "PoolExhaustionEvidence",
    "RateNotMetEvidence",
    "RegressionEvidence",
    "ServiceInterruptionEvidence",
    "Severity",
    "SloViolationEvidence",
    "TalliedEvidence",
    "UnusedEagerLoadEvidence",
    "WorkerLostEvidence",
    "calls_suffix",
]


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for the most severe: findings are listed most severe first."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


class FindingKind(enum.StrEnum):
    """Every kind of finding dbprobe reports; the ``kind`` key of a report's findings."""

    N_PLUS_ONE = "n_plus_one"
    UNUSED_EAGER_LOAD = "unused_eager_load"
    MISSING_GREENLET = "missing_greenlet"
    LEAKED_CONNECTION = "leaked_connection"
    POOL_EXHAUSTION = "pool_exhaustion"
    DEADLOCK = "deadlock"
    LOST_UPDATE = "lost_update"
    ANOMALY = "anomaly"
    ISOLATION_TEST_ERROR = "isolation_test_error"
    SLO_VIOLATION = "slo_violation"
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    GENERATOR_SATURATED = "generator_saturated"
    SERVICE_INTERRUPTION = "service_interruption"
    MERGE_WINDOW_MISMATCH = "merge_window_mismatch"
    TEARDOWN_FAILED = "teardown_failed"
    ERROR_RATE = "error_rate"
    RATE_NOT_MET = "rate_not_met"
    UNINDEXED_FOREIGN_KEY = "unindexed_foreign_key"
    SEQ_SCAN = "seq_scan"
    SORT_WITHOUT_INDEX = "sort_without_index"
    PLAN_CHANGED = "plan_changed"
    SCALES_WITH_DATA = "scales_with_data"
    WORKER_LOST = "worker_lost"


def calls_suffix(occurrences: int, operations_checked: int) -> str:
    """What a tallied finding's message ends with: in how many of the calls checked it was seen."""
    return f" (in {occurrences} of {operations_checked} calls)"


@dataclass(frozen=True, kw_only=True)
class TalliedEvidence(Evidence):
    """Evidence of a pattern seen in some executions of an operation, counted once.

    ``occurrences`` of ``operations_checked`` calls showed it; both are None
    where one block was captured (the pytest fixtures, ``dbprobe.capture``).
    """

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"occurrences", "operations_checked"})

    occurrences: int | None = None
    operations_checked: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        # The tallies come last, after what the pattern is, as reports have always had them.
        for key in ("occurrences", "operations_checked", "max_executions"):
            if key in data:
                data[key] = data.pop(key)
        return data

    @property
    def pattern(self) -> str:
        """What makes two findings of one kind the same pattern (a fingerprint, a relationship)."""
        raise NotImplementedError

    @property
    def tallied(self) -> bool:
        return self.occurrences is not None and self.operations_checked is not None

    def tally(self, occurrences: int, operations_checked: int, max_executions: int) -> Self:
        """This evidence counted over many calls (``max_executions`` where the kind keeps it)."""
        return replace(self, occurrences=occurrences, operations_checked=operations_checked)

    def combined(self, other: TalliedEvidence) -> Self:
        """The tallies of two parts that saw the same pattern, added."""
        return replace(
            self,
            occurrences=(self.occurrences or 0) + (other.occurrences or 0),
            operations_checked=(self.operations_checked or 0) + (other.operations_checked or 0),
        )

    def suffix(self) -> str:
        """What the message of a tallied finding ends with ("" before it is tallied)."""
        if self.occurrences is None or self.operations_checked is None:
            return ""
        return calls_suffix(self.occurrences, self.operations_checked)


@dataclass(frozen=True, kw_only=True)
class NPlusOneEvidence(TalliedEvidence):
    """The repeated SELECT: its fingerprint, how often it ran, and the fix.

    ``relationship`` is the lazy-loaded (or write-only) relationship it served,
    when SQLAlchemy said so; ``location`` the user's code that issued it.
    ``columns`` (``Class.attribute``) are what a column load fetched, and
    ``column_load`` why the rows lacked them: ``deferred``, ``subclass`` (a
    joined-inheritance subclass's own table) or ``expired`` (by a commit).
    ``max_executions`` is the most executions in one call, once tallied.
    """

    _OPTIONAL: ClassVar[frozenset[str]] = TalliedEvidence._OPTIONAL | {
        "max_executions",
        "columns",
        "column_load",
    }

    fingerprint: str
    executions: int
    distinct_parameters: int
    relationship: str | None
    suggestion: str
    location: str | None
    time_ms: float
    max_executions: int | None = None
    columns: tuple[str, ...] | None = None
    column_load: str | None = None

    @property
    def pattern(self) -> str:
        return self.fingerprint

    def tally(self, occurrences: int, operations_checked: int, max_executions: int) -> Self:
        counted = super().tally(occurrences, operations_checked, max_executions)
        return replace(counted, max_executions=max_executions)

    def combined(self, other: TalliedEvidence) -> Self:
        both = super().combined(other)
        mine = self.max_executions or 0
        theirs = other.max_executions if isinstance(other, NPlusOneEvidence) else None
        return replace(both, max_executions=max(mine, theirs or 0))


@dataclass(frozen=True, kw_only=True)
class UnusedEagerLoadEvidence(TalliedEvidence):
    """A relationship loaded eagerly and never read, and the option to remove;
    ``location`` the user's line whose query loaded it, when known."""

    _OPTIONAL: ClassVar[frozenset[str]] = TalliedEvidence._OPTIONAL | {"location"}

    relationship: str
    suggestion: str
    location: str | None = None

    @property
    def pattern(self) -> str:
        return self.relationship


@dataclass(frozen=True, kw_only=True)
class MissingGreenletEvidence(TalliedEvidence):
    """A lazy load under AsyncSession (MissingGreenlet): what it loaded, if known, and the fix.

    ``relationship`` for a relationship load; ``columns`` and ``column_load``
    (as in :class:`NPlusOneEvidence`) for a column load; ``location`` the
    user's line that read the attribute.
    """

    _OPTIONAL: ClassVar[frozenset[str]] = TalliedEvidence._OPTIONAL | {
        "columns",
        "column_load",
        "location",
    }

    relationship: str | None
    suggestion: str
    columns: tuple[str, ...] | None = None
    column_load: str | None = None
    location: str | None = None

    @property
    def pattern(self) -> str:
        if self.relationship is None and self.columns:
            return ", ".join(self.columns)
        return str(self.relationship)


@dataclass(frozen=True)
class LeakedConnectionEvidence(Evidence):
    """A connection never returned to the pool: where it was checked out, for how long."""

    location: str | None
    held_ms: float | None
    reclaimed_by_gc: bool
    still_checked_out: bool


@dataclass(frozen=True)
class PoolExhaustionEvidence(Evidence):
    """Checkouts that timed out, and the pool, demand and capacity that explain them.

    ``pg_stat_activity``: the probe's own server sessions at the first timeout
    (PostgreSQL), or ``pg_stat_activity_error`` when they could not be read.
    """

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"pg_stat_activity", "pg_stat_activity_error"})

    timeouts: int
    checkout_attempts: int
    pool_size: int
    max_overflow: int
    pool_timeout_s: float
    peak_checked_out: int
    peak_demand: int
    hold_ms_mean: float
    checkout_wait_ms_max: float
    capacity_per_s: float | None
    measured_per_s: float
    waits_began_at_demand: int | None
    timeouts_began_at_demand: int | None
    pg_stat_activity: tuple[Mapping[str, Any], ...] | None = None
    pg_stat_activity_error: str | None = None


@dataclass(frozen=True)
class DeadlockEvidence(Evidence):
    """A run's deadlocks: how many, per transfer, and the server's DETAIL.

    ``retries`` and ``give_ups`` count the transfers retried or given up after a
    deadlock, and only those.
    """

    deadlocks: int
    transfers: int
    deadlock_rate: float
    retries: int
    give_ups: int
    lock_order: str
    details: tuple[str, ...]


@dataclass(frozen=True)
class LostUpdateEvidence(Evidence):
    """The ledger check that failed: sums, accounts that disagree, cents lost.

    ``mismatches`` are a sample of the accounts that disagree, each as
    ``{account_id, before_cents, expected_cents, actual_cents, difference_cents}``.
    """

    holds: bool
    sum_before: int
    sum_after: int
    sum_drift_cents: int
    accounts_checked: int
    accounts_mismatched: int
    amount_lost_cents: int
    transfers_checked: int
    transfers_committed: int | None
    transfers_affected: int
    mismatches: tuple[Mapping[str, int], ...]
    pattern: str
    isolation: str


@dataclass(frozen=True)
class AnomalyEvidence(Evidence):
    """An isolation test at one level: its title and the labelled reads it saw."""

    level: str
    test: str
    title: str
    observations: Mapping[str, str]


@dataclass(frozen=True)
class SloViolationEvidence(Evidence):
    """The objective broken, the figure measured and the threshold."""

    slo: str
    metric: str
    value: float
    threshold: float


@dataclass(frozen=True)
class RegressionEvidence(Evidence):
    """One operation against its baseline: the values, the ratio, its interval and test.

    ``level`` (minor, warning, critical) only for a regression.
    """

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"level", "baseline_rounds", "current_rounds"})

    metric: str
    baseline: float
    current: float
    unit: str
    ratio: float
    ci: tuple[float, float] | None
    p_value: float
    baseline_count: int
    current_count: int
    baseline_run: str
    level: str | None = None
    # The samples the verdict rests on (absent from reports of an earlier gate).
    baseline_rounds: int | None = None
    current_rounds: int | None = None


@dataclass(frozen=True)
class GeneratorSaturatedEvidence(Evidence):
    """The load generator's own effort: event-loop CPU and lag, how late free workers woke up.

    The loop-lag figures are absent from reports written before the lag was measured.
    """

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"loop_lag_p50_ms", "loop_lag_p99_ms", "loop_lag_threshold_ms"}
    )

    loop_cpu_percent: float
    cpu_threshold_percent: float
    wakeups: int
    wakeup_lag_p50_ms: float
    wakeup_lag_p99_ms: float
    wakeup_lag_max_ms: float
    wakeup_lag_threshold_ms: float
    processes: int
    loop_lag_p50_ms: float | None = None
    loop_lag_p99_ms: float | None = None
    loop_lag_threshold_ms: float | None = None


@dataclass(frozen=True)
class ServiceInterruptionEvidence(Evidence):
    """When operations failed (seconds into the run), and when service came back (None: never)."""

    failed: int
    from_s: float
    to_s: float
    back_by_s: float | None
    connection_errors: int


@dataclass(frozen=True)
class ErrorRateEvidence(Evidence):
    """Operations that gave up, against the limit, and what failed most.

    Rates are fractions (0.01 is 1 %). ``error_classes`` and ``operations``
    hold the give-ups of the classes and operations that failed most, most
    first; ``first_error`` is the first message of the top class.
    ``excluded_classes`` are what the probe provokes on purpose and reports in
    its own finding (the deadlock probe's deadlocks): not counted here.
    """

    errors: int
    finished: int
    error_rate: float
    max_error_rate: float
    error_classes: Mapping[str, int]
    operations: Mapping[str, int]
    first_error: str | None
    excluded_classes: tuple[str, ...]


@dataclass(frozen=True)
class RateNotMetEvidence(Evidence):
    """A fixed-rate run that applied less load than asked for, and why it likely did.

    ``rate_per_s`` is ``--rate`` (the profile's peak); ``target_per_s`` the rate
    the schedule asked for over the measured window, ``achieved_per_s`` the
    rate at which workers started arrivals. ``waited_for_worker`` counts the
    arrivals already late when a worker took them. ``cause`` is
    ``event_loop`` (add ``--processes``), ``workers_busy`` (add ``--threads``)
    or ``database`` (the database was slower than the rate).
    """

    rate_per_s: float
    target_per_s: float
    achieved_per_s: float
    arrivals: int
    started: int
    skipped: int
    unstarted: int
    waited_for_worker: int
    workers: int
    wakeup_lag_p50_ms: float
    loop_cpu_percent: float
    cause: str


@dataclass(frozen=True)
class MergeWindowEvidence(Evidence):
    """How long merged reports were measured together, against the shortest of them."""

    common_window_s: float
    shortest_s: float


@dataclass(frozen=True)
class WorkerLostEvidence(Evidence):
    """A Locust worker that stopped reporting before the end (:mod:`dbprobe.locust`).

    ``worker`` is Locust's id of it (host and a uuid), ``pid`` its process;
    ``operations`` the operations its last report counted, which the merged
    report keeps; ``last_report_unix_s`` when that report arrived.
    """

    worker: str
    host: str
    pid: int
    operations: int
    last_report_unix_s: float


@dataclass(frozen=True)
class NoEvidence(Evidence):
    """A finding whose message says it all (a failed teardown, with its traceback line)."""


#: The evidence type each kind of finding carries.
EVIDENCE_TYPES: Mapping[FindingKind, type[Evidence]] = {
    FindingKind.N_PLUS_ONE: NPlusOneEvidence,
    FindingKind.UNUSED_EAGER_LOAD: UnusedEagerLoadEvidence,
    FindingKind.MISSING_GREENLET: MissingGreenletEvidence,
    FindingKind.LEAKED_CONNECTION: LeakedConnectionEvidence,
    FindingKind.POOL_EXHAUSTION: PoolExhaustionEvidence,
    FindingKind.DEADLOCK: DeadlockEvidence,
    FindingKind.LOST_UPDATE: LostUpdateEvidence,
    FindingKind.ANOMALY: AnomalyEvidence,
    FindingKind.ISOLATION_TEST_ERROR: AnomalyEvidence,
    FindingKind.SLO_VIOLATION: SloViolationEvidence,
    FindingKind.REGRESSION: RegressionEvidence,
    FindingKind.IMPROVEMENT: RegressionEvidence,
    FindingKind.GENERATOR_SATURATED: GeneratorSaturatedEvidence,
    FindingKind.SERVICE_INTERRUPTION: ServiceInterruptionEvidence,
    FindingKind.MERGE_WINDOW_MISMATCH: MergeWindowEvidence,
    FindingKind.TEARDOWN_FAILED: NoEvidence,
    FindingKind.ERROR_RATE: ErrorRateEvidence,
    FindingKind.RATE_NOT_MET: RateNotMetEvidence,
    FindingKind.UNINDEXED_FOREIGN_KEY: IndexEvidence,
    FindingKind.SEQ_SCAN: IndexEvidence,
    FindingKind.SORT_WITHOUT_INDEX: IndexEvidence,
    FindingKind.PLAN_CHANGED: PlanChangeEvidence,
    FindingKind.SCALES_WITH_DATA: GrowthEvidence,
    FindingKind.WORKER_LOST: WorkerLostEvidence,
}


@dataclass(frozen=True)
class Finding:
    """Something the user should act on, with the numbers behind it.

    Raises TypeError when ``evidence`` is not of the type ``kind`` carries.
    """

    kind: FindingKind
    severity: Severity
    operation: str | None
    message: str
    evidence: Evidence = NoEvidence()

    def __post_init__(self) -> None:
        expected = EVIDENCE_TYPES[self.kind]
        if type(self.evidence) is not expected:
            raise TypeError(
                f"a {self.kind.value} finding carries {expected.__name__}, "
                f"not {type(self.evidence).__name__}"
            )

    @property
    def location(self) -> str | None:
        """Where the user's code issued what the finding is about (``path:line``), when known."""
        evidence = self.evidence
        if isinstance(evidence, NPlusOneEvidence | LeakedConnectionEvidence):
            return evidence.location
        if isinstance(evidence, MissingGreenletEvidence | UnusedEagerLoadEvidence):
            return evidence.location
        return None

    def tallied(self, occurrences: int, operations_checked: int, max_executions: int) -> Finding:
        """This finding counted over many calls: evidence tallied, message saying in how many."""
        if not isinstance(self.evidence, TalliedEvidence):
            raise TypeError(f"{self.kind.value} findings are not tallied")
        return replace(
            self,
            message=self.message + calls_suffix(occurrences, operations_checked),
            evidence=self.evidence.tally(occurrences, operations_checked, max_executions),
        )

    def combined(self, other: Finding) -> Finding:
        """Two parts' tallied findings of one pattern as one, their counts added.

        The message keeps its text and says the new counts: no message is parsed.
        """
        mine, theirs = self.evidence, other.evidence
        if not isinstance(mine, TalliedEvidence) or not isinstance(theirs, TalliedEvidence):
            raise TypeError(f"{self.kind.value} findings are not tallied")
        both = mine.combined(theirs)
        base = self.message.removesuffix(mine.suffix())
        return replace(self, message=base + both.suffix(), evidence=both)
