"""docker-compose.yml: the PostgreSQL service and the containerised stress run agree.

The file is read with ``yaml.safe_load``; no container is started. Where the
docker client has its compose plugin, compose itself validates the file too.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from itertools import pairwise
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from dbprobe.result.options import SCALE_NAMES

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"

#: A compose interpolation dbprobe's file may use: ``${NAME}`` or ``${NAME:-default}``.
#: The default may not hold ``$`` or a line break, so an unclosed ``${A:-1`` cannot
#: borrow the ``}`` of a later ``${B}`` and pass.
INTERPOLATION = re.compile(r"\$\{[A-Z_][A-Z0-9_]*(:-[^}$\n]*)?\}")
#: ``${NAME:-default}`` with the default captured, to read the command as run by default.
_WITH_DEFAULT = re.compile(r"\$\{[A-Z_][A-Z0-9_]*:-([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def postgres(compose: dict[str, Any]) -> dict[str, Any]:
    service: dict[str, Any] = compose["services"]["postgres"]
    return service


@pytest.fixture(scope="module")
def dbprobe_service(compose: dict[str, Any]) -> dict[str, Any]:
    service: dict[str, Any] = compose["services"]["dbprobe"]
    return service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, from either compose form (mapping or KEY=VALUE list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Short-syntax volumes as {container path: source}."""
    mounts = {}
    for entry in service.get("volumes") or []:
        assert isinstance(entry, str), f"expected short volume syntax, got {entry!r}"
        source, target, *_mode = entry.split(":")
        mounts[target] = source
    return mounts


def _settings(command: list[str]) -> dict[str, str]:
    """The ``-c name=value`` pairs of a postgres command line."""
    settings = {}
    for flag, value in pairwise(command):
        if flag == "-c":
            name, _, setting = value.partition("=")
            settings[name] = setting
    return settings


def _uow_invocation(service: dict[str, Any]) -> list[str]:
    """The ``python -m dbprobe uow ...`` step of the service's shell command, as words."""
    command = service["command"]
    assert command[:2] == ["sh", "-c"], command
    steps = [step.strip() for step in command[2].split("&&")]
    runs = [step for step in steps if step.startswith("python -m dbprobe uow")]
    assert len(runs) == 1, f"expected one `python -m dbprobe uow` step in {command[2]!r}"
    return shlex.split(runs[0])


def test_postgres_runs_postgres_16_and_preloads_pg_stat_statements(
    postgres: dict[str, Any],
) -> None:
    assert postgres["image"] == "postgres:16"
    command = postgres["command"]
    assert command[0] == "postgres"
    settings = _settings(command)
    assert "pg_stat_statements" in settings["shared_preload_libraries"].split(",")
    assert settings["pg_stat_statements.track"] == "all"
    assert int(settings["max_connections"]) >= 200


def test_healthcheck_runs_pg_isready_for_the_configured_user_and_database(
    postgres: dict[str, Any],
) -> None:
    env = _environment(postgres)
    test = postgres["healthcheck"]["test"]
    assert isinstance(test, list)
    assert test[:2] == ["CMD", "pg_isready"]
    args = test[2:]
    assert args[args.index("-U") + 1] == env["POSTGRES_USER"]
    assert args[args.index("-d") + 1] == env["POSTGRES_DB"]


def test_mounted_init_sql_exists_and_creates_pg_stat_statements(postgres: dict[str, Any]) -> None:
    init_scripts = {
        target: source
        for target, source in _mounts(postgres).items()
        if target.startswith("/docker-entrypoint-initdb.d/")
    }
    assert len(init_scripts) == 1, init_scripts
    ((target, source),) = init_scripts.items()
    # The image's entrypoint runs only *.sql, *.sql.gz, *.sql.xz, *.sql.zst and *.sh.
    assert target.endswith(".sql")
    path = REPO / source
    assert path.is_file(), f"{source} is mounted but missing from the repository"
    sql = re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))
    assert re.search(r"CREATE\s+EXTENSION\s+IF\s+NOT\s+EXISTS\s+pg_stat_statements\s*;", sql, re.I)


def test_dbprobe_waits_for_postgres_to_be_healthy(dbprobe_service: dict[str, Any]) -> None:
    assert dbprobe_service["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_dbprobe_db_url_points_at_the_postgres_service(
    compose: dict[str, Any], postgres: dict[str, Any], dbprobe_service: dict[str, Any]
) -> None:
    pg_env = _environment(postgres)
    url = make_url(_environment(dbprobe_service)["DBPROBE_DB_URL"])
    assert url.drivername == "postgresql+asyncpg"
    assert url.host == "postgres"
    assert url.host in compose["services"]
    assert url.port == 5432
    assert url.username == pg_env["POSTGRES_USER"]
    assert url.password == pg_env["POSTGRES_PASSWORD"]
    assert url.database == pg_env["POSTGRES_DB"]


