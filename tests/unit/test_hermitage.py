"""The Hermitage catalogue as data, and the pure verdict on fixed observations."""

from __future__ import annotations

import pytest

from dbprobe.probes.isolation.hermitage import (
    AFTER,
    CATALOGUE,
    TEST_NAMES,
    Anomaly,
    HermitageTest,
    Step,
    format_rows,
    parse_rows,
    script_text,
    select_tests,
)
from dbprobe.probes.isolation.verdicts import Outcome, PreventedBy, StepResult, StepStatus, judge

OK = StepResult(StepStatus.OK)
SKIPPED = StepResult(StepStatus.SKIPPED)


def rows(text: str) -> StepResult:
    return StepResult(StepStatus.OK, parse_rows(text))


def hermitage_test(name: str) -> HermitageTest:
    (found,) = select_tests([name])
    return found


# --------------------------------------------------------------------------- the data


def test_catalogue_holds_hermitages_ten_tests_in_its_order() -> None:
    assert TEST_NAMES == (
        "G0", "G1a", "G1b", "G1c", "OTV", "PMP", "P4", "G-single", "G2-item", "G2",
    )  # fmt: skip


@pytest.mark.parametrize("hermitage", CATALOGUE, ids=TEST_NAMES)
def test_every_anomaly_names_labelled_reads_and_results_they_may_show(
    hermitage: HermitageTest,
) -> None:
    labels = [s.label for s in hermitage.steps if s.label is not None]
    assert len(labels) == len(set(labels))
    assert hermitage.anomalies
    for anomaly in hermitage.anomalies:
        for label, shown in anomaly.seen.items():
            step = hermitage.steps[hermitage.step_of(label)]
            assert parse_rows(shown) in step.possible_rows, (label, shown)


@pytest.mark.parametrize(
    ("anomaly", "message"),
    [
        (Anomaly({"final": "1 => 99"}, "x"), "'final' does not list '1 => 99' in shows"),
        (Anomaly({"elsewhere": "1 => 10"}, "x"), "the anomaly reads 'elsewhere', no step has it"),
        (Anomaly({}, "x"), "every anomaly needs at least one observation"),
    ],
)
def test_a_test_whose_anomaly_could_never_be_observed_is_refused(
    anomaly: Anomaly, message: str
) -> None:
    steps = (
        Step("T1", "update isolation_test set value = 11 where id = 1"),
        Step("T1", "commit"),
        Step(AFTER, "select * from isolation_test where id = 1", "final", ("1 => 11",)),
    )
    with pytest.raises(ValueError, match=message):
        HermitageTest("bad", "bad", "bad", steps, (anomaly,))


@pytest.mark.parametrize("hermitage", CATALOGUE, ids=TEST_NAMES)
def test_every_scripted_transaction_ends_with_commit_or_abort(hermitage: HermitageTest) -> None:
    for tx in hermitage.transactions:
        last = [s for s in hermitage.steps if s.tx == tx][-1]
        if tx == AFTER:  # the final read only reads; the runner ends it
            assert last.label is not None
        else:
            assert last.is_end, (tx, last.sql)
    assert hermitage.transactions[0] == "T1"
    assert set(hermitage.transactions) <= {"T1", "T2", "T3", AFTER}


def test_rows_read_and_written_in_hermitages_notation() -> None:
    assert parse_rows("2 => 20, 1 => 10") == ((1, 10), (2, 20))
    assert parse_rows("") == ()
    assert format_rows(((1, 10), (2, 20))) == "1 => 10, 2 => 20"
    assert format_rows(()) == "nothing"
    with pytest.raises(ValueError, match="expected 'id => value'"):
        parse_rows("1 -> 10")


def test_a_transaction_writes_when_one_of_its_steps_inserts_updates_or_deletes() -> None:
    p4, g1a, g2 = hermitage_test("P4"), hermitage_test("G1a"), hermitage_test("G2")
    assert p4.writes("T1")
    assert p4.writes("T2")
    assert not g1a.writes("T2")
    assert g1a.writes("T1")
    assert g2.writes("T2")  # an insert
    assert not p4.writes(AFTER)


def test_select_tests_keeps_catalogue_order_and_rejects_unknown_names() -> None:
    assert [t.name for t in select_tests(["P4", "G0"])] == ["G0", "P4"]
    assert len(select_tests([])) == 10
    with pytest.raises(ValueError, match="unknown test 'G3'"):
        select_tests(["G3"])


# --------------------------------------------------------------------------- the verdict
# Step results below follow each script step for step (see hermitage.py).


def test_lost_update_is_allowed_when_both_increments_commit_over_the_same_read() -> None:
    # read committed: T2's update waits for T1, then overwrites it.
    results = [
        rows("1 => 10"), rows("1 => 10"), OK,
        StepResult(StepStatus.OK, blocked=True), OK, OK, rows("1 => 11"),
    ]  # fmt: skip
    verdict = judge(hermitage_test("P4"), results)
    assert verdict.outcome is Outcome.ALLOWED
    assert verdict.cell == "allowed"
    assert verdict.step == 7
    assert verdict.note == (
        "both committed 10 + 1: one increment was lost (step 7: the final read saw 1 => 11)"
    )


def test_lost_update_is_prevented_when_the_second_writer_is_aborted() -> None:
    # repeatable read: T2's update waits for T1, then fails with 40001; its commit never runs.
    failure = StepResult(StepStatus.SERIALIZATION, blocked=True, code="40001")
    results = [rows("1 => 10"), rows("1 => 10"), OK, failure, OK, SKIPPED, rows("1 => 11")]
    verdict = judge(hermitage_test("P4"), results)
    assert verdict.outcome is Outcome.PREVENTED
    assert verdict.prevented_by is PreventedBy.ABORT
    assert verdict.step == 4
    assert verdict.note == (
        "T2 was aborted after waiting for a lock at step 4 "
        "`update isolation_test set value = 11 where id = 1`: serialization failure (40001)"
    )


