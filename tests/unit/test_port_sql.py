"""The porting tool's pure parts: inlining bindings, reviewing captured SQL, writing files,
choosing what to port (scripts/port_migrations.py, tools/porting/)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazooka.postgres.sqlsplit import split_statements, words
from tools.porting.base import UsageError
from tools.porting.port import make_plan
from tools.porting.sql import (
    InlineError,
    Statement,
    first_difference,
    first_statement_difference,
    inline,
    render,
    resolve_name,
    review,
)


def test_inline_replaces_parameters_outside_literals_only() -> None:
    text = (
        'INSERT INTO "t$1" (a, b) VALUES ($1, $2) -- $1 in a comment\n'
        "/* $2 /* nested $1 */ */ ON CONFLICT DO NOTHING "
        "RETURNING '$1', E'\\'$2', $$ $1 $$, $q$$2$q$"
    )
    assert inline(text, ["x", None]) == (
        "INSERT INTO \"t$1\" (a, b) VALUES ('x', NULL) -- $1 in a comment\n"
        "/* $2 /* nested $1 */ */ ON CONFLICT DO NOTHING "
        "RETURNING '$1', E'\\'$2', $$ $1 $$, $q$$2$q$"
    )


def test_inline_quotes_values_and_repeats_parameters() -> None:
    assert inline("SELECT $1, $1, $2", ["it's", "$2 or ?"]) == (
        "SELECT 'it''s', 'it''s', '$2 or ?'"
    )
    assert inline("SELECT 1", []) == "SELECT 1"


@pytest.mark.parametrize(
    ("text", "values", "problem"),
    [
        ("SELECT $1", [{"bytes_hex": "00ff"}], "binary"),
        ("SELECT $1, $3", ["a", "b", "c"], "never used"),
        ("SELECT $2", ["a"], "has no value"),
    ],
)
def test_inline_refuses_what_it_cannot_write_faithfully(
    text: str, values: list[object], problem: str
) -> None:
    with pytest.raises(InlineError, match=problem):
        inline(text, values)


@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=4))
def test_an_inlined_value_is_one_literal_whatever_it_holds(values: list[str | None]) -> None:
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    sql = inline(f"SELECT {params}; SELECT 2", values)
    # Whatever the values hold (quotes, $n, --, ;), only the code outside them is code.
    assert [w for w in words(sql) if w != "null"] == ["select", "select"]
    assert len(split_statements(sql)) == 2


def stmt(text: str, *, returned_rows: bool = False, error: str | None = None) -> Statement:
    return Statement(text=text, values=[], returned_rows=returned_rows, error=error)


def test_review_lets_ddl_through_even_when_it_holds_a_select() -> None:
    statements = [
        stmt('create table "a" ("id" uuid)'),
        stmt("CREATE MATERIALIZED VIEW v AS SELECT * FROM a WHERE x > now()"),
        stmt("ALTER TABLE a ADD CONSTRAINT c CHECK (x IN ('SELECT'))"),
        stmt("-- a comment\nDROP INDEX CONCURRENTLY IF EXISTS i"),
    ]
    assert review(statements, "up") == ([], [])


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        (stmt('select "id" from "t"', returned_rows=True), "reads data"),
        (stmt("WITH x AS (SELECT 1) SELECT * FROM x"), "reads data"),
        (stmt("INSERT INTO t (a) SELECT a FROM u"), "reads rows to change rows"),
        (stmt("UPDATE t SET a = 1 RETURNING id", returned_rows=True), "reads data"),
        (stmt("DO $$ BEGIN PERFORM 1; END $$"), "(DO) may read data"),
        (stmt("ALTER TABLE t ADD COLUMN c text", error="boom"), "errors"),
        (Statement("SELECT $1", [{"bytes_hex": "00"}]), "cannot inline"),
        (stmt("CREATE ROLE readers NOLOGIN"), "cluster-wide"),
        (stmt('GRANT "readers" TO "dydx_dev"'), "cluster-wide"),
        (stmt("GRANT CONNECT ON DATABASE dydx_dev TO readers"), "cluster-wide"),
        (stmt("ALTER DATABASE dydx_dev SET work_mem = '64MB'"), "cluster-wide"),
    ],
)
def test_review_flags_what_needs_a_person(statement: Statement, reason: str) -> None:
    flags, _ = review([stmt("create table t (a int)"), statement], "up")
    assert len(flags) >= 1 and reason in flags[0] and "up statement 2" in flags[0]


def test_review_notes_constant_row_changes_without_flagging_them() -> None:
    flags, notes = review([Statement("INSERT INTO k (a) VALUES ($1)", ["x"])], "down")
    assert flags == []
    assert notes and "changes rows" in notes[0] and "VALUES ('x')" in notes[0]


def test_render_writes_the_marker_and_terminates_every_statement() -> None:
    statements = [
        stmt('create table "a" ("id" uuid)'),
        stmt("\n  CREATE INDEX CONCURRENTLY i ON a (id); -- trailing comment\n  "),
        stmt("   "),
        Statement("INSERT INTO a VALUES ($1)", ["x;y"]),
    ]
    text = render(statements, transaction=False)
    assert text.splitlines()[0] == "-- bazooka:no-transaction"
    assert text == (
        "-- bazooka:no-transaction\n"
        'create table "a" ("id" uuid);\n'
        "CREATE INDEX CONCURRENTLY i ON a (id); -- trailing comment\n;\n"
        "INSERT INTO a VALUES ('x;y');\n"
    )
    assert render(statements, transaction=True).startswith('create table "a"')
    assert render([], transaction=True) == "-- Knex sent no statement in this direction.\n"


def test_first_statement_difference_points_at_the_change() -> None:
    a = [stmt("create table t (d text default '2026-01-01T00:00:00.001Z')")]
    b = [stmt("create table t (d text default '2026-01-01T00:00:00.002Z')")]
    assert "00.001Z" in (first_statement_difference(a, b) or "")
    assert first_statement_difference(a, a) is None
    assert first_statement_difference(a, [*a, *a]) == "1 statements, then 2"


def test_first_difference_shows_a_few_lines_of_each_dump_from_where_they_differ() -> None:
    knex = "-- comment\nCREATE TABLE t (\n    a text\n);\nALTER TABLE t ADD CONSTRAINT c;\n"
    ours = "CREATE TABLE t (\n    a text,\n    CONSTRAINT c\n);\n"
    assert first_difference(knex, ours) == (
        "first difference: Knex has `a text ⏎ ); ⏎ ALTER TABLE t ADD CONSTRAINT c;`; "
        "Bazooka has `a text, ⏎ CONSTRAINT c ⏎ );`"
    )
    assert first_difference(knex, knex + "\n") == "the dumps differ only in whitespace"


UPSTREAM = ["1_a.js", "2_b.js", "3_c.ts.js", "4_d.js"]


def test_plan_ports_every_missing_migration_in_name_order() -> None:
    plan = make_plan(UPSTREAM, ["1_a.js", "2_b.js"], only=[], check=[])
    assert plan.order == UPSTREAM
    assert [plan.action[n] for n in plan.order] == ["bundled", "bundled", "port", "port"]
    assert plan.later == [] and plan.bundled_only == []


def test_plan_only_stops_at_the_last_requested_and_refuses_gaps() -> None:
    plan = make_plan(UPSTREAM, ["1_a.js"], only=["2_b.js"], check=[])
    assert plan.order == ["1_a.js", "2_b.js"] and plan.later == ["3_c.ts.js", "4_d.js"]
    with pytest.raises(UsageError, match=r"2_b.js: upstream before 3_c.ts.js, not bundled"):
        make_plan(UPSTREAM, ["1_a.js"], only=["3_c.ts.js"], check=[])
    with pytest.raises(UsageError, match="already bundled; verify it with --check"):
        make_plan(UPSTREAM, ["1_a.js"], only=["1_a.js"], check=[])


def test_plan_check_verifies_bundled_ones_and_ports_nothing_else() -> None:
    plan = make_plan(UPSTREAM, ["1_a.js", "2_b.js", "9_local.js"], only=[], check=["2_b.js"])
    assert plan.order == ["1_a.js", "2_b.js"] and plan.action["2_b.js"] == "check"
    assert plan.bundled_only == ["9_local.js"]
    with pytest.raises(UsageError, match="both upstream and bundled"):
        make_plan(UPSTREAM, ["1_a.js"], only=[], check=["2_b.js"])


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("20230110150025_create_markets_table.ts.js", "20230110150025_create_markets_table.ts.js"),
        ("20230110150025_create_markets_table.ts.ts", "20230110150025_create_markets_table.ts.js"),
        ("20230110150025_create_markets_table.ts", "20230110150025_create_markets_table.ts.js"),
        ("some/dir/20230111_b.ts", "20230111_b.js"),
        ("20230111_b.up.sql", "20230111_b.js"),
        ("20230111_b", "20230111_b.js"),
        ("20230111", "20230111_b.js"),
    ],
)
def test_resolve_name_accepts_every_spelling(argument: str, expected: str) -> None:
    names = ["20230110150025_create_markets_table.ts.js", "20230111_b.js", "20230112_c.js"]
    assert resolve_name(argument, names) == expected


def test_resolve_name_refuses_unknown_names() -> None:
    with pytest.raises(UsageError, match="matches no"):
        resolve_name("20990101_nope", ["20230111_b.js"])


def test_review_lets_privileges_and_comments_on_objects_through() -> None:
    statements = [
        stmt("GRANT SELECT ON port_levels TO readers"),
        stmt("GRANT USAGE ON SCHEMA public TO readers"),
        stmt("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO readers"),
        stmt("REVOKE ALL ON FUNCTION f() FROM PUBLIC"),
        stmt('comment on column "port_widgets"."size" is \'grams\''),
        stmt("ALTER TABLE port_levels OWNER TO readers"),
    ]
    assert review(statements, "up") == ([], [])
