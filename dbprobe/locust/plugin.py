"""dbprobe in a Locust process: the event listeners, and the state they share.

Importing :mod:`dbprobe.locust` (a locustfile does) registers the listeners
on Locust's events:

- ``init_command_line_parser``: the ``--dbprobe-*`` options;
- ``init``: on the master, or the only process when there is no master, the
  options are checked (bad input: one line on stderr, exit 2) and the target
  prepared once (seeded; a scenario file's ``setup``), in an event loop of
  its own, before Locust starts any user; the master then listens for its
  workers' reports;
- ``test_start``: a process that runs users connects and builds its
  operations (a worker reads the options its master sent);
- ``report_to_master``: with every stats report Locust sends, a worker sends
  its dbprobe report (:mod:`dbprobe.locust.collect`);
- ``test_stop``: a worker's next report is its final one;
- ``quitting``: the master (or the only process) merges the reports, writes
  ``--dbprobe-json``, sets Locust's exit code when an objective failed, and
  runs the scenario file's ``teardown``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

import gevent
import gevent.event
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from dbprobe.database.url import error_line, mask_url_text
from dbprobe.errors import DbprobeError
from dbprobe.locust.collect import (
    FINAL_REQUEST,
    MESSAGE,
    Collector,
    RunHeader,
    fails,
    merged_report,
    read_snapshot,
    snapshot_message,
)
from dbprobe.locust.loop import LoopThread
from dbprobe.locust.prepare import Preparation, finish, prepare
from dbprobe.locust.settings import LocustSettings, add_arguments, settings_from
from dbprobe.locust.workbench import Workbench, open_workload
from dbprobe.result.jsonio import write_report

__all__ = ["LocustProcess", "current", "initialised"]

#: Exit status for bad input, as dbprobe's own commands use it.
EXIT_USAGE = 2
#: Exit status when an objective failed (an SLO, too many errors, --dbprobe-fail-on).
EXIT_FINDINGS = 1
# How long a user waits for its process's operations to be built at test start.
_BUILD_TIMEOUT_S = 120.0
# How long a worker's first event may wait for Locust's init event (see initialised).
_INIT_TIMEOUT_S = 60.0
# How long the master waits for its workers' final reports when the test stops.
_FINAL_REPORTS_TIMEOUT_S = 15.0
_POLL_S = 0.05
# A test stopped this much before --run-time was interrupted (Locust's own timer
# starts as the test does, within a moment of it).
_RUN_TIME_SLACK_S = 0.5


def _say(line: str) -> None:
    sys.stderr.write(f"dbprobe: {line}\n")
    sys.stderr.flush()


def _usage_exit(exc: DbprobeError) -> NoReturn:
    """Bad input or an unusable target: one line, no traceback, exit 2."""
    _say(f"error: {mask_url_text(str(exc))}")
    raise SystemExit(EXIT_USAGE)


@dataclass
class LocustProcess:
    """What dbprobe holds in one Locust process (master, worker, or the only one)."""

    role: str  # "master", "worker" or "local"
    runner: Any = None  # Locust's runner of this process
    settings: LocustSettings | None = None
    loop: LoopThread | None = None
    workbench: Workbench | None = None
    ready: gevent.event.Event = field(default_factory=gevent.event.Event)
    failed: str | None = None  # why this process's operations could not be built
    stopped: bool = False  # a worker's users stopped: its next report is final
    concluded: bool = False  # the quitting work is done (it must run once)
    collector: Collector = field(default_factory=Collector)
    preparation: Preparation | None = None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    started: float = field(default_factory=time.perf_counter)
    stopped_at: float | None = None  # perf_counter() when the users were stopped
    index: int = 0  # Locust's worker index: the users' seeds differ per process

    def loop_thread(self) -> LoopThread:
        if self.loop is None:
            self.loop = LoopThread.start()
        return self.loop

    def wait_for_workbench(self) -> Workbench | None:
        """The process's operations, once built (None if they could not be)."""
        self.ready.wait(_BUILD_TIMEOUT_S)
        return self.workbench


_process: LocustProcess | None = None
_init_fired = gevent.event.Event()


def current() -> LocustProcess:
    """The state of this Locust process (made by the ``init`` listener)."""
    if _process is None:
        raise RuntimeError("dbprobe.locust is not initialised: run it through locust")
    return _process


