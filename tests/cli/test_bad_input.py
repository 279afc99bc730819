"""Bad input to the CLI: one line on stderr that says what to fix, exit 2, never the password.

Every case runs ``python -m dbprobe`` as a subprocess, as a user would, with the
default SQLite file kept in a temporary data directory and ``$DBPROBE_DB_URL``
removed. Every database URL carries the same unique password, which must appear
in neither stdout nor stderr.

The wrong-password and silent-server cases talk to tiny fake servers started
here: the real PostgreSQL of the test suite uses trust authentication, so it
accepts any password.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dbprobe.database.url import Target
from tests.cli import run_dbprobe

PASSWORD = "s3cr3t-Pa55-xyz"
RUN = ["--transactions", "1", "--threads", "1", "--quiet"]
#: A PostgreSQL URL nobody listens on: if an option error were not caught before
#: connecting, the run would fail fast with "connection refused" instead.
REFUSED_URL = f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:1/test"

_SSL_REQUEST_CODE = 80877103
_AUTH_CLEARTEXT_PASSWORD = 3


def run_cli(
    args: list[str], data_dir: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return run_dbprobe(args, data_dir, data_dir=data_dir, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 2, one ``dbprobe...`` line on stderr containing every ``expected`` text."""
    shown = f"exit {result.returncode}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    assert PASSWORD not in result.stdout, shown
    assert PASSWORD not in result.stderr, shown
    assert "Traceback" not in result.stderr, shown
    assert result.returncode == 2, shown
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, shown
    line = lines[0]
    assert line.startswith("dbprobe"), shown
    for text in expected:
        assert text in line, shown
    return line


# --- malformed and unsupported URLs ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "not a url", ["malformed database URL", "postgresql+asyncpg://"], id="not-a-url"
        ),
        pytest.param(
            f"postgresql+asyncpg://u:{PASSWORD}@host:notaport/db",
            ["malformed database URL", "port", "must be a number"],
            id="bad-port",
        ),
        pytest.param(
            f"postgresql+asyncpg://u:{PASSWORD}@127.0.0.1:99999/db",
            ["malformed database URL", "port 99999", "65535"],
            id="port-out-of-range",
        ),
        pytest.param(
            f"mysql+aiomysql://u:{PASSWORD}@127.0.0.1:3306/db",
            ["unsupported database 'mysql'", "postgresql+asyncpg://", "sqlite+aiosqlite://"],
            id="unknown-dialect",
        ),
        pytest.param(
            f"postgresql+psycopg2://u:{PASSWORD}@127.0.0.1:5432/db",
            ["unsupported driver postgresql+psycopg2", "postgresql+asyncpg://"],
            id="unknown-driver",
        ),
    ],
)
def test_bad_database_url(url: str, expected: list[str], tmp_path: Path) -> None:
    result = run_cli(["uow", "--db", url, *RUN], tmp_path)
    assert_one_line_error(result, *expected)


# --- targets that refuse us ----------------------------------------------------------------


def test_connection_refused(tmp_path: Path) -> None:
    result = run_cli(["uow", "--db", REFUSED_URL, *RUN], tmp_path)
    line = assert_one_line_error(result, "connection refused", "127.0.0.1:1")
    assert "postgres:***@" in line


@pytest.mark.postgres
def test_missing_database(pg_target: Target, tmp_path: Path) -> None:
    url = pg_target.url.set(password=PASSWORD, database="dbprobe_no_such_db")
    result = run_cli(["uow", "--db", url.render_as_string(hide_password=False), *RUN], tmp_path)
    assert_one_line_error(
        result, "'dbprobe_no_such_db' does not exist", "createdb dbprobe_no_such_db"
    )


class _FakeServer:
    """A TCP server on 127.0.0.1 (port 0) that runs ``handle`` on each connection in a thread."""

    def __init__(self, handle: Callable[[socket.socket, threading.Event], None]) -> None:
        self._handle = handle
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self) -> _FakeServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            conn.close()
        for thread in threads:
            thread.join(5)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._handle(conn, self._stop)
        except OSError:
            pass  # the client went away, or __exit__ closed the socket


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionResetError("client closed the connection")
        data += chunk
    return data


def _read_startup(conn: socket.socket) -> bytes:
    """Read the startup packet, first answering 'N' (no SSL) to any SSLRequest."""
    while True:
        (length,) = struct.unpack("!i", _recv_exactly(conn, 4))
        body = _recv_exactly(conn, length - 4)
        if struct.unpack("!i", body[:4])[0] == _SSL_REQUEST_CODE:
            conn.sendall(b"N")
            continue
        return body


