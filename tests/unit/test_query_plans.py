"""Plans parsed from recorded EXPLAIN output, and the index findings decided on them (pure)."""

from __future__ import annotations

import json

import pytest

from dbprobe.instrument.indexes import (
    ExplainedStatement,
    ForeignKeyInfo,
    TableInfo,
    create_index_sql,
    index_findings,
    seq_scan_candidates,
)
from dbprobe.instrument.plans import (
    ColumnRef,
    parse_postgres_plan,
    parse_sqlite_plan,
    statement_columns,
)
from dbprobe.result.findings import FindingKind, IndexEvidence
from dbprobe.result.plans import PlanNode, StatementPlan

# Recorded on PostgreSQL 15 (search_path dbprobe, scale tiny, the session_id index dropped):
# the lazy load of TrainingSession.exercises.
PG_SEQ_SCAN = """[{"Plan": {"Node Type": "Sort", "Startup Cost": 26.50, "Total Cost": 26.52,
  "Plan Rows": 7, "Plan Width": 12, "Sort Key": ["\\"position\\""],
  "Plans": [{"Node Type": "Seq Scan", "Parent Relationship": "Outer",
    "Relation Name": "session_exercises", "Alias": "session_exercises", "Startup Cost": 0.00,
    "Total Cost": 26.40, "Plan Rows": 7, "Plan Width": 12, "Filter": "(106 = session_id)"}]}}]"""
# The same server, the index created: a join served by it.
PG_BITMAP = """[{"Plan": {"Node Type": "Nested Loop", "Join Type": "Inner", "Plan Rows": 5,
  "Plans": [
    {"Node Type": "Seq Scan", "Relation Name": "sessions", "Alias": "sessions", "Plan Rows": 1,
     "Filter": "(microcycle_id = 3)"},
    {"Node Type": "Bitmap Heap Scan", "Relation Name": "session_exercises",
     "Alias": "session_exercises", "Plan Rows": 7, "Recheck Cond": "(session_id = sessions.id)",
     "Plans": [{"Node Type": "Bitmap Index Scan",
       "Index Name": "ix_session_exercises_session_id", "Plan Rows": 7,
       "Index Cond": "(session_id = sessions.id)"}]}]}}]"""
PG_INSERT = """[{"Plan": {"Node Type": "ModifyTable", "Operation": "Insert",
  "Relation Name": "programs", "Alias": "programs", "Plan Rows": 1,
  "Plans": [{"Node Type": "Result", "Plan Rows": 1}]}}]"""

# Recorded on SQLite 3.40: (id, parent, notused, detail).
SQLITE_JOIN = [
    (3, 0, 0, "SCAN e_1"),
    (5, 0, 0, "SEARCH s_1 USING INTEGER PRIMARY KEY (rowid=?)"),
]
SQLITE_INDEXED = [
    (2, 0, 0, "SEARCH sessions USING INDEX ix_sessions_microcycle_id (microcycle_id=?)"),
    (25, 0, 0, "USE TEMP B-TREE FOR ORDER BY"),
]

LAZY_EXERCISES = (
    "SELECT session_exercises.id, session_exercises.session_id, session_exercises.movement_id, "
    "session_exercises.position FROM session_exercises WHERE ? = session_exercises.session_id "
    "ORDER BY session_exercises.position"
)
COLUMNS = {
    "session_exercises": {"id", "session_id", "movement_id", "position"},
    "sessions": {"id", "microcycle_id", "day_index"},
    "movements": {"id", "name", "pattern", "primary_muscle", "is_active"},
}


def test_a_postgres_plan_keeps_node_types_relations_indexes_and_estimates() -> None:
    nodes = parse_postgres_plan(PG_SEQ_SCAN)
    assert [(n.depth, n.node_type, n.relation, n.rows, n.seq_read) for n in nodes] == [
        (0, "Sort", None, 7.0, False),
        (1, "Seq Scan", "session_exercises", 7.0, True),
    ]
    # Values become "?": they are the user's data.
    assert nodes[1].detail == "Filter: (? = session_id)"
    assert nodes[0].detail == 'Sort Key: "position"'
    indexed = parse_postgres_plan(json.loads(PG_BITMAP))
    assert [n.index for n in indexed] == [None, None, None, "ix_session_exercises_session_id"]
    assert [n.depth for n in indexed] == [0, 1, 1, 2]