def test_sqlite_busy_write_lock_prevents_by_busy() -> None:
    busy = StepResult(StepStatus.BUSY, code="SQLITE_5")
    results = [rows("1 => 10"), rows("1 => 10"), OK, busy, OK, SKIPPED, rows("1 => 11")]
    verdict = judge(hermitage_test("P4"), results)
    assert verdict.outcome is Outcome.PREVENTED
    assert verdict.prevented_by is PreventedBy.BUSY
    assert verdict.step == 4
    assert "could not take the write lock" in verdict.note
    assert "SQLITE_BUSY" in verdict.note


def test_dirty_read_of_an_aborted_write_is_allowed_g1a() -> None:
    results = [OK, rows("1 => 101, 2 => 20"), OK, rows("1 => 10, 2 => 20"), OK]
    verdict = judge(hermitage_test("G1a"), results)
    assert verdict.outcome is Outcome.ALLOWED
    assert verdict.step == 2
    assert verdict.observations == {
        "t2_before_abort": "1 => 101, 2 => 20",
        "t2_after_abort": "1 => 10, 2 => 20",
    }


def test_reads_of_committed_data_only_prevent_g1a_by_visibility() -> None:
    results = [OK, rows("1 => 10, 2 => 20"), OK, rows("1 => 10, 2 => 20"), OK]
    verdict = judge(hermitage_test("G1a"), results)
    assert verdict.outcome is Outcome.PREVENTED
    assert verdict.prevented_by is PreventedBy.VISIBILITY
    assert verdict.step is None
    assert verdict.note.startswith("no read showed the anomaly (step 2: T2 saw 1 => 10, 2 => 20")


def test_an_anomalous_read_by_a_transaction_the_database_then_aborts_does_not_count() -> None:
    # T2 saw 101 but its commit failed: that history never happened.
    failure = StepResult(StepStatus.SERIALIZATION, code="40001")
    results = [OK, rows("1 => 101, 2 => 20"), OK, rows("1 => 10, 2 => 20"), failure]
    verdict = judge(hermitage_test("G1a"), results)
    assert verdict.outcome is Outcome.PREVENTED
    assert verdict.prevented_by is PreventedBy.ABORT
    assert verdict.step == 5


def test_g0_blocked_writer_that_then_wins_both_rows_is_prevented_by_lock_wait() -> None:
    results = [
        OK, StepResult(StepStatus.OK, blocked=True), OK, OK, OK, OK, rows("1 => 12, 2 => 22"),
    ]  # fmt: skip
    verdict = judge(hermitage_test("G0"), results)
    assert verdict.outcome is Outcome.PREVENTED
    assert verdict.prevented_by is PreventedBy.LOCK_WAIT
    assert verdict.step == 2


def test_g0_final_state_mixing_both_writers_is_allowed() -> None:
    results = [OK, OK, OK, OK, OK, OK, rows("1 => 12, 2 => 21")]
    verdict = judge(hermitage_test("G0"), results)
    assert verdict.outcome is Outcome.ALLOWED
    assert "mixes T1's and T2's writes" in verdict.note


def test_otv_needs_both_observations_t2_seen_then_vanished() -> None:
    base = [OK, OK, StepResult(StepStatus.OK, blocked=True), OK, rows("1 => 11"), OK,
            rows("2 => 19"), OK]  # fmt: skip
    consistent = judge(hermitage_test("OTV"), [*base, rows("2 => 18"), rows("1 => 12"), OK])
    vanished = judge(hermitage_test("OTV"), [*base, rows("2 => 18"), rows("1 => 11"), OK])
    assert consistent.outcome is Outcome.PREVENTED
    assert vanished.outcome is Outcome.ALLOWED
    assert vanished.step == 10


def test_a_result_no_database_may_show_is_an_error_not_a_verdict() -> None:
    results = [OK, rows("1 => 55, 2 => 20"), OK, rows("1 => 10, 2 => 20"), OK]
    verdict = judge(hermitage_test("G1a"), results)
    assert verdict.outcome is Outcome.ERROR
    assert verdict.cell.startswith("error: unexpected result at step 2")
    assert "T2 saw 1 => 55, 2 => 20" in verdict.note


def test_a_step_failing_for_another_reason_is_an_error() -> None:
    failed = StepResult(StepStatus.FAILED, code="55P03", message="canceling statement")
    results = [OK, failed, OK, SKIPPED, SKIPPED]
    verdict = judge(hermitage_test("G1a"), results)
    assert verdict.outcome is Outcome.ERROR
    assert verdict.step == 2
    assert verdict.cell == (
        "error: T2 failed at step 2 `select * from isolation_test`: canceling statement (55P03)"
    )


def test_judge_refuses_results_that_do_not_match_the_steps() -> None:
    with pytest.raises(ValueError, match="3 results for 5 steps"):
        judge(hermitage_test("G1a"), [OK, OK, OK])


def test_script_text_reads_like_hermitages_write_up() -> None:
    lines = script_text(hermitage_test("G1a")).splitlines()
    assert lines[0] == "G1a: Aborted Reads (dirty reads, cascaded aborts)"
    assert lines[2].split() == "update isolation_test set value = 101 where id = 1; -- T1".split()
    assert lines[3].split() == "select * from isolation_test; -- T2. Still shows 1 => 10".split()
    assert lines[4].split() == ["abort;", "--", "T1"]
    assert len(lines) == 2 + len(hermitage_test("G1a").steps)
