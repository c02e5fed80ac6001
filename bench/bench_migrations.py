"""Whole-process timings of migrate, rollback and clear_db against the local PostgreSQL.

    eval "$(python3 scripts/services.py env)"
    .venv/bin/python bench/bench_migrations.py [--runs 5] [--rows 1000000]

Each timed run is a whole `bazooka` process (start Python, import, connect, work, exit), as an
operator or Lambda runs it; set-up (schema reset, migrating before a rollback, seeding rows)
happens outside the timing. The baseline is `psql -f` of the final schema (the project's own
normalised snapshot, identical to the reference dump) into an empty schema, measured in the
same run, so the ratio does not depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tests" / "snapshots" / "schema.sql"
# The console script operators run (`bazooka ...`), installed next to this interpreter.
BAZOOKA = [str(Path(sys.executable).parent / "bazooka")]


def admin_dsn(env: dict[str, str], dbname: str) -> str:
    return (
        f"host={env.get('DB_HOSTNAME', 'localhost')} port={env.get('DB_PORT', '5435')} "
        f"dbname={dbname} user={env.get('DB_USERNAME', 'dydx_dev')} "
        f"password={env.get('DB_PASSWORD', 'dydxserver123')}"
    )


def sql(env: dict[str, str], statement: str) -> None:
    with psycopg.connect(admin_dsn(env, env["DB_NAME"]), autocommit=True) as conn:
        conn.execute(statement.encode())


def reset(env: dict[str, str]) -> None:
    sql(env, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def bazooka(env: dict[str, str], *flags: str) -> list[str]:
    return [*BAZOOKA, "run", "--json", *flags]


def psql_schema(env: dict[str, str]) -> list[str]:
    return [
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-o",
        "/dev/null",
        "-h",
        env.get("DB_HOSTNAME", "localhost"),
        "-p",
        env.get("DB_PORT", "5435"),
        "-U",
        env.get("DB_USERNAME", "dydx_dev"),
        "-d",
        env["DB_NAME"],
        "-f",
        str(SCHEMA),
    ]


SEED = """
INSERT INTO subaccounts (id, address, "subaccountNumber", "updatedAt", "updatedAtHeight")
SELECT md5('s' || i)::uuid, 'dydx1bench' || (i % 5000), i / 5000, now(), 1
FROM generate_series(1, {subaccounts}) i;

INSERT INTO orders (id, "subaccountId", "clientId", "clobPairId", side, size, "totalFilled", price,
    type, status, "timeInForce", "reduceOnly", "orderFlags", "goodTilBlockTime", "clientMetadata",
    "updatedAt", "updatedAtHeight")
SELECT md5('o' || i)::uuid, md5('s' || (1 + i % {subaccounts}))::uuid, i, i % 8, 'BUY', 1, 0, 100,
    'LIMIT', 'OPEN', 'GTT', false, 64, now() + interval '1 day', 0, now(), 1
FROM generate_series(1, {orders}) i;

INSERT INTO pnl_ticks (id, "subaccountId", equity, "totalPnl", "netTransfers", "createdAt",
    "blockHeight", "blockTime")
SELECT md5('p' || i)::uuid, md5('s' || (1 + i % {subaccounts}))::uuid, 1, 1, 1, now(), i, now()
FROM generate_series(1, {pnl_ticks}) i;

INSERT INTO candles (id, "startedAt", ticker, resolution, low, high, open, close,
    "baseTokenVolume", "usdVolume", trades, "startingOpenInterest")
SELECT md5('c' || i)::uuid, now() - i * interval '1 minute', 'BTC-USD', '1MIN', 1, 2, 1, 2, 1, 1,
    1, 1
FROM generate_series(1, {candles}) i;
"""


def seed(env: dict[str, str], rows: int) -> int:
    counts = {
        "subaccounts": rows // 20,
        "orders": rows * 4 // 10,
        "pnl_ticks": rows * 3 // 10,
        "candles": rows * 25 // 100,
    }
    sql(env, SEED.format(**counts))
    return sum(counts.values())


def measure(
    label: str, runs: int, prepare: Callable[[], None], command: list[str], env: dict[str, str]
) -> list[float]:
    samples = []
    for _ in range(runs):
        prepare()
        samples.append(timed(command, env))
    print(
        f"{label:<46} min {min(samples):6.3f}  median {statistics.median(samples):6.3f}  "
        f"max {max(samples):6.3f}  s   ({' '.join(f'{s:.3f}' for s in samples)})",
        flush=True,
    )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    if not Path(BAZOOKA[0]).exists():
        raise SystemExit(
            f"{BAZOOKA[0]} not found: run it with .venv/bin/python after scripts/setup.sh"
        )
    base = dict(os.environ)
    name = f"bz_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn(base, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    env = {
        **base,
        "DB_NAME": name,
        "PGPASSWORD": base.get("DB_PASSWORD", "dydxserver123"),
        "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE": "false",
        "LOG_LEVEL": "error",
    }
    try:
        print(f"whole-process timings, {args.runs} runs each (database {name})", flush=True)
        # One warm-up of each command, discarded (as hyperfine does).
        reset(env)
        timed(psql_schema(env), env)
        reset(env)
        timed(bazooka(env, "--migrate"), env)
        baseline = measure(
            "psql -f schema.sql (final schema, baseline)",
            args.runs,
            lambda: reset(env),
            psql_schema(env),
            env,
        )
        migrate = measure(
            "bazooka migrate --replay from empty (113 migrations)",
            args.runs,
            lambda: reset(env),
            bazooka(env, "--migrate", "--replay"),
            env,
        )

        def migrated() -> None:
            reset(env)
            subprocess.run(bazooka(env, "--migrate"), env=env, capture_output=True, check=True)

        rollback = measure(
            "bazooka rollback of everything (113 downs)",
            args.runs,
            migrated,
            bazooka(env, "--rollback"),
            env,
        )
        migrated()
        clear_empty = measure(
            "bazooka clear_db, empty migrated database",
            args.runs,
            lambda: None,
            bazooka(env, "--clear-db"),
            env,
        )
        seeded = {"rows": 0}

        def populated() -> None:
            seeded["rows"] = seed(env, args.rows)

        clear_full = measure(
            f"bazooka clear_db, {args.rows:,} rows seeded",
            args.runs,
            populated,
            bazooka(env, "--clear-db"),
            env,
        )
        ratio = statistics.median(migrate) / statistics.median(baseline)
        print(f"\nrows seeded per populated run: {seeded['rows']:,}")
        print(f"migrate / psql baseline (medians): {ratio:.2f}x   target <= 2x (original ~3x)")
        print(f"rollback median {statistics.median(rollback):.3f} s   target <= 0.72 s (original)")
        print(f"clear_db empty median {statistics.median(clear_empty):.3f} s   target <= 0.275 s")
        print(f"clear_db populated median {statistics.median(clear_full):.3f} s")
    finally:
        with psycopg.connect(admin_dsn(base, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


if __name__ == "__main__":
    main()
