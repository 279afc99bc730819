"""The ``--dbprobe-*`` options Locust takes, and the typed settings they become (pure).

Locust parses its command line (and its config files) itself; dbprobe adds
its options through the ``init_command_line_parser`` event
(:func:`add_arguments`). A master sends every custom option to its workers
with each spawn message, so a worker reads them when a test starts, not
from its own command line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbprobe.data.scales import load_scale
from dbprobe.database.engine import PoolOptions
from dbprobe.database.url import Backend, Target, resolve_target
from dbprobe.errors import ConfigError
from dbprobe.gate.slo import SloCheck, check_slo_scopes, parse_slo
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
from dbprobe.load.failures import DEFAULT_MAX_ERROR_RATE
from dbprobe.load.plan import RetryPolicy
from dbprobe.probes.uow import DEFAULT_MIX, OPERATION_NAMES, parse_mix
from dbprobe.result.config import (
    ProbeConfig,
    RepoConfig,
    RunConfig,
    ScenariosConfig,
    UowConfig,
)
from dbprobe.result.files import unwritable_reason
from dbprobe.result.findings import FindingKind

__all__ = ["PROBES", "LocustSettings", "add_arguments", "settings_from"]

#: The built-in probes a Locust user can run (the ``--dbprobe-probe`` choices).
PROBES = ("uow", "repo")


@dataclass(frozen=True)
class LocustSettings:
    """What the ``--dbprobe-*`` options asked for, validated.

    ``probe`` is the name reports and Locust's ``request_type`` carry: a
    built-in probe, or ``run`` for the scenario file ``scenarios``.
    """

    target: Target
    probe: str = "uow"
    scenarios: str | None = None
    scale: str = "small"
    seed: int = 1
    json_path: Path | None = None
    slos: tuple[SloCheck, ...] = ()
    fail_on: frozenset[FindingKind] = frozenset()
    mix: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_MIX))
    hot_set: int = 20
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    pool: PoolOptions = field(default_factory=PoolOptions)
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    n_plus_one_threshold: int = DEFAULT_THRESHOLD
    users: int = 1  # Locust's --users, all processes together
    run_time_s: float | None = None  # Locust's --run-time

    def probe_config(self, weights: Mapping[str, int]) -> ProbeConfig:
        """The report's ``config`` of this load: ``threads`` are Locust's users.

        ``weights`` are the operations' (a scenario file's, read where it is loaded).
        """
        users, duration_s, retries = self.users, self.run_time_s, self.retry.retries
        if self.scenarios is not None:
            return ScenariosConfig(
                scenarios=self.scenarios,
                weights=dict(weights),
                engine="dbprobe",
                threads=users,
                transactions=None,
                duration_s=duration_s,
                warmup_s=0.0,
                only=(),
                retries=retries,
            )
        if self.probe == "repo":
            return RepoConfig(users, None, duration_s, 0.0, only=(), retries=retries)
        return UowConfig(users, None, duration_s, 0.0, dict(self.mix), self.hot_set, retries)

    def run_config(self, weights: Mapping[str, int], checksum: str | None = None) -> RunConfig:
        return RunConfig(
            self.probe_config(weights),
            pool_size=self.pool.size,
            n_plus_one_threshold=self.n_plus_one_threshold,
            seed_checksum=checksum,
            max_error_rate=self.max_error_rate,
        )

    def check_operations(self, names: list[str]) -> None:
        """A ConfigError for an ``--dbprobe-slo`` naming none of ``names``."""
        check_slo_scopes(self.slos, names)


def add_arguments(parser: Any) -> None:
    """Add the ``--dbprobe-*`` options to Locust's parser.

    None is offered in Locust's web UI: the target was prepared (seeded) for
    them when Locust started, and the URL may hold a password.
    """

    def option(*names: str, **kwargs: Any) -> None:
        parser.add_argument(*names, include_in_web_ui=False, **kwargs)

    option(
        "--dbprobe-db",
        metavar="URL",
        default=None,
        help="the PostgreSQL to load: postgresql+asyncpg://user:password@host/db "
        "(default: $DBPROBE_DB_URL)",
    )
    option(
        "--dbprobe-probe",
        default="uow",
        metavar="PROBE",
        help=f"the built-in probe whose operations users run: {', '.join(PROBES)} (default uow)",
    )
    option(
        "--dbprobe-scenarios",
        metavar="FILE",
        default=None,
        help="run the @dbprobe.scenario functions of FILE (as `dbprobe run FILE`) instead",
    )
    option("--dbprobe-scale", default="small", help="seeded data scale (small)")
    option("--dbprobe-seed", default="1", help="seed of the data and the users (1)")
    option("--dbprobe-mix", default=None, metavar="NAME=W,...", help="uow transaction weights")
    option(
        "--dbprobe-pool-size",
        default=None,
        metavar="N",
        help="connections per Locust process (default: --users)",
    )
    option(
        "--dbprobe-json",
        metavar="PATH",
        default=None,
        help="write the merged dbprobe report (schema dbprobe.report/1) to PATH",
    )
    option(
        "--dbprobe-slo",
        action="append",
        default=[],
        metavar="EXPR",
        help="objective, repeatable: p95<100ms, error_rate<1%%, read_program:p99<20ms; "
        "a violation makes Locust exit 1",
    )
    option(
        "--dbprobe-fail-on",
        action="append",
        default=[],
        metavar="KIND",
        help="exit 1 when a finding of this kind is reported (n_plus_one, worker_lost...)",
    )
    option(
        "--dbprobe-max-error-rate",
        default="1",
        metavar="PCT",
        help="more than PCT %% of the operations giving up fails the run (default 1)",
    )


def _int(text: Any, option: str, *, least: int) -> int:
    try:
        value = int(str(text))
    except ValueError:
        raise ConfigError(f"{option} must be a whole number, got {text!r}") from None
    if value < least:
        raise ConfigError(f"{option} must be at least {least}, got {value}")
    return value


def _percent(text: Any, option: str) -> float:
    try:
        value = float(str(text).strip().removesuffix("%"))
    except ValueError:
        raise ConfigError(
            f"{option} must be a percentage such as 1 or 0.5%, got {text!r}"
        ) from None
    if not 0 <= value <= 100:
        raise ConfigError(f"{option} must be between 0 and 100, got {value:g}")
    return value / 100


def settings_from(
    options: argparse.Namespace, env: Mapping[str, str] | None = None
) -> LocustSettings:
    """The settings of Locust's parsed options; a UsageError (one line) for bad input."""
    env = os.environ if env is None else env
    target = resolve_target(getattr(options, "dbprobe_db", None), env)
    if target.backend is Backend.SQLITE:
        # aiosqlite runs each connection in a threading.Thread, which under Locust's
        # monkey-patching is a greenlet of a hub that nothing runs in the loop's thread.
        raise ConfigError(
            "dbprobe.locust needs PostgreSQL (--dbprobe-db postgresql+asyncpg://...): "
            "under Locust's gevent patching aiosqlite's thread would be a greenlet that never runs"
        )
    probe = str(options.dbprobe_probe)
    if probe not in PROBES:
        raise ConfigError(f"unknown --dbprobe-probe {probe!r}: choose one of {', '.join(PROBES)}")
    scenarios = options.dbprobe_scenarios or None
    mix_text = options.dbprobe_mix
    if mix_text is not None and (scenarios is not None or probe != "uow"):
        raise ConfigError("--dbprobe-mix weighs uow transactions: give it with --dbprobe-probe uow")
    mix = parse_mix(mix_text) if mix_text is not None else dict(DEFAULT_MIX)
    if sum(mix.values()) == 0:
        raise ConfigError(
            f"--dbprobe-mix needs a positive weight for one of {', '.join(OPERATION_NAMES)}"
        )
    json_path = Path(options.dbprobe_json) if options.dbprobe_json else None
    if json_path is not None and (why := unwritable_reason(json_path)) is not None:
        raise ConfigError(f"--dbprobe-json {json_path}: {why}")
    known = {k.value: k for k in FindingKind}
    fail_on = set()
    for kind in options.dbprobe_fail_on:
        if kind not in known:
            raise ConfigError(
                f"unknown --dbprobe-fail-on kind {kind!r}: choose from {', '.join(known)}"
            )
        fail_on.add(known[kind])
    users = getattr(options, "num_users", None) or 1
    pool_size = (
        _int(options.dbprobe_pool_size, "--dbprobe-pool-size", least=1)
        if options.dbprobe_pool_size is not None
        else max(1, int(users))
    )
    scale = load_scale(str(options.dbprobe_scale)).name  # ConfigError naming the known ones
    return LocustSettings(
        target=target,
        probe="run" if scenarios is not None else probe,
        scenarios=scenarios,
        scale=scale,
        seed=_int(options.dbprobe_seed, "--dbprobe-seed", least=0),
        json_path=json_path,
        slos=tuple(parse_slo(text) for text in options.dbprobe_slo),
        fail_on=frozenset(fail_on),
        mix=mix,
        pool=PoolOptions(size=pool_size),
        max_error_rate=_percent(options.dbprobe_max_error_rate, "--dbprobe-max-error-rate"),
        users=max(1, int(users)),
        run_time_s=float(run_time) if (run_time := getattr(options, "run_time", None)) else None,
    )
