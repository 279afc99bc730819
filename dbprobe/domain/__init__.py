"""The seeded reference domain: ORM models, repositories and a Unit of Work."""

from dbprobe.domain.models import (
    Account,
    Base,
    Microcycle,
    Movement,
    Program,
    SessionExercise,
    TrainingSession,
    Transfer,
    User,
)
from dbprobe.domain.uow import UnitOfWork

__all__ = [
    "Account",
    "Base",
    "Microcycle",
    "Movement",
    "Program",
    "SessionExercise",
    "TrainingSession",
    "Transfer",
    "UnitOfWork",
    "User",
]