def test_dbprobe_command_runs_uow_with_json_into_the_mounted_reports_directory(
    dbprobe_service: dict[str, Any],
) -> None:
    words = _uow_invocation(dbprobe_service)
    assert words[:4] == ["python", "-m", "dbprobe", "uow"]
    report = PurePosixPath(words[words.index("--json") + 1])
    reports_dir = next(
        target for target, source in _mounts(dbprobe_service).items() if source == "./reports"
    )
    assert report.is_relative_to(reports_dir)
    assert report.suffix == ".json"


def test_dbprobe_command_defaults_are_valid_arguments(dbprobe_service: dict[str, Any]) -> None:
    # As compose runs it when none of DBPROBE_THREADS/DURATION/SCALE is set.
    words = [_WITH_DEFAULT.sub(r"\1", word) for word in _uow_invocation(dbprobe_service)]
    assert int(words[words.index("--threads") + 1]) >= 1
    assert float(words[words.index("--duration") + 1]) > 0
    assert words[words.index("--scale") + 1] in SCALE_NAMES


def test_published_port_binds_loopback_only(
    postgres: dict[str, Any], dbprobe_service: dict[str, Any]
) -> None:
    ports = postgres["ports"]
    assert len(ports) == 1
    match = re.fullmatch(
        r"127\.0\.0\.1:(?:\$\{DBPROBE_PG_PORT:-(?P<default>\d+)\}|\d+):5432", ports[0]
    )
    assert match, f"{ports[0]!r} does not publish 5432 on 127.0.0.1 alone"
    # Not 5432 by default, so a PostgreSQL already running on the host is left alone.
    assert match["default"] == "5433"
    assert "network_mode" not in postgres
    assert "ports" not in dbprobe_service


def _compose_plugin_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def test_compose_file_is_valid() -> None:
    if _compose_plugin_available():
        result = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return
    # Without compose, check what YAML parsing cannot: every `$` is either an
    # escaped `$$` or starts a well-formed `${NAME}` / `${NAME:-default}`.
    text = COMPOSE_FILE.read_text(encoding="utf-8").replace("$$", "")
    bad = [
        text[i : i + 30].splitlines()[0]
        for i in (m.start() for m in re.finditer(r"\$", text))
        if not INTERPOLATION.match(text, i)
    ]
    assert not bad, f"malformed interpolation: {bad}"
    assert INTERPOLATION.search(text), "expected the published port to be interpolated"


def _locust_invocation(service: dict[str, Any]) -> list[str]:
    """The ``locust ...`` step of a Locust service's shell command, as words."""
    command = service["command"]
    assert command[:2] == ["sh", "-c"], command
    steps = [step.strip() for step in command[2].split("&&")]
    (run,) = [step for step in steps if step.startswith("locust ")]
    assert any("[locust]" in step for step in steps if step.startswith("pip install"))
    return [_WITH_DEFAULT.sub(r"\1", word) for word in shlex.split(run)]


def test_the_locust_master_seeds_through_the_postgres_service_and_writes_its_report(
    compose: dict[str, Any],
) -> None:
    master = compose["services"]["locust-master"]
    assert master["depends_on"]["postgres"]["condition"] == "service_healthy"
    url = make_url(_environment(master)["DBPROBE_DB_URL"])
    assert (url.host, url.port, url.database) == ("postgres", 5432, "dbprobe")
    words = _locust_invocation(master)
    locustfile = PurePosixPath(words[words.index("-f") + 1])
    assert (REPO / "examples" / locustfile.name).is_file()
    assert {"--master", "--headless"} <= set(words)
    assert int(words[words.index("--expect-workers") + 1]) >= 1
    assert words[words.index("--dbprobe-scale") + 1] in SCALE_NAMES
    reports_dir = next(t for t, s in _mounts(master).items() if s == "./reports")
    assert PurePosixPath(words[words.index("--dbprobe-json") + 1]).is_relative_to(reports_dir)


def test_locust_workers_join_the_master_service(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    words = _locust_invocation(worker)
    assert "--worker" in words
    assert words[words.index("--master-host") + 1] == "locust-master"
    assert "locust-master" in worker["depends_on"]
    assert "ports" not in worker
