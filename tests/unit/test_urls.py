from __future__ import annotations

from pathlib import Path

import pytest

from dbprobe.database.url import Backend, data_dir, mask_secret, mask_url_text, resolve_target
from dbprobe.errors import DatabaseUrlError

SECRET = "pa55-w0rd-unique"


def test_default_target_is_an_sqlite_file_in_the_data_directory_not_the_cwd(tmp_path: Path) -> None:
    target = resolve_target(None, {"DBPROBE_DATA_DIR": str(tmp_path / "data")})
    assert target.backend is Backend.SQLITE
    assert target.url.drivername == "sqlite+aiosqlite"
    assert target.sqlite_path == tmp_path / "data" / "dbprobe.sqlite3"


def test_data_directory_follows_xdg_data_home_without_override(tmp_path: Path) -> None:
    assert data_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "dbprobe"


def test_environment_url_is_used_when_no_db_option_is_given() -> None:
    target = resolve_target(None, {"DBPROBE_DB_URL": "postgresql://u@db.example:6543/app"})
    assert target.backend is Backend.POSTGRESQL
    assert target.url.drivername == "postgresql+asyncpg"
    assert (target.url.host, target.url.port, target.url.database) == ("db.example", 6543, "app")


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
        ("sqlite:///x.sqlite3", "sqlite+aiosqlite"),
    ],
)
def test_plain_dialects_get_dbprobes_async_driver(given: str, driver: str) -> None:
    assert resolve_target(given, {}).url.drivername == driver


def test_relative_sqlite_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_target("sqlite:///probe.sqlite3", {}).sqlite_path == tmp_path / "probe.sqlite3"


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("not a url", "malformed database URL"),
        ("mysql+aiomysql://u@h/db", "unsupported database 'mysql'"),
        ("postgresql+psycopg2://u@h/db", r"unsupported driver postgresql\+psycopg2"),
        ("sqlite+pysqlite:///x", r"unsupported driver sqlite\+pysqlite"),
        ("sqlite://", "in-memory SQLite"),
        ("sqlite:///:memory:", "in-memory SQLite"),
        ("postgresql://u@h", "no database name"),
    ],
)
def test_unusable_urls_are_refused_with_what_to_fix(given: str, fragment: str) -> None:
    with pytest.raises(DatabaseUrlError, match=fragment):
        resolve_target(given, {})


def test_masked_url_hides_the_password() -> None:
    target = resolve_target(f"postgresql://alice:{SECRET}@h:5432/db", {})
    assert SECRET not in target.masked
    assert target.masked == "postgresql+asyncpg://alice:***@h:5432/db"


def test_error_for_a_url_without_database_does_not_show_the_password() -> None:
    with pytest.raises(DatabaseUrlError) as excinfo:
        resolve_target(f"postgresql://alice:{SECRET}@h:5432", {})
    assert SECRET not in str(excinfo.value)


def test_mask_url_text_hides_passwords_of_any_url_in_free_text() -> None:
    text = f"--db=postgresql+asyncpg://bob:{SECRET}@h/db and redis://:{SECRET}@cache:6379"
    masked = mask_url_text(text)
    assert SECRET not in masked
    assert masked == "--db=postgresql+asyncpg://bob:***@h/db and redis://:***@cache:6379"


def test_mask_secret_removes_the_targets_password_from_a_driver_message() -> None:
    target = resolve_target(f"postgresql://alice:{SECRET}@h/db", {})
    assert mask_secret(f'could not use "{SECRET}"', target) == 'could not use "***"'