def test_an_analyzed_postgres_plan_keeps_actual_rows_over_every_loop_and_its_buffers() -> None:
    analyzed = """[{"Plan": {"Node Type": "Nested Loop", "Plan Rows": 30, "Actual Rows": 28,
      "Actual Loops": 1, "Shared Hit Blocks": 40, "Shared Read Blocks": 2,
      "Plans": [{"Node Type": "Index Scan", "Relation Name": "sessions",
        "Index Name": "sessions_pkey", "Plan Rows": 1, "Actual Rows": 1, "Actual Loops": 4,
        "Shared Hit Blocks": 12},
        {"Node Type": "Seq Scan", "Relation Name": "movements", "Plan Rows": 9,
         "Actual Rows": 0, "Actual Loops": 0}]}}]"""
    loop, lookup, never = parse_postgres_plan(analyzed)
    assert (loop.actual_rows, loop.buffers) == (28.0, 42)
    assert (lookup.actual_rows, lookup.buffers) == (4.0, 12)  # 1 row on each of 4 loops
    assert (never.actual_rows, never.buffers) == (0.0, None)  # never executed
    assert (
        lookup.line()
        == "  Index Scan on sessions using sessions_pkey (rows 1, actual 4, 12 buffers)"
    )
    assert PlanNode.from_json(lookup.to_json()) == lookup
    # A plan without ANALYZE writes neither key.
    (plain, _) = parse_postgres_plan(PG_SEQ_SCAN)
    assert "actual_rows" not in plain.to_json()
    assert "buffers" not in plain.to_json()


def test_a_postgres_write_is_named_by_its_operation() -> None:
    nodes = parse_postgres_plan(PG_INSERT)
    assert [(n.node_type, n.relation) for n in nodes] == [("Insert", "programs"), ("Result", None)]


def test_a_long_postgres_condition_is_cut_and_its_values_hidden() -> None:
    ids = ",".join(str(i) for i in range(1000))
    email = "((email)::text = 'me@example.com'::text)"
    plan = [{"Plan": {"Node Type": "Seq Scan", "Filter": f"{email} AND (id = ANY ('{{{ids}}}'))"}}]
    (node,) = parse_postgres_plan(plan)
    assert node.detail == "Filter: ((email)::text = ?::text) AND (id = ANY (?))"
    columns = " AND ".join(f"(column_{i} = 1)" for i in range(30))
    (long,) = parse_postgres_plan([{"Plan": {"Node Type": "Seq Scan", "Filter": columns}}])
    assert long.detail is not None
    assert len(long.detail) == len("Filter: ") + 160
    assert long.detail.endswith("…")


def test_what_is_not_explain_json_is_refused() -> None:
    with pytest.raises(ValueError, match="EXPLAIN"):
        parse_postgres_plan('{"rows": []}')


def test_a_sqlite_plan_names_real_tables_and_tells_scans_from_searches() -> None:
    nodes = parse_sqlite_plan(SQLITE_JOIN, {"e_1": "e", "s_1": "s"})
    assert [(n.node_type, n.relation, n.index, n.seq_read) for n in nodes] == [
        ("SCAN", "e", None, True),
        ("SEARCH", "s", None, False),
    ]
    indexed = parse_sqlite_plan(SQLITE_INDEXED)
    assert [(n.node_type, n.relation, n.index, n.seq_read) for n in indexed] == [
        ("SEARCH", "sessions", "ix_sessions_microcycle_id", False),
        ("USE", None, None, False),
    ]


def test_sqlite_covering_old_style_and_automatic_indexes() -> None:
    rows = [
        (1, 0, 0, "SCAN movements USING COVERING INDEX ix_movements_pattern"),
        (2, 0, 0, "SCAN TABLE session_exercises AS se"),
        (3, 0, 0, "SEARCH s USING AUTOMATIC COVERING INDEX (id=?)"),
        (4, 3, 0, "CORRELATED SCALAR SUBQUERY 1"),
    ]
    nodes = parse_sqlite_plan(rows, {"se": "session_exercises", "s": "sessions"})
    assert [(n.relation, n.index, n.seq_read, n.depth) for n in nodes] == [
        ("movements", "ix_movements_pattern", False, 0),
        ("session_exercises", None, True, 0),
        # An automatic index is built per statement: the table is read whole.
        ("sessions", None, True, 0),
        (None, None, False, 1),
    ]


