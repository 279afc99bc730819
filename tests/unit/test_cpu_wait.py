"""The time a run's threads waited for a CPU, accounted to the round it fell in (injected
readings: the kernel's figures are the one thing a test cannot set)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import sys
import threading
from pathlib import Path

import pytest

from dbprobe.bench import bench
from dbprobe.load.calibration import Calibrator, RunQueueWait
from dbprobe.result.jsonio import read_report, report_from_dict, report_to_dict, write_report
from tests import synthetic


class _Kernel:
    """Each thread's run-queue delay (ns), as /proc/self/task/*/schedstat would say."""

    def __init__(self) -> None:
        self.delays: dict[str, int] = {"1": 0, "2": 0}
        self.now_ns = 0
        self.calls = 0

    def read(self) -> dict[str, int]:
        return dict(self.delays)

    def clock(self) -> int:
        return self.now_ns

    def advance(self, ms: int, waited: dict[str, int]) -> None:
        self.now_ns += ms * 1_000_000
        for tid, wait_ms in waited.items():
            self.delays[tid] = self.delays.get(tid, 0) + wait_ms * 1_000_000


def test_each_round_gets_the_wait_that_fell_in_it_and_the_time_between_phases_none() -> None:
    kernel = _Kernel()
    calibrator = Calibrator(None, None, run_queue=RunQueueWait(kernel.read), clock_ns=kernel.clock)

    async def phase(key: int, waits: list[dict[str, int]]) -> None:
        await calibrator.reference_for(key)
        calibrator.restart_wait()
        calibrator.account_wait(None)  # the warm-up's poll: no round's
        for waited in waits:
            kernel.advance(20, waited)
            calibrator.account_wait(key)

    async def run() -> None:
        # Round 0: 10 ms of 100 waited, by two threads.
        await phase(0, [{"1": 4}, {"2": 6}, {}, {}, {}])
        # Between the phases the machine is busy; no round's time.
        kernel.advance(500, {"1": 400})
        # Round 1: 60 ms of 100; a thread ends, another starts.
        kernel.delays.pop("2")
        await phase(1, [{"1": 20}, {"3": 20}, {"1": 10, "3": 10}, {}, {}])

    asyncio.run(run())
    waits = [c.cpu_wait for c in calibrator.rounds]
    assert waits == [pytest.approx(0.1), pytest.approx(0.6)]
    assert all(c.select_1_ms is None for c in calibrator.rounds)  # no connection


def test_a_thread_that_ends_never_makes_the_wait_go_back() -> None:
    kernel = _Kernel()
    wait = RunQueueWait(kernel.read)
    assert wait.since_last() is None  # the first reading only marks
    kernel.advance(10, {"1": 3, "2": 50})
    assert wait.since_last() == 53_000_000
    kernel.delays.pop("2")
    kernel.advance(10, {"1": 2, "7": 1})
    assert wait.since_last() == 3_000_000


def test_where_the_kernel_does_not_say_the_wait_is_unknown() -> None:
    calibrator = Calibrator(None, None, run_queue=RunQueueWait(lambda: None))
    asyncio.run(calibrator.reference_for(0))
    calibrator.account_wait(0)
    calibrator.account_wait(0)
    assert [c.cpu_wait for c in calibrator.rounds] == [None]


@pytest.mark.skipif(sys.platform != "linux", reason="the run-queue delay is Linux's")
def test_the_kernel_counts_the_wait_of_every_thread_of_the_process() -> None:
    # Real readings: more threads than the process may use CPUs, each hashing
    # (which releases the GIL, so all are runnable at once), must wait for one.
    wait = RunQueueWait()
    assert wait.since_last() is None
    stop = threading.Event()
    block = b"x" * (1 << 20)

    def spin() -> None:
        while not stop.is_set():
            hashlib.sha256(block).digest()

    threads = [threading.Thread(target=spin) for _ in range(2 * len(os.sched_getaffinity(0)) + 1)]
    for t in threads:
        t.start()
    try:
        stop.wait(0.3)
        waited = wait.since_last()  # while they live: a thread's figure ends with it
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert waited is not None
    # Over 0.3 s, at least half the threads were kept waiting for at least a third of it.
    assert waited > len(threads) // 2 * 100_000_000


def test_a_report_keeps_each_rounds_cpu_wait_and_an_old_report_has_none(tmp_path: Path) -> None:
    report = synthetic.report(
        {"a": [1.0] * 40}, cpu_ms=[1.0] * 10, cpu_wait=[0.01 * r for r in range(10)]
    )
    write_report(report, tmp_path / "r.json")
    back = read_report(tmp_path / "r.json")
    assert [c.cpu_wait for c in back.calibration] == [0.01 * r for r in range(10)]
    old = synthetic.report({"a": [1.0] * 40}, cpu_ms=[1.0] * 10)
    assert "cpu_wait" not in json.dumps(report_to_dict(old))
    assert all(c.cpu_wait is None for c in report_from_dict(report_to_dict(old)).calibration)


def test_each_benchmark_sample_carries_the_wait_of_its_own_calls() -> None:
    # The pytest plugin's samples (groups of consecutive calls) are judged by
    # the same gate: a session beside a CPU-bound process must say so too.
    kernel = _Kernel()

    async def call() -> None:
        # Every call lasts 1 ms; the second half of the calls wait 0.5 ms each for a CPU.
        kernel.advance(1, {})
        if kernel.calls >= 10:
            kernel.delays["1"] += 500_000
        kernel.calls += 1

    stats = asyncio.run(
        bench(call, rounds=20, warmup=0, clock_ns=kernel.clock, run_queue=RunQueueWait(kernel.read))
    )
    waits = [s.cpu_wait for s in stats.samples]
    assert len(waits) == 10  # two calls a sample
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == [pytest.approx(0.5, rel=0.05)] * 5
    # A sample's wait is written with it and read back.
    op = dataclasses.replace(synthetic.operation("a", [1.0] * 40), rounds=stats.samples)
    report = dataclasses.replace(synthetic.report({"a": [1.0] * 40}), operations=(op,))
    (back,) = report_from_dict(report_to_dict(report)).operations
    assert [r.cpu_wait for r in back.rounds] == [pytest.approx(w) for w in waits]
