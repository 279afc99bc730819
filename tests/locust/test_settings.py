"""The --dbprobe-* options as typed settings (pure), and Locust kept out of the rest of dbprobe."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from dbprobe.errors import UsageError
from dbprobe.locust.settings import add_arguments, settings_from
from dbprobe.result.config import ScenariosConfig, UowConfig
from dbprobe.result.findings import FindingKind


class _Parser(argparse.ArgumentParser):
    """Locust's parser takes include_in_web_ui; argparse's does not."""

    def add_argument(self, *args, include_in_web_ui: bool = True, **kwargs):  # type: ignore[no-untyped-def, override]
        return super().add_argument(*args, **kwargs)


def _parse(*args: str) -> argparse.Namespace:
    parser = _Parser()
    parser.add_argument("--users", dest="num_users", type=int, default=None)
    parser.add_argument("--run-time", dest="run_time", type=int, default=None)
    add_arguments(parser)
    return parser.parse_args(args)


URL = "postgresql+asyncpg://u:pw@db/x"


def test_options_become_typed_settings() -> None:
    settings = settings_from(
        _parse(
            *("--dbprobe-db", URL, "--users", "12", "--run-time", "60"),
            *("--dbprobe-mix", "read_program=2,create_program=1", "--dbprobe-slo", "p99<1s"),
            *("--dbprobe-fail-on", "n_plus_one", "--dbprobe-max-error-rate", "0.5%"),
        ),
        {},
    )
    assert settings.probe == "uow"
    assert settings.target.masked == "postgresql+asyncpg://u:***@db/x"
    assert settings.pool.size == 12  # a connection per user, by default
    assert settings.fail_on == frozenset({FindingKind.N_PLUS_ONE})
    assert settings.max_error_rate == pytest.approx(0.005)
    assert [s.text for s in settings.slos] == ["p99<1s"]
    config = settings.probe_config({})
    assert config == UowConfig(
        12,
        None,
        60.0,
        0.0,
        {"create_program": 1, "reschedule_session": 0, "read_program": 2},
        20,
        3,
    )


def test_a_scenario_file_is_the_run_probe_and_the_url_can_come_from_the_environment() -> None:
    settings = settings_from(
        _parse("--dbprobe-scenarios", "s.py"), {"DBPROBE_DB_URL": "postgresql://u@db/x"}
    )
    assert settings.probe == "run"
    config = settings.probe_config({"browse": 3})
    assert isinstance(config, ScenariosConfig)
    assert config.weights == {"browse": 3}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--dbprobe-probe", "uow", "--dbprobe-pool-size", "0"), "--dbprobe-pool-size must be at least 1, got 0"),
        (("--dbprobe-seed", "x"), "--dbprobe-seed must be a whole number, got 'x'"),
        (("--dbprobe-max-error-rate", "200"), "--dbprobe-max-error-rate must be between 0 and 100, got 200"),
        (("--dbprobe-probe", "repo", "--dbprobe-mix", "read_program=1"), "--dbprobe-mix weighs uow transactions"),
        (("--dbprobe-mix", "read_program=0"), "--dbprobe-mix needs a positive weight"),
    ],
)  # fmt: skip
def test_bad_values_are_one_line_usage_errors(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(")):
        settings_from(_parse("--dbprobe-db", URL, *args), {})


def test_an_unwritable_report_path_is_refused_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match=r"^--dbprobe-json .*file/r\.json: "):
        settings_from(
            _parse("--dbprobe-db", URL, "--dbprobe-json", str(tmp_path / "file" / "r.json")), {}
        )


def test_dbprobe_and_the_pure_parts_of_dbprobe_locust_import_neither_locust_nor_gevent() -> None:
    code = (
        "import sys, dbprobe, dbprobe.cli.commands, dbprobe.locust, dbprobe.locust.collect;"
        "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
