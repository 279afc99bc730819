"""Rounds: a run's measurement cut into samples that interference cannot single out.

A few hundred milliseconds of interference on a shared machine (another
process, a cron job, the CPU's frequency) shift every latency measured in
that window. If one operation is measured in one burst and the next one
after it, the burst lands on one operation only, and a test that treats its
latencies as independent samples calls the shift significant. So every
probe measures in rounds, and the regression gate takes one figure per
round as one sample (as pyperf and asv take one per process):

- a mixed workload (uow, user scenarios: the operations run together,
  picked by weight) is cut into ``rounds`` equal slices of its duration (or
  of its transactions): every operation has a figure in every slice;
- a catalogue (repo, the select probe's layers: each operation measured on
  its own) runs as ``rounds`` rounds, each running every entry for its share
  of the transactions, in an order shuffled per round with the seed
  (:func:`interleave`).

:class:`RoundRecorder` keeps each operation's latencies of each round in a
sparse histogram (a few hundred bytes) and each round's wall-clock window.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from dbprobe.load.plan import LoadPlan
from dbprobe.metrics.sparse import SparseHistogram
from dbprobe.result.model import CalibrationRound, RoundFigures

__all__ = ["CatalogueRound", "RoundRecorder", "interleave", "split_plan"]


class RoundRecorder:
    """Latencies per operation and round, and the window (ns) each round covered.

    ``round_of(started_ns, done)`` says which round an operation belongs to,
    from when it started or from how many measured operations were done
    before it (a run of so many transactions).
    """

    __slots__ = ("_ends", "_hist", "_starts", "round_of", "rounds")

    def __init__(self, operations: int, rounds: int, round_of: Callable[[int, int], int]) -> None:
        self.rounds = rounds
        self.round_of = round_of
        self._hist = [[SparseHistogram() for _ in range(rounds)] for _ in range(operations)]
        self._starts: list[int | None] = [None] * rounds
        self._ends: list[int | None] = [None] * rounds

    def record(
        self, op: int, round_index: int, started_ns: int, ended_ns: int, latency: int
    ) -> None:
        self._hist[op][round_index].record_ns(latency)
        first, last = self._starts[round_index], self._ends[round_index]
        if first is None or started_ns < first:
            self._starts[round_index] = started_ns
        if last is None or ended_ns > last:
            self._ends[round_index] = ended_ns

    def figures(
        self,
        op: int,
        duration_ns: Callable[[int, int | None, int | None], int],
        references: Mapping[int, CalibrationRound],
        cpu_waits: Mapping[int, float] | None = None,
    ) -> tuple[RoundFigures, ...]:
        """The operation's rounds: each with the duration ``duration_ns(r, first, last)``
        gives, the machine's references measured in it (``references[r]``) and
        the share of it the process's threads waited for a CPU (``cpu_waits[r]``)."""
        cpu_waits = cpu_waits or {}
        out = []
        for r, hist in enumerate(self._hist[op]):
            ns = duration_ns(r, self._starts[r], self._ends[r])
            if ns <= 0:
                continue  # a round the run never reached (it was interrupted)
            pairs = tuple((value, hist.counts[value]) for value in sorted(hist.counts))
            reference = references.get(r)
            out.append(
                RoundFigures(
                    ns / 1e9,
                    pairs,
                    reference.cpu_ms if reference else None,
                    reference.select_1_ms if reference else None,
                    cpu_waits.get(r),
                )
            )
        return tuple(out)


def split_plan(plan: LoadPlan, rounds: int) -> tuple[LoadPlan, ...]:
    """The plan of each round of a catalogue: its share of the transactions or of the duration.

    Transactions are shared out as evenly as whole numbers allow (the first
    rounds take one more); a round with none is left out. The warm-up runs
    in the first round only.
    """
    if plan.duration_s is not None:
        share = [replace(plan, duration_s=plan.duration_s / rounds) for _ in range(rounds)]
    else:
        total = plan.transactions_per_worker or 0
        counts = [total // rounds + (1 if r < total % rounds else 0) for r in range(rounds)]
        share = [replace(plan, transactions_per_worker=n) for n in counts if n > 0]
    return tuple(p if r == 0 else replace(p, warmup_s=0.0) for r, p in enumerate(share))


@dataclass(frozen=True)
class CatalogueRound:
    """One entry of a catalogue in one round: run alone, under ``plan``."""

    round_index: int
    entry: int
    plan: LoadPlan


def interleave(entries: int, plan: LoadPlan, rounds: int, seed: int) -> tuple[CatalogueRound, ...]:
    """Every entry in every round, in an order shuffled per round with ``seed``."""
    out: list[CatalogueRound] = []
    for r, share in enumerate(split_plan(plan, rounds)):
        order = list(range(entries))
        # A string seed is hashed by random.Random (SHA-512): stable across runs.
        random.Random(f"dbprobe-rounds:{seed}:{r}").shuffle(order)
        out.extend(CatalogueRound(r, entry, share) for entry in order)
    return tuple(out)
