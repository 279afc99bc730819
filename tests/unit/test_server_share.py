"""Each operation's server time from two readings of pg_stat_statements (pure)."""

from __future__ import annotations

import pytest

from dbprobe.instrument.fingerprint import fingerprint
from dbprobe.instrument.server_share import StatementTime, server_ms_by_operation

GET = "SELECT programs.id FROM programs WHERE programs.id = $1::INTEGER"
SLEEP = "SELECT pg_sleep($1)"


def test_each_statement_costs_its_mean_times_how_often_an_operation_ran_it() -> None:
    before = {1: StatementTime(GET, 10, 5.0), 7: StatementTime("SELECT 1", 3, 0.3)}
    after = {
        1: StatementTime(GET, 110, 105.0),  # 100 calls, 100 ms: 1 ms each
        2: StatementTime(SLEEP, 4, 84.0),  # new: 4 calls, 21 ms each
        7: StatementTime("SELECT 1", 9, 0.9),  # issued by no operation: left out
    }
    executions = {
        ("read", fingerprint(GET)): 60,
        ("write", fingerprint(GET)): 40,
        ("write", fingerprint(SLEEP)): 4,
    }
    split = server_ms_by_operation(before, after, executions, {"read": 30, "write": 4})
    assert split == pytest.approx({"read": 60 * 1.0 / 30, "write": (40 * 1.0 + 4 * 21.0) / 4})


def test_statements_the_server_did_not_see_again_give_no_entry() -> None:
    same = {1: StatementTime(GET, 10, 5.0)}
    executions = {("read", fingerprint(GET)): 5}
    assert server_ms_by_operation(same, same, executions, {"read": 5}) == {}
    assert server_ms_by_operation({}, {}, executions, {"read": 5}) == {}
