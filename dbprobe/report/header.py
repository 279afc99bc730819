"""The facts a report's header states, where they mean something for the probe (pure).

Each report carries its target's scale, seed and isolation level, and its
workers; not each probe uses them. The isolation probe runs its own table at
each level in turn, and the pool probe only holds connections: for them the
seeded scale and a single isolation level say nothing. User scenarios that
bring their own engine seed nothing (scale ``none``), and the pytest plugin
has no workers. What means nothing is left out rather than shown as ``?``.
"""

from __future__ import annotations

from dbprobe.result.model import Report

__all__ = ["resources_line", "runtime", "target_facts", "workload_facts"]

# Probes whose figures do not depend on the seeded data (nor on the seed).
_NO_SEEDED_DATA = frozenset({"isolation", "pool"})
# Probes that run no transaction at the target's isolation level: the
# isolation probe states each level it ran in its matrix; the pool holds.
_NO_ISOLATION = frozenset({"isolation", "pool"})


def target_facts(report: Report) -> list[str]:
    """``scale tiny``, ``seed 1``, as far as the probe read the seeded data."""
    if report.run.probe in _NO_SEEDED_DATA:
        return []
    scale = report.target.scale
    facts = [f"scale {scale}"] if scale and scale != "none" else []
    return [*facts, f"seed {report.target.seed}"]


def workload_facts(report: Report) -> list[str]:
    """``4 workers``, ``isolation serializable``, where the probe has them."""
    facts = []
    threads = report.config.threads
    if threads:
        facts.append(f"{threads} worker{'s' if threads != 1 else ''}")
    isolation = report.target.isolation
    if isolation and report.run.probe not in _NO_ISOLATION:
        facts.append(f"isolation {isolation}")
    return facts


def runtime(report: Report) -> str:
    """``Python 3.11.7, uvloop``: what ran the load (the loop where the report recorded it)."""
    loop = f", {report.run.loop}" if report.run.loop is not None else ""
    return f"Python {report.run.python}{loop}"


def resources_line(report: Report) -> str:
    """What dbprobe's own processes used, and how long the run took."""
    res = report.resources
    took = f"run took {report.run.duration_s:.1f} s"
    if res.rss_mb_peak <= 0:  # not measured (the pytest plugin's report)
        return took
    loop = ""
    if res.loop_cpu_percent is not None:
        busiest = ", busiest process" if res.processes > 1 else ""
        loop = f" (event loop {res.loop_cpu_percent:.0f} % of a core{busiest})"
    return (
        f"dbprobe {'processes' if res.processes > 1 else 'process'}: "
        f"RSS {res.rss_mb_start:.0f} -> {res.rss_mb_peak:.0f} MB peak, "
        f"CPU {res.cpu_percent:.0f} %{loop}; {took}"
    )
