#!/usr/bin/env python3
"""Seed N open stateful orders into a named database, to try the Vulcan send.

    eval "$(python3 scripts/services.py env)"
    .venv/bin/python scripts/seed_orders.py --db bazooka_tryout --orders 10000
    DB_NAME=bazooka_tryout .venv/bin/bazooka run --send-stateful-orders-to-vulcan

The server and user are the ``DB_*`` variables (as for ``bazooka``); ``--db`` names the
database, which is created when it does not exist and migrated with Bazooka's migrations when
any is pending. It must hold no market and no order yet. The orders are the benchmark's
(``bench/bench_vulcan.py``, the same code): 8 perpetual markets, ``--subaccounts`` subaccounts,
long-term and conditional orders of every type, about 30% partly filled (each also gets an
order update message), all valid and all selected by the send. Deterministic for a ``--seed``.
Run with the project's ``.venv`` (it imports Bazooka and the benchmark).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bazooka.errors import BazookaError  # noqa: E402
from bazooka.postgres import migrator  # noqa: E402
from bazooka.postgres.connection import connect  # noqa: E402
from bazooka.postgres.migrations_source import bundled  # noqa: E402
from bazooka.settings import Settings  # noqa: E402
from bazooka.vulcan.orders import count_open_stateful  # noqa: E402
from tools.seeding import seed_orders  # noqa: E402  (the benchmarks' seeding, shared)


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def seed(settings: Settings, db: str, orders: int, subaccounts: int, seed_value: int) -> str:
    """Create (if missing), migrate (if pending) and seed ``db``; the line to print."""
    with connect(settings.replace(db_name="postgres")) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    with connect(settings.replace(db_name=db)) as conn:
        applied = migrator.migrate(conn, bundled()).applied_count
        held = conn.execute(
            "SELECT (SELECT count(*) FROM perpetual_markets), (SELECT count(*) FROM orders)"
        ).fetchone()
        if held and (held[0] or held[1]):
            raise SystemExit(
                f"error: database {db!r} already holds {held[0]} market(s) and {held[1]} "
                "order(s); seed a database without any (a new name, or after "
                "`bazooka run --clear-db --force` on it)"
            )
        filled = seed_orders(conn, orders, subaccounts, random.Random(seed_value))  # noqa: S311
        selected, updates = count_open_stateful(conn)
    created = "created and " if not exists else ""
    migrated = f"migrated ({applied} migration(s)), " if applied else ""
    return (
        f"database {db!r}: {created}{migrated}seeded {orders} open stateful order(s) "
        f"({filled} partly filled) on {subaccounts} subaccount(s); the send would select "
        f"{selected} order(s) and {updates} order update(s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        allow_abbrev=False,
    )
    parser.add_argument("--db", required=True, help="database name (created if missing)")
    parser.add_argument("--orders", type=_count, required=True, help="how many orders")
    parser.add_argument("--subaccounts", type=_count, default=200)
    parser.add_argument("--seed", type=int, default=1, help="the data are the same for a seed")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(dict(os.environ))
        print(seed(settings, args.db, args.orders, args.subaccounts, args.seed))
    except (BazookaError, psycopg.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