def initialised() -> LocustProcess:
    """:func:`current`, once Locust has fired ``init`` (waiting a while at most).

    A worker connects to its master before Locust fires ``init``: its main
    greenlet waits for the master's acknowledgement, and its message greenlet
    can go on to the master's spawn meanwhile, so ``test_start`` and the
    users' ``on_start`` come first. On a busy machine a worker failed so, and
    its master ran without it.
    """
    if _process is None:
        _init_fired.wait(_INIT_TIMEOUT_S)
    return current()


def _add_options(parser: Any, **_: Any) -> None:
    add_arguments(parser)


def _on_init(environment: Any, runner: Any, **_: Any) -> None:
    global _process
    if isinstance(runner, WorkerRunner):
        _process = LocustProcess("worker", runner)
        runner.register_message(FINAL_REQUEST, _on_final_request)
        _init_fired.set()
        return
    role = "master" if isinstance(runner, MasterRunner) else "local"
    process = _process = LocustProcess(role, runner)
    _init_fired.set()
    if environment.parsed_options is None:
        return  # a library use of Locust without its command line: nothing asked of us
    try:
        settings = process.settings = settings_from(environment.parsed_options)
        process.preparation = process.loop_thread().call(prepare(settings))
    except DbprobeError as exc:
        if process.loop is not None:
            process.loop.stop()
        _usage_exit(exc)
    if isinstance(runner, MasterRunner):
        # Workers take the master's options with each spawn message: the URL too,
        # when the master had it from $DBPROBE_DB_URL (a worker host need not).
        environment.parsed_options.dbprobe_db = settings.target.url.render_as_string(
            hide_password=False
        )
        runner.register_message(MESSAGE, _on_worker_report)


def _on_worker_report(environment: Any, msg: Any, **_: Any) -> None:
    process = current()
    part = read_snapshot(msg.node_id, msg.data, time.time())
    if part.worker not in {p.worker for p in process.collector.parts}:
        # Once per worker: which process is which, for a report that names a lost one.
        _say(f"first report from worker {part.worker} (pid {part.pid} on {part.report.run.host})")
    process.collector.receive(part)


def _on_test_start(environment: Any, **_: Any) -> None:
    process = initialised()
    process.started_at = dt.datetime.now(dt.UTC)
    process.started = time.perf_counter()
    process.stopped = False
    if process.role == "master":
        process.collector.reset()
        return
    if process.workbench is not None:
        process.loop_thread().call(_reset(process.workbench))
        return
    try:
        if process.role == "worker":
            # The options the master sent with the spawn message: already checked there.
            process.settings = settings_from(environment.parsed_options)
            process.index = int(getattr(environment.runner, "worker_index", 0) or 0)
        settings = process.settings
        assert settings is not None
        argv = tuple(mask_url_text(a) for a in sys.argv)
        process.workbench = process.loop_thread().call(_open(settings, argv))
    except Exception as exc:
        process.failed = error_line(exc)
        _say(f"error: cannot run dbprobe operations in this process: {process.failed}")
    finally:
        process.ready.set()


async def _open(settings: LocustSettings, argv: tuple[str, ...]) -> Workbench:
    db, operations = await open_workload(settings)
    return Workbench(settings, db, operations, argv=argv)


async def _reset(workbench: Workbench) -> None:
    workbench.reset()


def _on_test_stop(environment: Any, **_: Any) -> None:
    process = current()
    if not process.stopped:
        process.stopped_at = time.perf_counter()
    process.stopped = True
    if process.role == "master":
        _gather_final_reports(process)


def _gather_final_reports(process: LocustProcess) -> None:
    """Ask every connected worker for its final report, and wait for them (a while at most).

    Locust's master, quitting, gives its workers 0.5 s to send their last
    stats before it stops listening: a busy worker (stopping its users,
    then reporting) missed it in our tests, and was taken for lost. Asked
    here, while the master still listens, each worker stops its users and
    answers at once; one that does not answer in time is lost indeed.
    """
    runner = process.runner
    waiting = {c.id for c in runner.clients.all if c.state != "missing"}
    if not waiting:
        return
    runner.send_message(FINAL_REQUEST, None)
    deadline = time.monotonic() + _FINAL_REPORTS_TIMEOUT_S
    while time.monotonic() < deadline:
        final = {p.worker for p in process.collector.parts if p.final}
        gone = {c.id for c in runner.clients.all if c.state == "missing"}
        if waiting <= final | gone | (waiting - {c.id for c in runner.clients.all}):
            return
        gevent.sleep(_POLL_S)


