"""User scenarios, the public face: ``@dbprobe.scenario`` and what a scenario receives.

A scenario file (``dbprobe run path/to/scenarios.py``) marks async functions
with :func:`scenario`; each call gets a :data:`ScenarioContext`. How files
are found, imported and checked is :mod:`dbprobe.probes.scenarios.declare`;
how they run under load, :mod:`dbprobe.probes.scenarios.probe`.
"""

from __future__ import annotations

from dbprobe.probes.scenarios.declare import (
    Scenario,
    ScenarioContext,
    ScenarioSet,
    load_scenarios,
    scenario,
)

__all__ = ["Scenario", "ScenarioContext", "ScenarioSet", "load_scenarios", "scenario"]