def test_columns_searched_are_read_from_where_on_and_order_by() -> None:
    found = statement_columns(LAZY_EXERCISES, COLUMNS)
    assert found.refs == {
        ColumnRef("session_exercises", "session_id", "filter"),
        ColumnRef("session_exercises", "position", "order"),
    }
    assert not found.limit
    joined = statement_columns(
        "SELECT s.id, movements_1.name FROM session_exercises AS s LEFT OUTER JOIN movements AS "
        "movements_1 ON movements_1.id = s.movement_id WHERE s.session_id IN (?, ?) LIMIT ?",
        COLUMNS,
    )
    assert joined.aliases == {
        "session_exercises": "session_exercises",
        "s": "session_exercises",
        "movements": "movements",
        "movements_1": "movements",
    }
    assert joined.refs == {
        ColumnRef("movements", "id", "join"),
        ColumnRef("session_exercises", "movement_id", "join"),
        ColumnRef("session_exercises", "session_id", "filter"),
    }
    assert joined.limit


def test_the_select_list_functions_likes_and_literals_are_not_searches() -> None:
    found = statement_columns(
        "SELECT movements.pattern, count(movements.id) FROM movements WHERE "
        "lower(movements.name) LIKE lower(?) AND movements.primary_muscle NOT LIKE 'x.pattern' "
        "GROUP BY movements.pattern",
        COLUMNS,
    )
    assert found.refs == frozenset()


def test_unqualified_columns_count_on_a_statement_of_one_table_only() -> None:
    one = statement_columns("select id from movements where pattern = ? and is_active", COLUMNS)
    assert one.refs == {
        ColumnRef("movements", "pattern", "filter"),
        ColumnRef("movements", "is_active", "filter"),
    }
    two = statement_columns(
        "select id from movements, sessions where pattern = ? and day_index = ?", COLUMNS
    )
    assert two.refs == frozenset()


def test_no_where_means_no_column_searched() -> None:
    assert statement_columns("SELECT count(*) AS count_1 FROM movements", COLUMNS).refs == set()


# -- the findings --------------------------------------------------------------


def _table(name: str, rows: int, **kw: object) -> TableInfo:
    defaults: dict[str, object] = {
        "schema": None,
        "columns": frozenset(COLUMNS[name]),
        "indexes": (("id",),),
        "foreign_keys": (),
    }
    defaults.update(kw)
    return TableInfo(name=name, rows=rows, **defaults)  # type: ignore[arg-type]


def _explained(sql: str, nodes: tuple[PlanNode, ...], operation: str = "op") -> ExplainedStatement:
    plan = StatementPlan(sql, "sqlite", sql, (operation,), nodes)
    return ExplainedStatement(plan, statement_columns(sql, COLUMNS))


SCAN_EXERCISES = (PlanNode(0, "SCAN", True, "session_exercises", detail="SCAN session_exercises"),)
FK = ForeignKeyInfo(("session_id",), "sessions", ("id",))


def test_an_unindexed_foreign_key_filtered_on_is_reported_with_its_create_index() -> None:
    tables = {"session_exercises": _table("session_exercises", 1312, foreign_keys=(FK,))}
    statement = _explained(LAZY_EXERCISES, SCAN_EXERCISES, "session_exercises_lazy")
    (finding,) = index_findings([statement], tables, {})
    assert finding.kind is FindingKind.UNINDEXED_FOREIGN_KEY
    assert finding.operation == "session_exercises_lazy"
    evidence = finding.evidence
    assert isinstance(evidence, IndexEvidence)
    assert (evidence.table, evidence.columns, evidence.rows) == (
        "session_exercises",
        ("session_id",),
        1312,
    )
    assert evidence.references == "sessions.id"
    assert evidence.create_index == (
        'CREATE INDEX "ix_session_exercises_session_id" ON "session_exercises" ("session_id")'
    )
    assert evidence.plan == "SCAN session_exercises"
    assert finding.message == (
        "unindexed foreign key: session_exercises.session_id (references sessions.id) has no "
        "index, and 1 statement filters or joins on it (session_exercises: 1,312 rows; plan: SCAN "
        "session_exercises); create one: CREATE INDEX "
        '"ix_session_exercises_session_id" ON "session_exercises" ("session_id")'
    )


