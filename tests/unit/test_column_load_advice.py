"""The advice for column loads and MissingGreenlet findings, from typed labels alone (no database)."""

from __future__ import annotations

from dbprobe.instrument.column_loads import (
    ColumnLoad,
    ColumnLoadCause,
    column_load_fix,
    column_load_what,
)
from dbprobe.instrument.nplusone import find_n_plus_one, missing_greenlet_finding
from dbprobe.instrument.statements import FailedLoad, StatementStats
from dbprobe.result.findings import Finding, FindingKind, MissingGreenletEvidence, NPlusOneEvidence

BIO = ColumnLoad(ColumnLoadCause.DEFERRED, ("Writer.bio",), "Writer")
ADDRESS = ColumnLoad(
    ColumnLoadCause.DEFERRED, ("Writer.city", "Writer.street"), "Writer", group="address"
)
BY_OPTION = ColumnLoad(ColumnLoadCause.DEFERRED, ("Writer.name",), "Writer", by_defer_option=True)
LANGUAGE = ColumnLoad(ColumnLoadCause.SUBCLASS, ("Engineer.language",), "Engineer", base="Staff")
EXPIRED = ColumnLoad(ColumnLoadCause.EXPIRED, ("Writer.id", "Writer.name"), "Writer")


def test_each_cause_has_its_own_fix() -> None:
    assert column_load_fix(BIO) == ".options(undefer(Writer.bio))"
    assert column_load_fix(ADDRESS) == '.options(undefer_group("address"))'
    assert column_load_fix(BY_OPTION) == "remove defer(Writer.name) from the query's options"
    assert column_load_fix(LANGUAGE) == ".options(selectin_polymorphic(Staff, [Engineer]))"
    assert column_load_fix(EXPIRED) == "expire_on_commit=False"


def test_each_cause_is_named_with_its_columns() -> None:
    assert column_load_what(BIO) == "deferred column Writer.bio"
    assert column_load_what(ADDRESS) == "deferred columns Writer.city, Writer.street"
    assert column_load_what(LANGUAGE) == (
        "subclass column Engineer.language (rows of Staff loaded as Engineer)"
    )
    assert column_load_what(EXPIRED) == "Writer rows expired by a commit (Writer.id, Writer.name)"


def _stats(load: ColumnLoad | None, executions: int = 4) -> StatementStats:
    fp = "SELECT writers.bio FROM writers WHERE writers.id = ?"
    stats = StatementStats(fp, fp, is_select=True, executions=executions, column_load=load)
    stats.parameter_keys = set(range(executions))
    stats.location = "app/views.py:12"
    return stats


def test_a_column_load_n_plus_one_names_the_columns_and_carries_its_cause() -> None:
    (finding,) = find_n_plus_one([_stats(BIO)], operation="list_writers")
    assert finding.kind is FindingKind.N_PLUS_ONE
    assert finding.message == (
        "N+1: deferred column Writer.bio loaded 4 times, one row at a time, in one "
        "list_writers at app/views.py:12: SELECT writers.bio FROM writers WHERE writers.id = ?; "
        "load it with the rows: .options(undefer(Writer.bio)); to find every such load, make it "
        "raise: defer(Writer.bio, raiseload=True) on the query, or deferred_raiseload=True on "
        "the mapping"
    )
    evidence = finding.evidence
    assert isinstance(evidence, NPlusOneEvidence)
    assert (evidence.relationship, evidence.columns, evidence.column_load) == (
        None,
        ("Writer.bio",),
        "deferred",
    )
    # The new keys round-trip through the report's JSON (a list comes back a tuple).
    data = evidence.to_json()
    assert data["columns"] == ["Writer.bio"]
    assert NPlusOneEvidence.from_json(data) == evidence


def test_an_unclassified_repeat_keeps_the_generic_advice_and_writes_no_column_keys() -> None:
    (finding,) = find_n_plus_one([_stats(None)], operation=None)
    evidence = finding.evidence
    assert isinstance(evidence, NPlusOneEvidence)
    assert evidence.suggestion == (
        "fetch these rows in one query (WHERE ... IN the ids) outside the loop"
    )
    assert "columns" not in evidence.to_json()
    assert "column_load" not in evidence.to_json()


def test_below_the_threshold_a_column_load_is_no_finding() -> None:
    assert find_n_plus_one([_stats(BIO, executions=2)], operation=None) == []


def _greenlet(failed: FailedLoad | None) -> tuple[Finding, MissingGreenletEvidence]:
    finding = missing_greenlet_finding(failed, operation=None)
    assert finding.kind is FindingKind.MISSING_GREENLET
    assert isinstance(finding.evidence, MissingGreenletEvidence)
    return finding, finding.evidence


def test_missing_greenlet_on_a_column_names_the_column_never_a_relationship() -> None:
    finding, evidence = _greenlet(FailedLoad(column_load=BIO, location="app/views.py:20"))
    assert evidence.relationship is None
    assert evidence.columns == ("Writer.bio",)
    assert evidence.suggestion == (
        ".options(undefer(Writer.bio)) or `await obj.awaitable_attrs.bio`"
    )
    assert finding.location == "app/views.py:20"
    assert finding.message.startswith(
        "load of deferred column Writer.bio ran outside SQLAlchemy's async context "
        "(MissingGreenlet) at app/views.py:20:"
    )
    assert evidence.pattern == "Writer.bio"


def test_missing_greenlet_on_an_expired_row_suggests_the_sessions_keyword() -> None:
    _, evidence = _greenlet(FailedLoad(column_load=EXPIRED))
    assert evidence.suggestion == (
        "expire_on_commit=False on the session or `await obj.awaitable_attrs.id`"
    )
    assert "location" not in evidence.to_json()


def test_missing_greenlet_on_a_relationship_and_on_an_unknown_load() -> None:
    _, books = _greenlet(FailedLoad("Author.books", True))
    assert books.relationship == "Author.books"
    assert books.columns is None
    assert books.suggestion.startswith(".options(selectinload(Author.books))")
    _, unknown = _greenlet(None)
    assert (unknown.relationship, unknown.columns) == (None, None)
    assert unknown.suggestion == "an eager loader option or awaitable_attrs"