def _reject_password(conn: socket.socket, _stop: threading.Event) -> None:
    """Speak just enough of the v3 protocol to fail password authentication (28P01)."""
    with conn:
        _read_startup(conn)
        conn.sendall(b"R" + struct.pack("!ii", 8, _AUTH_CLEARTEXT_PASSWORD))
        kind = _recv_exactly(conn, 1)
        (length,) = struct.unpack("!i", _recv_exactly(conn, 4))
        _recv_exactly(conn, length - 4)
        assert kind == b"p", kind
        fields = (
            b"".join(
                code + value.encode() + b"\0"
                for code, value in [
                    (b"S", "FATAL"),
                    (b"V", "FATAL"),
                    (b"C", "28P01"),
                    (b"M", 'password authentication failed for user "postgres"'),
                ]
            )
            + b"\0"
        )
        conn.sendall(b"E" + struct.pack("!i", 4 + len(fields)) + fields)


def _stay_silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accept and never answer, until the server stops (which closes the socket)."""
    stop.wait()


@pytest.fixture
def password_rejecting_server() -> Iterator[_FakeServer]:
    with _FakeServer(_reject_password) as server:
        yield server


@pytest.fixture
def silent_server() -> Iterator[_FakeServer]:
    with _FakeServer(_stay_silent) as server:
        yield server


def test_wrong_password(password_rejecting_server: _FakeServer, tmp_path: Path) -> None:
    url = (
        f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:{password_rejecting_server.port}/test"
    )
    result = run_cli(["uow", "--db", url, *RUN], tmp_path)
    line = assert_one_line_error(result, "authentication failed", "'postgres'", "password")
    assert f"127.0.0.1:{password_rejecting_server.port}" in line


def test_server_that_never_answers(silent_server: _FakeServer, tmp_path: Path) -> None:
    # A connect timeout, not a hang; durations are not asserted.
    url = f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:{silent_server.port}/test"
    result = run_cli(["uow", "--db", url, "--connect-timeout", "0.5", *RUN], tmp_path)
    line = assert_one_line_error(result, "no answer", f"127.0.0.1:{silent_server.port}", "0.5 s")
    assert "postgres:***@" in line


# --- bad option values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            ["--threads", "0", "--transactions", "1"], ["--threads", "1 or more"], id="threads-0"
        ),
        pytest.param(
            ["--threads", "-3", "--transactions", "1"],
            ["--threads", "1 or more"],
            id="threads-neg",
        ),
        pytest.param(
            ["--threads", "1", "--transactions", "0"], ["--transactions", "1 or more"], id="tx-0"
        ),
        pytest.param(
            ["--threads", "1", "--duration", "-1"], ["--duration", "positive"], id="duration-neg"
        ),
        pytest.param(
            ["--threads", "1", "--duration", "abc"],
            ["--duration", "expected seconds"],
            id="duration-abc",
        ),
        pytest.param([*RUN[:4], "--retries", "-1"], ["--retries", "0 or more"], id="retries-neg"),
        pytest.param([*RUN[:4], "--hot-set", "0"], ["--hot-set", "1 or more"], id="hot-set-0"),
        pytest.param([*RUN[:4], "--warmup", "-1"], ["--warmup", "0 or more"], id="warmup-neg"),
        pytest.param(
            [*RUN[:4], "--scale", "huge"], ["--scale", "invalid choice", "small"], id="scale-huge"
        ),
        pytest.param([*RUN[:4], "--slo", "p95<<3"], ["--slo", "p95<100ms"], id="slo-unreadable"),
        pytest.param([*RUN[:4], "--slo", "p95<100"], ["--slo", "time unit"], id="slo-no-unit"),
        pytest.param(
            [*RUN[:4], "--mix", "bogus=1"], ["--mix", "'bogus'", "read_program"], id="mix-unknown"
        ),
    ],
)
def test_bad_option_value(options: list[str], expected: list[str], tmp_path: Path) -> None:
    result = run_cli(["uow", "--db", REFUSED_URL, *options, "--quiet"], tmp_path)
    line = assert_one_line_error(result, *expected)
    assert "connection refused" not in line  # refused before any connection is tried


def test_isolation_not_available_on_sqlite(tmp_path: Path) -> None:
    result = run_cli(["uow", "--isolation", "repeatable_read", *RUN], tmp_path)
    assert_one_line_error(result, "--isolation repeatable_read", "SQLite", "serializable")


def test_unknown_subcommand(tmp_path: Path) -> None:
    result = run_cli(["nosuchprobe", "--db", REFUSED_URL], tmp_path)
    assert_one_line_error(result, "'nosuchprobe'", "seed", "uow")
