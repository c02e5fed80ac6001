"""The plan's lock report: each statement kind the bundled migrations use, classified with
PostgreSQL's own parser (pglast) into the tables it locks, the lock mode (PostgreSQL 15's
documentation) and the work done under it; the warnings; and pglast kept off the run path."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bazooka.postgres.lock_plan import (
    Lock,
    MigrationLocks,
    TableSize,
    Work,
    classify,
    classify_sql,
    find_warnings,
    lock_report,
)
from bazooka.postgres.migrations_source import Direction, bundled

AX, SRX, SHARE, SUX, RX, AS = (
    Lock.ACCESS_EXCLUSIVE,
    Lock.SHARE_ROW_EXCLUSIVE,
    Lock.SHARE,
    Lock.SHARE_UPDATE_EXCLUSIVE,
    Lock.ROW_EXCLUSIVE,
    Lock.ACCESS_SHARE,
)
NONE, SCAN, REWRITE, BUILD, CONCURRENT = (
    Work.NONE,
    Work.SCAN,
    Work.REWRITE,
    Work.INDEX_BUILD,
    Work.CONCURRENT_INDEX_BUILD,
)


def test_every_statement_of_every_bundled_migration_is_understood_both_ways() -> None:
    ups = classify(bundled(), Direction.UP, index_owner={})
    downs = classify(tuple(reversed(bundled())), Direction.DOWN, index_owner={})
    for direction, report in (("up", ups), ("down", downs)):
        unknown = [
            (m.name, s.number, s.kind, s.unknown)
            for m in report
            for s in m.statements
            if s.unknown is not None
        ]
        assert unknown == [], direction
        assert sum(len(m.statements) for m in report) > 100


# (SQL, expected kind, [(table, lock, work)]): one case per kind of statement or ALTER TABLE
# subcommand the bundled migrations use, plus the variants that change the answer.
KINDS = [
    ('create table "t" ("id" uuid primary key)', "CREATE TABLE", [("t", AX, NONE)]),
    (
        'create table "c" ("id" int, "tid" uuid references "t" ("id"))',
        "CREATE TABLE",
        [("c", AX, NONE), ("t", SRX, NONE)],
    ),
    (
        'create materialized view "v" as select * from "t" join "u" using ("id")',
        "CREATE MATERIALIZED VIEW",
        [("v", AX, NONE), ("t", AS, SCAN), ("u", AS, SCAN)],
    ),
    ('create index "i" on "t" ("a")', "CREATE INDEX", [("t", SHARE, BUILD)]),
    ('create unique index "i" on "v" ("a")', "CREATE UNIQUE INDEX", [("v", SHARE, BUILD)]),
    (
        'create index concurrently "i" on "t" ("a")',
        "CREATE INDEX CONCURRENTLY",
        [("t", SUX, CONCURRENT)],
    ),
    ('drop index "i"', "DROP INDEX", [("t", AX, NONE)]),
    ('drop index concurrently if exists "i"', "DROP INDEX CONCURRENTLY", [("t", SUX, NONE)]),
    ('drop table if exists "t" cascade', "DROP TABLE", [("t", AX, NONE)]),
    ('drop materialized view if exists "v"', "DROP MATERIALIZED VIEW", [("v", AX, NONE)]),
    ('alter table "t" rename "a" to "b"', "ALTER TABLE RENAME COLUMN", [("t", AX, NONE)]),
    ('alter table "t" add column "a" decimal null', "ALTER TABLE ADD COLUMN", [("t", AX, NONE)]),
    (
        'alter table "t" add column "a" integer not null default \'0\'',
        "ALTER TABLE ADD COLUMN",
        [("t", AX, NONE)],
    ),
    ('alter table "t" add column "a" text not null', "ALTER TABLE ADD COLUMN", [("t", AX, SCAN)]),
    (
        'alter table "t" add column "a" text check ("a" in (\'X\', \'Y\')) null default null',
        "ALTER TABLE ADD COLUMN",
        [("t", AX, SCAN)],
    ),
    (
        'alter table "t" add column "a" uuid default gen_random_uuid()',
        "ALTER TABLE ADD COLUMN",
        [("t", AX, REWRITE)],
    ),
    (
        'alter table "t" add column "a" timestamptz default now()',
        "ALTER TABLE ADD COLUMN",
        [("t", AX, NONE)],
    ),
    ('alter table "t" add column "id" bigserial', "ALTER TABLE ADD COLUMN", [("t", AX, REWRITE)]),
    (
        'alter table "t" add column "a" int references "u" ("id")',
        "ALTER TABLE ADD COLUMN",
        [("t", AX, SCAN), ("u", SRX, NONE)],
    ),
    (
        'alter table "t" alter column "a" type varchar(255)',
        "ALTER TABLE ALTER COLUMN TYPE",
        [("t", AX, REWRITE)],
    ),
    (
        'alter table "t" alter column "a" set default CURRENT_TIMESTAMP',
        "ALTER TABLE ALTER COLUMN SET/DROP DEFAULT",
        [("t", AX, NONE)],
    ),
    (
        'alter table "t" alter column "a" drop default',
        "ALTER TABLE ALTER COLUMN SET/DROP DEFAULT",
        [("t", AX, NONE)],
    ),
    (
        'alter table "t" alter column "a" set not null',
        "ALTER TABLE ALTER COLUMN SET NOT NULL",
        [("t", AX, SCAN)],
    ),
    (
        'alter table "t" alter column "a" drop not null',
        "ALTER TABLE ALTER COLUMN DROP NOT NULL",
        [("t", AX, NONE)],
    ),
    ('alter table "t" drop column "a"', "ALTER TABLE DROP COLUMN", [("t", AX, NONE)]),
    ('alter table "t" drop constraint "c"', "ALTER TABLE DROP CONSTRAINT", [("t", AX, NONE)]),
    (
        'alter table "t" add constraint "t_a_check" check ("a" > 0)',
        "ALTER TABLE ADD CONSTRAINT CHECK",
        [("t", AX, SCAN)],
    ),
    (
        'alter table "t" add constraint "t_a_check" check ("a" > 0) not valid',
        "ALTER TABLE ADD CONSTRAINT CHECK NOT VALID",
        [("t", AX, NONE)],
    ),
    (
        'alter table "t" add constraint "t_u_foreign" foreign key ("uid") references "u" ("id")',
        "ALTER TABLE ADD CONSTRAINT FOREIGN KEY",
        [("t", SRX, SCAN), ("u", SRX, NONE)],
    ),
    (
        'alter table "t" add constraint "f" foreign key ("uid") references "u" ("id") not valid',
        "ALTER TABLE ADD CONSTRAINT FOREIGN KEY NOT VALID",
        [("t", SRX, NONE), ("u", SRX, NONE)],
    ),
    (
        'alter table "t" add constraint "t_pkey" primary key ("id")',
        "ALTER TABLE ADD CONSTRAINT PRIMARY KEY",
        [("t", AX, BUILD)],
    ),
    (
        'alter table "t" add constraint "t_a_unique" unique ("a")',
        "ALTER TABLE ADD CONSTRAINT UNIQUE",
        [("t", AX, BUILD)],
    ),
    (
        'alter table "t" validate constraint "t_a_check"',
        "ALTER TABLE VALIDATE CONSTRAINT",
        [("t", SUX, SCAN)],
    ),
    ('update "t" set "a" = 1', "UPDATE without WHERE", [("t", RX, SCAN)]),
    ('update "t" set "a" = 1 where "id" = 2', "UPDATE", [("t", RX, NONE)]),
    ('delete from "t"', "DELETE without WHERE", [("t", RX, SCAN)]),
    ('insert into "t" ("a") values (\'x\')', "INSERT", [("t", RX, NONE)]),
]


@pytest.mark.parametrize(("sql", "kind", "tables"), KINDS, ids=[k[1] + ": " + k[0] for k in KINDS])
def test_lock_mode_and_work_per_statement_kind(
    sql: str, kind: str, tables: list[tuple[str, Lock, Work]]
) -> None:
    [statement] = classify_sql(sql, index_owner={"i": "t"})
    assert statement.unknown is None
    assert statement.kind == kind
    assert [(t.table, t.lock, t.work) for t in statement.tables] == tables


def test_several_subcommands_take_the_strictest_lock_and_the_heaviest_work() -> None:
    [statement] = classify_sql(
        'alter table "t" add constraint "f" foreign key ("u") references "u" ("id") not valid, '
        'alter column "a" type bigint'
    )
    assert [(t.table, t.lock, t.work) for t in statement.tables] == [
        ("t", AX, REWRITE),
        ("u", SRX, NONE),
    ]


def test_what_is_not_understood_is_unknown_never_guessed() -> None:
    function, tablespace, drop_index, missing = classify_sql(
        "create function f() returns int language sql as 'select 1';"
        'alter table "t" set tablespace "fast";'
        'drop index "i";'
        'drop index "gone";',
        index_owner=None,
    )
    assert function.unknown == "statement kind CreateFunctionStmt not classified"
    assert tablespace.unknown == "ALTER TABLE AT_SetTableSpace not classified"
    assert drop_index.unknown is not None and "catalog was not read" in drop_index.unknown
    assert missing.unknown is not None
    [would_fail] = classify_sql('drop index "gone"', index_owner={})
    assert would_fail.unknown is not None and "would fail" in would_fail.unknown
    [nothing] = classify_sql('drop index if exists "gone"', index_owner={})
    assert nothing.unknown is None and nothing.tables == ()
    assert "does nothing" in nothing.kind
    [broken] = classify_sql("alter tabel t")
    assert broken.kind == "unparsable" and broken.unknown is not None


def test_tables_created_earlier_in_the_batch_are_new_and_index_names_resolve_in_it() -> None:
    [first, second] = classify(
        [m for m in bundled() if m.name.startswith("20220719024035_create_block_table")][:1]
        + [m for m in bundled() if m.name.startswith("20220719024039_")]
    )
    assert first.statements[0].tables[0].new
    created = {t.table for s in second.statements for t in s.tables if t.new}
    assert "subaccounts" in created  # created by the same migration, then indexed
    [_create, index, drop] = classify_sql(
        'create table "x" ("a" int); create index "xi" on "x" ("a"); drop index "xi"'
    )
    assert index.tables[0].new and index.tables[0].work is BUILD
    assert drop.unknown is None and drop.tables[0].table == "x"


def _named(prefix: str) -> MigrationLocks:
    [migration] = classify([m for m in bundled() if m.name.startswith(prefix)], index_owner={})
    return migration


def test_the_two_heavy_migrations_of_the_newest_twelve() -> None:
    oracle = _named("20260115131341_")
    [index] = oracle.statements
    assert [(t.table, t.lock, t.work) for t in index.tables] == [("oracle_prices", SHARE, BUILD)]
    assert index.text.startswith("create index oracle_prices_market_height_desc_inc_price on")
    pnl = _named("20251015150717_closed_pnl")
    positions, fills = pnl.statements
    assert [(t.table, t.lock, t.work) for t in positions.tables] == [
        ("perpetual_positions", AX, NONE)
    ]
    assert [(t.table, t.lock, t.work) for t in fills.tables] == [("fills", AX, SCAN)]


def test_warnings_name_migration_statement_table_size_lock_and_what_it_blocks() -> None:
    newest = [m for m in bundled() if m.name >= "20251015150717"]
    classified = classify(newest, index_owner={})
    big = TableSize(rows=5_000_000, bytes=2 << 30)
    sizes = {
        "fills": big,
        "oracle_prices": TableSize(rows=None, bytes=3 << 30),  # never analyzed: by bytes
        "perpetual_positions": big,  # an ADD COLUMN without scan: no warning
        "orders": big,
    }
    warnings = list(find_warnings(classified, sizes, 1_000_000, 1 << 30))
    assert [(w.migration, w.table, w.lock, w.work) for w in warnings] == [
        ("20251015150717_closed_pnl.js", "fills", AX, SCAN),
        (
            "20260115131341_create_index_oracle_prices_market_height_desc_inc_price.js",
            "oracle_prices",
            SHARE,
            BUILD,
        ),
    ]
    assert warnings[0].message == (
        '20251015150717_closed_pnl.js statement 2 (alter table "fills" add column '
        '"positionSizeBefore" decimal null, add column "entryPriceBefore" dec…): scan of fills '
        "(~5,000,000 rows, 2.0 GiB) under ACCESS EXCLUSIVE lock, which "
        "blocks reads and writes on fills until it ends"
    )
    assert "rows unknown (never analyzed), 3.0 GiB" in warnings[1].message
    assert "blocks writes on oracle_prices" in warnings[1].message
    small = {name: TableSize(rows=999_999, bytes=(1 << 30) - 1) for name in sizes}
    assert list(find_warnings(classified, small, 1_000_000, 1 << 30)) == []


def test_lock_report_of_an_empty_schema_has_no_sizes_and_no_warnings() -> None:
    report = lock_report(None, bundled(), warn_rows=0, warn_bytes=0)
    assert report.sizes == {} and report.warnings == () and report.unknown_count == 0
    assert report.to_dict()["thresholds"] == {"rows": 0, "bytes": 0}


def test_lock_modes_block_what_the_conflict_table_says() -> None:
    assert {lock: lock.blocks for lock in Lock} == {
        Lock.ACCESS_SHARE: None,
        Lock.ROW_SHARE: None,
        Lock.ROW_EXCLUSIVE: None,
        Lock.SHARE_UPDATE_EXCLUSIVE: None,
        Lock.SHARE: "writes",
        Lock.SHARE_ROW_EXCLUSIVE: "writes",
        Lock.EXCLUSIVE: "writes",
        Lock.ACCESS_EXCLUSIVE: "reads and writes",
    }


def test_the_run_path_never_imports_pglast() -> None:
    """pglast costs ~50 ms of import: a run (CLI or Lambda) must not pay it."""
    probe = (
        "import sys\n"
        "import bazooka.cli, bazooka.lambda_handler, bazooka.runner, bazooka.steps\n"
        "from bazooka.postgres import migrator, baseline, maintenance, verify\n"
        "from bazooka.postgres.migrations_source import bundled\n"
        "migrator.plan_migrate_from_empty(bundled())\n"
        "assert 'pglast' not in sys.modules, 'pglast imported'\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)
