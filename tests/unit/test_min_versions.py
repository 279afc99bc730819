"""CI's second run installs the oldest versions pyproject.toml allows: the list must stay those."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def _floors() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"]]
    # What CI installs: the package and its test extra (dev adds only linters).
    for extra in ("html", "test"):
        declared += [
            r for r in project["optional-dependencies"][extra] if not r.startswith("dbprobe")
        ]
    requirements = [Requirement(r) for r in declared]
    return {re.sub(r"[-_.]+", "-", r.name.lower()): r for r in requirements}


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / ".ci" / "min-versions.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name.strip().lower())] = pinned.strip()
    return pins


def test_every_dependency_is_pinned_at_its_oldest_allowed_release() -> None:
    floors, pins = _floors(), _pins()
    assert set(floors) <= set(pins)
    for name, requirement in floors.items():
        (floor,) = [s.version for s in requirement.specifier if s.operator == ">="]
        # The floor itself, or (where no release carries that exact number) the
        # first release after it: same major.minor.
        assert requirement.specifier.contains(pins[name]), name
        assert pins[name].split(".")[:2] == floor.split(".")[:2], name
