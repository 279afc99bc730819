from __future__ import annotations

import pytest

from dbprobe.instrument.fingerprint import fingerprint, is_select


def _in_list(n: int, style: str) -> str:
    if style == "qmark":
        items = ", ".join("?" for _ in range(n))
    else:
        items = ", ".join(f"${i}::INTEGER" for i in range(1, n + 1))
    return f"SELECT movements.id, movements.name FROM movements WHERE movements.id IN ({items})"


@pytest.mark.parametrize("style", ["qmark", "numeric"])
def test_in_lists_of_one_two_and_fifty_items_share_one_fingerprint(style: str) -> None:
    prints = {fingerprint(_in_list(n, style)) for n in (1, 2, 50)}
    assert prints == {
        "SELECT movements.id, movements.name FROM movements WHERE movements.id IN (?)"
    }


def test_sqlite_and_postgresql_parameter_styles_give_the_same_fingerprint() -> None:
    sqlite = "SELECT sessions.id FROM sessions\nWHERE sessions.microcycle_id = ? ORDER BY sessions.day_index"
    pg = "SELECT sessions.id FROM sessions WHERE sessions.microcycle_id = $1::INTEGER ORDER BY sessions.day_index"
    assert fingerprint(sqlite) == fingerprint(pg)
    assert fingerprint(pg) == (
        "SELECT sessions.id FROM sessions WHERE sessions.microcycle_id = ? ORDER BY sessions.day_index"
    )


def test_literals_are_replaced_and_whitespace_folded() -> None:
    a = "SELECT * FROM users WHERE email = 'a@x.test'   AND id > 10"
    b = "SELECT *\n  FROM users\n WHERE email = 'o''brien@x.test' AND id > 2000"
    assert fingerprint(a) == fingerprint(b) == "SELECT * FROM users WHERE email = ? AND id > ?"


def test_named_parameters_are_placeholders_but_casts_stay_distinct_from_names() -> None:
    assert (
        fingerprint("SELECT x FROM t WHERE a = :a AND b = %(b)s")
        == "SELECT x FROM t WHERE a = ? AND b = ?"
    )
    assert fingerprint("SELECT x::text FROM t") == "SELECT x::text FROM t"


def test_different_tables_or_predicates_give_different_fingerprints() -> None:
    base = fingerprint("SELECT id FROM sessions WHERE microcycle_id = ?")
    assert fingerprint("SELECT id FROM session_exercises WHERE microcycle_id = ?") != base
    assert fingerprint("SELECT id FROM sessions WHERE id = ?") != base
    assert fingerprint("SELECT id FROM sessions WHERE microcycle_id > ?") != base


def test_multi_row_values_collapse_to_one_row() -> None:
    a = "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)"
    b = "INSERT INTO t (a, b) VALUES ($1::INTEGER, $2::VARCHAR)"
    assert fingerprint(a) == fingerprint(b) == "INSERT INTO t (a, b) VALUES (?)"


def test_identifiers_with_digits_are_kept() -> None:
    assert (
        fingerprint("SELECT p0, t1.c2 FROM t1 LIMIT 10 OFFSET 20")
        == "SELECT p0, t1.c2 FROM t1 LIMIT ? OFFSET ?"
    )


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", True),
        ("  select id from t", True),
        ("WITH x AS (SELECT 1) SELECT * FROM x", True),
        ("INSERT INTO t VALUES (1)", False),
        ("UPDATE t SET a = 1", False),
        ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", False),
    ],
)
def test_select_detection(sql: str, expected: bool) -> None:
    assert is_select(sql) is expected


def test_multi_word_casts_of_parameters_are_dropped() -> None:
    pg = "UPDATE t SET at=$1::TIMESTAMP WITHOUT TIME ZONE, x=$2::NUMERIC(10, 2) WHERE t.id = $3::INTEGER"
    assert fingerprint(pg) == "UPDATE t SET at=?, x=? WHERE t.id = ?"