def _on_final_request(environment: Any, msg: Any, **_: Any) -> None:
    """A worker asked by its master for its final report: stop the users, report."""
    process = current()
    runner = process.runner
    runner.stop()  # fires test_stop: this process is stopped
    process.stopped = True
    if process.workbench is None or process.loop is None:
        return
    report = process.loop.call(process.workbench.snapshot())
    runner.send_message(MESSAGE, snapshot_message(report, pid=os.getpid(), final=True))


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    process = _process  # None before init: nothing run yet, nothing to report
    if process is None or process.workbench is None or process.loop is None:
        return
    final = process.stopped
    report = process.loop.call(process.workbench.snapshot())
    # Sent just before Locust's own stats message, on the same connection: the
    # master reads the two in this order.
    process.runner.send_message(MESSAGE, snapshot_message(report, pid=os.getpid(), final=final))


def _on_quitting(environment: Any, **_: Any) -> None:
    process = _process
    # Once: after SIGTERM, Locust's shutdown can run twice (the signal's, then the
    # main greenlet's when the runner it was joining ends), and so this event.
    if process is None or process.loop is None or process.concluded:
        return
    process.concluded = True
    try:
        if process.role != "worker" and process.settings is not None:
            _conclude(environment, process, process.settings)
    finally:
        if process.workbench is not None:
            process.loop.call(process.workbench.close())
        if process.preparation is not None and process.settings is not None:
            problem = process.loop.call(finish(process.settings, process.preparation))
            if problem is not None:
                _say(f"error: {problem}")
                environment.process_exit_code = EXIT_FINDINGS
        process.loop.stop()


def _conclude(environment: Any, process: LocustProcess, settings: LocustSettings) -> None:
    """The master's (or the only process's) merged report: written, and judged."""
    assert process.loop is not None
    assert process.preparation is not None
    # Quitting before the test stopped: SIGTERM or Ctrl-C (Locust's shutdown fires
    # `quitting` first). The master still listens: its workers' last reports are
    # asked for as at a normal stop, and the report says it was interrupted.
    interrupted = not process.stopped and process.collector.parts != ()
    if interrupted and process.role == "master":
        _gather_final_reports(process)
    if process.role == "local" and process.workbench is not None:
        interrupted = not process.stopped
        report = process.loop.call(process.workbench.snapshot())
        process.collector.receive(
            read_snapshot(
                "local",
                snapshot_message(report, pid=os.getpid(), final=True),
                time.time(),
            )
        )
    # Locust's master answers SIGTERM by stopping the test before `quitting`: a
    # test that stopped well before --run-time was cut short all the same.
    ran_s = (process.stopped_at or time.perf_counter()) - process.started
    if settings.run_time_s is not None and ran_s < settings.run_time_s - _RUN_TIME_SLACK_S:
        interrupted = interrupted or bool(process.collector.parts)
    preparation = process.preparation
    header = RunHeader(
        started_at=process.started_at,
        duration_s=time.perf_counter() - process.started,
        argv=tuple(mask_url_text(a) for a in sys.argv),
        host=socket.gethostname(),
        target=preparation.target,
        checksum=preparation.checksum,
        weights=preparation.operations,
        interrupted=interrupted,
    )
    report = merged_report(process.collector.parts, header, settings)
    if settings.json_path is not None:
        try:
            write_report(report, settings.json_path)
        except OSError as exc:
            _say(f"error: --dbprobe-json {settings.json_path} not written: {exc.strerror}")
            environment.process_exit_code = EXIT_USAGE
            return
    for finding in report.findings:
        _say(f"{finding.severity.value} {finding.kind.value}: {finding.message}")
    if fails(report, settings.fail_on):
        environment.process_exit_code = EXIT_FINDINGS


# Registered when a locustfile imports dbprobe.locust. Locust's EventHook is
# untyped: it is reached through Any.
_events: Any = events
_events.init_command_line_parser.add_listener(_add_options)
_events.init.add_listener(_on_init)
_events.test_start.add_listener(_on_test_start)
_events.test_stop.add_listener(_on_test_stop)
_events.report_to_master.add_listener(_on_report_to_master)
_events.quitting.add_listener(_on_quitting)