def test_an_indexed_foreign_key_or_a_small_table_is_no_finding() -> None:
    statement = _explained(LAZY_EXERCISES, SCAN_EXERCISES)
    indexed = _table(
        "session_exercises", 50_000, foreign_keys=(FK,), indexes=(("session_id", "position"),)
    )
    small = _table("session_exercises", 999, foreign_keys=(FK,))
    assert index_findings([statement], {"session_exercises": indexed}, {}) == []
    assert index_findings([statement], {"session_exercises": small}, {}) == []
    # A foreign key no captured statement searches by is not reported either.
    unused = _explained("SELECT count(*) FROM session_exercises", SCAN_EXERCISES)
    big = _table("session_exercises", 50_000, foreign_keys=(FK,))
    assert index_findings([unused], {"session_exercises": big}, {}) == []


def test_a_postgres_create_index_names_the_schema_and_quotes_identifiers() -> None:
    table = _table("session_exercises", 10, schema="dbprobe")
    assert create_index_sql(table, ("session_id",)) == (
        'CREATE INDEX "ix_session_exercises_session_id" ON "dbprobe"."session_exercises" '
        '("session_id")'
    )
    odd = TableInfo('we"ird', None, 1, frozenset({"a b"}), (), ())
    assert create_index_sql(odd, ("a b",)) == 'CREATE INDEX "ix_we""ird_a b" ON "we""ird" ("a b")'
    long = TableInfo("t" * 60, None, 1, frozenset({"c"}), (), ())
    name = create_index_sql(long, ("c",)).split('"')[1]
    assert len(name) == 63


MUSCLE = "SELECT movements.id FROM movements WHERE movements.primary_muscle = ?"
ACTIVE = "SELECT movements.id FROM movements WHERE movements.is_active IS 1"
SCAN_MOVEMENTS = (PlanNode(0, "SCAN", True, "movements", detail="SCAN movements"),)


def test_a_sequential_scan_filtering_on_a_selective_unindexed_column_is_reported() -> None:
    tables = {"movements": _table("movements", 5000)}
    statements = [_explained(MUSCLE, SCAN_MOVEMENTS), _explained(ACTIVE, SCAN_MOVEMENTS)]
    assert seq_scan_candidates(statements, tables, min_rows=1000) == {
        ("movements", "primary_muscle"),
        ("movements", "is_active"),
    }
    distinct = {("movements", "primary_muscle"): 14, ("movements", "is_active"): 2}
    (finding,) = index_findings(statements, tables, distinct)
    assert finding.kind is FindingKind.SEQ_SCAN
    evidence = finding.evidence
    assert isinstance(evidence, IndexEvidence)
    assert (evidence.table, evidence.columns, evidence.distinct_values) == (
        "movements",
        ("primary_muscle",),
        14,
    )
    assert evidence.create_index == (
        'CREATE INDEX "ix_movements_primary_muscle" ON "movements" ("primary_muscle")'
    )
    assert finding.message.startswith(
        "sequential scan: 1 statement filters on movements.primary_muscle but read all 5,000 rows"
    )


def test_a_scan_the_planner_expects_to_keep_many_rows_is_no_finding() -> None:
    tables = {"movements": _table("movements", 5000)}
    many = (PlanNode(0, "Seq Scan", True, "movements", rows=2500.0),)
    few = (PlanNode(0, "Seq Scan", True, "movements", rows=300.0),)
    distinct = {("movements", "primary_muscle"): 14}
    assert index_findings([_explained(MUSCLE, many)], tables, distinct) == []
    assert len(index_findings([_explained(MUSCLE, few)], tables, distinct)) == 1


