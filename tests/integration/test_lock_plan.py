"""The plan's lock report against real PostgreSQL: the lock modes the classifier states are the
ones the server takes (read from ``pg_locks`` inside the statement's transaction), and
``bazooka plan --migrate`` on a populated database at step 101 warns about the oracle_prices
index build and the fills change, with their sizes from the catalog."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import psycopg

from bazooka.postgres import migrator
from bazooka.postgres.connection import connect
from bazooka.postgres.lock_plan import Lock, classify_sql
from bazooka.postgres.migrations_source import bundled
from bazooka.settings import Settings
from tests.helpers import cli

# Tables the statements below act on: u referenced by t; t with a CHECK constraint c (NOT
# VALID), an index i and a NOT NULL column n; k without a primary key; a materialized view v.
FIXTURE = """
create table "u" ("id" uuid primary key);
create table "t" ("id" uuid primary key, "a" int, "b" text, "n" int not null, "uid" uuid);
alter table "t" add constraint "c" check ("a" > 0) not valid;
create index "i" on "t" ("a");
create table "k" ("id" int);
create materialized view "v" as select "id", "a" from "t";
"""

STATEMENTS = [
    'create table "x" ("id" int, "tid" uuid references "t" ("id"))',
    'create materialized view "w" as select * from "t" join "u" using ("id")',
    'create index "j" on "t" ("a")',
    'create unique index "j" on "v" ("id")',
    'drop index "i"',
    'drop table "k"',
    'drop materialized view "v"',
    'alter table "t" rename "b" to "bb"',
    'alter table "t" add column "z" decimal null',
    'alter table "t" add column "z" integer not null default \'0\'',
    'alter table "t" add column "z" text check ("z" in (\'X\', \'Y\')) null default null',
    'alter table "t" add column "z" uuid references "u" ("id")',
    'alter table "t" alter column "b" type varchar(255)',
    'alter table "t" alter column "a" set default 0',
    'alter table "t" alter column "a" drop default',
    'alter table "t" alter column "a" set not null',
    'alter table "t" alter column "n" drop not null',
    'alter table "t" drop column "b"',
    'alter table "t" drop constraint "c"',
    'alter table "t" add constraint "d" check ("a" < 10)',
    'alter table "t" add constraint "d" check ("a" < 10) not valid',
    'alter table "t" add constraint "f" foreign key ("uid") references "u" ("id")',
    'alter table "t" add constraint "f" foreign key ("uid") references "u" ("id") not valid',
    'alter table "k" add constraint "k_pkey" primary key ("id")',
    'alter table "t" add constraint "e" unique ("a")',
    'alter table "t" validate constraint "c"',
    'update "t" set "a" = 1',
    'delete from "t" where "a" = 2',
    'insert into "t" ("id", "n") values (gen_random_uuid(), 1)',
]
_MODES = {lock.value.title().replace(" ", "") + "Lock": lock for lock in Lock}


def _taken(conn: psycopg.Connection[tuple[Any, ...]], sql: str) -> dict[str, Lock]:
    """The strictest lock ``sql`` takes on each fixture table, seen from its own transaction
    (by oid, read before: a dropped table is gone from pg_class inside the transaction)."""
    oids = dict(
        conn.execute(
            "SELECT oid, relname FROM pg_class WHERE relname IN ('t', 'u', 'k', 'v')"
            " AND relnamespace = 'public'::regnamespace"
        ).fetchall()
    )
    with conn.transaction(force_rollback=True):
        conn.execute(sql)
        rows = conn.execute(
            "SELECT relation, mode FROM pg_locks"
            " WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = ANY(%s)",
            (list(oids),),
        ).fetchall()
    taken: dict[str, Lock] = {}
    for oid, mode in rows:
        table = oids[oid]
        lock = _MODES[mode]
        if table not in taken or lock.strength > taken[table].strength:
            taken[table] = lock
    return taken


def test_the_stated_lock_modes_are_what_postgresql_takes(db_settings: Settings) -> None:
    with connect(db_settings) as conn:
        conn.execute(FIXTURE)
        for sql in STATEMENTS:
            [statement] = classify_sql(sql, index_owner={"i": "t"})
            assert statement.unknown is None, sql
            stated = {t.table: t.lock for t in statement.tables if not t.new}
            taken = _taken(conn, sql)
            # Every table the classifier names is locked in the stated mode, and it names every
            # fixture table the statement locks in more than ACCESS SHARE.
            assert {t: taken.get(t) for t in stated} == stated, sql
            stronger = {
                t for t, lock in taken.items() if lock.strength > Lock.ACCESS_SHARE.strength
            }
            assert stronger <= set(stated), sql


def _populate(conn: psycopg.Connection[tuple[Any, ...]], fills: int, prices: int) -> None:
    """``fills`` fills and ``prices`` oracle prices on one block, subaccount and market."""
    conn.execute(
        """
        INSERT INTO blocks ("blockHeight", "time") VALUES (1, now());
        INSERT INTO tendermint_events (id, "blockHeight", "transactionIndex", "eventIndex")
            VALUES ('\\x01', 1, 0, 0);
        INSERT INTO subaccounts (id, address, "subaccountNumber", "updatedAt", "updatedAtHeight")
            VALUES ('00000000-0000-0000-0000-000000000001', 'dydx1', 0, now(), 1);
        INSERT INTO markets (id, pair, exponent, "minPriceChangePpm") VALUES (0, 'BTC-USD', -5, 1);
        """
    )
    conn.execute(
        """
        INSERT INTO fills (id, "subaccountId", side, liquidity, type, "clobPairId", size, price,
                           "quoteAmount", "eventId", "transactionHash", "createdAt",
                           "createdAtHeight")
        SELECT gen_random_uuid(), '00000000-0000-0000-0000-000000000001', 'BUY', 'TAKER',
               'LIMIT', 0, 1, 1, 1, '\\x01', 'hash', now(), 1
          FROM generate_series(1, %s)
        """,
        (fills,),
    )
    conn.execute(
        """
        INSERT INTO oracle_prices (id, "marketId", price, "effectiveAt", "effectiveAtHeight")
        SELECT gen_random_uuid(), 0, g, now(), 1 FROM generate_series(1, %s) g
        """,
        (prices,),
    )
    conn.execute("ANALYZE fills; ANALYZE oracle_prices")


RUN_WITHOUT_PGLAST = """
import io, sys
from bazooka.cli import main
out = io.StringIO()
code = main(["run", "--migrate", "--json"], stdout=out, stderr=sys.stderr)
assert "pglast" not in sys.modules, "a run imported pglast"
print(out.getvalue())
sys.exit(code)
"""
ORACLE_INDEX = "20260115131341_create_index_oracle_prices_market_height_desc_inc_price.js"
CLOSED_PNL = "20251015150717_closed_pnl.js"


def test_plan_at_step_101_warns_about_the_oracle_index_and_the_fills_check(
    scratch_db: dict[str, str], db_settings: Settings
) -> None:
    with connect(db_settings) as conn:
        migrator.migrate(conn, bundled()[:101])
        _populate(conn, fills=3000, prices=2000)
        sizes: dict[str, int] = dict(
            conn.execute(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class"
                " WHERE relname IN ('fills', 'oracle_prices') AND relkind = 'r'"
            ).fetchall()
        )
    env = {**scratch_db, "BAZOOKA_PLAN_LOCK_WARN_ROWS": "1000"}
    done = cli(env, "plan", "--migrate", "--json")
    assert done.returncode == 0, done.stderr
    [step] = json.loads(done.stdout)["steps"]
    locks = step["details"]["locks"]
    assert locks["thresholds"] == {"rows": 1000, "bytes": 1 << 30}
    assert locks["unknown_statements"] == 0
    assert [m["migration"] for m in locks["migrations"]] == [m.name for m in bundled()[101:]]
    assert locks["table_sizes"]["fills"] == {"estimated_rows": 3000, "bytes": sizes["fills"]}
    assert locks["table_sizes"]["oracle_prices"] == {
        "estimated_rows": 2000,
        "bytes": sizes["oracle_prices"],
    }
    warned = [(w["migration"], w["table"], w["lock"], w["work"]) for w in locks["warnings"]]
    assert warned == [
        (CLOSED_PNL, "fills", "ACCESS EXCLUSIVE", "scan"),
        (ORACLE_INDEX, "oracle_prices", "SHARE", "index build"),
    ]
    fills, oracle = locks["warnings"]
    assert fills["estimated_rows"] == 3000 and fills["blocks"] == "reads and writes"
    assert oracle["estimated_rows"] == 2000 and oracle["blocks"] == "writes"
    assert oracle["sql"].startswith("create index oracle_prices_market_height_desc_inc_price")

    text = cli(env, "plan", "--migrate")
    assert text.returncode == 0, text.stderr
    flat = " ".join(text.stdout.split())  # the console wraps long lines
    assert "would apply 12 migration(s)" in flat and "2 lock warning(s)" in flat
    assert "lock warnings (2; tables of at least 1,000 rows" in flat
    assert (
        f"{ORACLE_INDEX} statement 1 (create index oracle_prices_market_height_desc_inc_price"
        in flat
    )
    assert "index build of oracle_prices (~2,000 rows" in flat
    assert "under SHARE lock, which blocks writes on oracle_prices" in flat
    assert f"{CLOSED_PNL} statement 2 (alter table" in flat
    assert "scan of fills (~3,000 rows" in flat
    assert "under ACCESS EXCLUSIVE lock, which blocks reads and writes on fills" in flat

    # Above the sizes: no warning; and a real run never builds the report.
    quiet = cli({**scratch_db}, "plan", "--migrate", "--json")
    assert json.loads(quiet.stdout)["steps"][0]["details"]["locks"]["warnings"] == []
    ran = subprocess.run(  # its own process: it must never import the plan's parser
        [sys.executable, "-c", RUN_WITHOUT_PGLAST],
        env=scratch_db,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "locks" not in json.loads(ran.stdout)["steps"][0]["details"]

    # A rollback plan reports its downs, newest first, with the catalog resolving DROP INDEX.
    back = cli(scratch_db, "plan", "--rollback", "--force", "--json")
    assert back.returncode == 0, back.stderr
    down = json.loads(back.stdout)["steps"][0]["details"]["locks"]
    assert [m["migration"] for m in down["migrations"]] == [m.name for m in bundled()[:100:-1]]
    assert down["unknown_statements"] == 0
    [oracle_down] = [m for m in down["migrations"] if m["migration"] == ORACLE_INDEX]
    [drop] = oracle_down["statements"]
    assert drop["kind"] == "DROP INDEX"
    assert [(t["table"], t["lock"], t["work"]) for t in drop["tables"]] == [
        ("oracle_prices", "ACCESS EXCLUSIVE", "none")
    ]


def test_a_table_never_analyzed_says_so_and_is_judged_by_its_bytes(
    scratch_db: dict[str, str], db_settings: Settings
) -> None:
    with connect(db_settings) as conn:
        migrator.migrate(conn, bundled()[:101])
    env = {**scratch_db, "BAZOOKA_PLAN_LOCK_WARN_BYTES": "0"}
    done = cli(env, "plan", "--migrate", "--json")
    locks = json.loads(done.stdout)["steps"][0]["details"]["locks"]
    assert locks["table_sizes"]["oracle_prices"]["estimated_rows"] == "unknown: never analyzed"
    assert {w["table"] for w in locks["warnings"]} >= {"fills", "oracle_prices"}


def test_a_table_locked_by_a_running_migration_fails_the_report_clearly_not_for_ever(
    scratch_db: dict[str, str], db_settings: Settings
) -> None:
    with connect(db_settings) as conn, connect(db_settings) as holder:
        migrator.migrate(conn, bundled()[:101])
        with holder.transaction():
            holder.execute("LOCK TABLE oracle_prices IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            done = cli(scratch_db, "plan", "--migrate", "--json")
            waited = time.monotonic() - started
    assert done.returncode == 1
    assert "a table it needs has been locked for more than 5000 ms" in done.stdout
    assert 5 <= waited < 30
