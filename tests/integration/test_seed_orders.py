"""``scripts/seed_orders.py``: N open stateful orders in a named database, which the Vulcan send
then sends, every one acknowledged (the README's try-out)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import ROOT, cli


def seed(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "seed_orders.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_seeded_orders_are_all_sent(scratch_db: dict[str, str]) -> None:
    name = scratch_db["DB_NAME"]
    env = {**scratch_db, "DB_NAME": "not_this_one"}  # --db chooses the database
    seeded = seed(env, "--db", name, "--orders", "500", "--subaccounts", "20")
    assert seeded.returncode == 0, seeded.stderr
    assert f"database {name!r}: migrated (113 migration(s)), seeded 500 open stateful" in (
        seeded.stdout
    )
    updates = int(seeded.stdout.split("the send would select 500 order(s) and ")[1].split()[0])
    assert 0 < updates < 500

    sent = cli(
        scratch_db, "run", "--create-kafka-topics", "--send-stateful-orders-to-vulcan", "--json"
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    details = json.loads(sent.stdout)["steps"][1]["details"]
    assert details["orders_read"] == details["orders_sent"] == 500
    assert details["order_updates"] == updates
    assert details["messages_acknowledged"] == 500 + updates
    assert details["invalid_orders"] == 0

    again = seed(env, "--db", name, "--orders", "5")
    assert again.returncode == 1
    assert f"database {name!r} already holds 8 market(s) and 500 order(s)" in again.stderr


def test_a_new_database_is_created(base_env: dict[str, str]) -> None:
    import psycopg

    from tests.helpers import admin_dsn, make_settings

    name = "bz_test_seed_created"
    settings = make_settings(base_env)
    try:
        seeded = seed(base_env, "--db", name, "--orders", "3")
        assert seeded.returncode == 0, seeded.stderr
        assert seeded.stdout.startswith(f"database {name!r}: created and migrated")
    finally:
        with psycopg.connect(admin_dsn(settings), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