def test_an_indexed_column_a_whole_table_read_or_an_order_without_limit_is_no_finding() -> None:
    indexed = {"movements": _table("movements", 5000, indexes=(("id",), ("primary_muscle",)))}
    assert index_findings([_explained(MUSCLE, SCAN_MOVEMENTS)], indexed, {}) == []
    tables = {"movements": _table("movements", 5000)}
    whole = _explained("SELECT movements.id FROM movements", SCAN_MOVEMENTS)
    ordered = _explained(
        "SELECT movements.id FROM movements ORDER BY movements.name", SCAN_MOVEMENTS
    )
    assert index_findings([whole, ordered], tables, {}) == []
    top = _explained(
        "SELECT movements.id FROM movements ORDER BY movements.name LIMIT ?", SCAN_MOVEMENTS
    )
    (finding,) = index_findings([top], tables, {})
    assert "1 statement orders (with a LIMIT) on movements.name" in finding.message


def test_a_page_that_sorts_the_whole_table_is_a_sort_without_index() -> None:
    tables = {"movements": _table("movements", 5000)}
    page = "SELECT movements.id FROM movements ORDER BY movements.name LIMIT ? OFFSET ?"
    sqlite_sort = (*SCAN_MOVEMENTS, PlanNode(0, "USE", detail="USE TEMP B-TREE FOR ORDER BY"))
    postgres_sort = (
        PlanNode(0, "Limit"),
        PlanNode(1, "Sort", detail="Sort Key: movements.name"),
        PlanNode(2, "Seq Scan", True, "movements", rows=5000),
    )
    for nodes in (sqlite_sort, postgres_sort):
        (finding,) = index_findings([_explained(page, nodes)], tables, {})
        assert finding.kind is FindingKind.SORT_WITHOUT_INDEX
        assert finding.message.startswith(
            "sort without index: 1 statement orders (with a LIMIT) on movements.name but read "
            "and sorted all 5,000 rows of movements for the first few (plan: "
        )
        assert isinstance(finding.evidence, IndexEvidence)
        assert finding.evidence.create_index.endswith('ON "movements" ("name")')
    # Read in order without a sort (the planner walked another index): a scan, not a sort.
    (unsorted,) = index_findings([_explained(page, SCAN_MOVEMENTS)], tables, {})
    assert unsorted.kind is FindingKind.SEQ_SCAN


def test_a_column_reported_as_unindexed_foreign_key_is_not_reported_again_as_a_scan() -> None:
    tables = {"session_exercises": _table("session_exercises", 5000, foreign_keys=(FK,))}
    statement = _explained(LAZY_EXERCISES, SCAN_EXERCISES)
    distinct = {("session_exercises", "session_id"): 900}
    kinds = [f.kind for f in index_findings([statement], tables, distinct)]
    assert kinds == [FindingKind.UNINDEXED_FOREIGN_KEY]


def test_a_plan_round_trips_through_json() -> None:
    plan = StatementPlan(
        "SELECT ?",
        "postgresql",
        "SELECT $1",
        ("a", "b"),
        parse_postgres_plan(PG_BITMAP),
    )
    assert StatementPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    failed = StatementPlan("X", "sqlite", "X", ("a",), (), error="syntax error")
    assert StatementPlan.from_json(failed.to_json()) == failed
    assert "error" not in plan.to_json()
    assert failed.summary() == "not explained: syntax error"


def test_a_join_counts_only_in_a_statement_that_filters() -> None:
    tables = {
        "session_exercises": _table("session_exercises", 5000, foreign_keys=(FK,)),
        "sessions": _table("sessions", 10),
    }
    whole = _explained(
        "SELECT sessions.id FROM sessions JOIN session_exercises ON sessions.id = "
        "session_exercises.session_id",
        SCAN_EXERCISES,
    )
    # Every row of both tables is joined: an index would not spare a read.
    assert index_findings([whole], tables, {}) == []
    filtered = _explained(
        "SELECT sessions.id FROM sessions JOIN session_exercises ON sessions.id = "
        "session_exercises.session_id WHERE sessions.day_index = ?",
        SCAN_EXERCISES,
    )
    (finding,) = index_findings([filtered], tables, {})
    assert finding.kind is FindingKind.UNINDEXED_FOREIGN_KEY
