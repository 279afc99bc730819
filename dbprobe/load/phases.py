"""What a probe asks the load engine to run, and the phases it runs as.

A :class:`Workload` is either a *mix* (its operations run together, each
worker picking one by weight: uow, user scenarios) or a *catalogue* (each
operation measured on its own, so that its figures are its alone: the repo
probe's queries). A mix is one phase, cut into rounds in time; a catalogue
runs as many short phases, every entry once per round, in an order shuffled
per round (:func:`dbprobe.load.rounds.interleave`), so that no entry is
measured in one burst of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dbprobe.load.operations import Operation
from dbprobe.load.plan import LoadPlan
from dbprobe.load.rounds import interleave

__all__ = ["Phase", "Workload"]


@dataclass(frozen=True)
class Phase:
    """Operations run together under one plan (one ``run_workload``)."""

    operations: tuple[Operation, ...]
    plan: LoadPlan
    round_index: int | None = None  # a catalogue's phase: the round it belongs to


@dataclass(frozen=True)
class Workload:
    """A probe's operations, and whether each is measured alone (a catalogue) or in a mix."""

    operations: tuple[Operation, ...]
    catalogue: bool = False

    def phases(self, plan: LoadPlan, seed: int) -> tuple[Phase, ...]:
        """The phases to run under ``plan``: the same for every process of a run.

        A catalogue phase is one round of one entry: its plan has one round.
        """
        if not self.catalogue:
            return (Phase(self.operations, plan),)
        return tuple(
            Phase((self.operations[step.entry],), replace(step.plan, rounds=1), step.round_index)
            for step in interleave(len(self.operations), plan, plan.rounds, seed)
        )
