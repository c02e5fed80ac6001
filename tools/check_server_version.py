"""Check the shipped schema model against another PostgreSQL server version, step by step.

    DB_HOSTNAME=... DB_PORT=... DB_USERNAME=... DB_PASSWORD=... \\
        .venv/bin/python -m tools.check_server_version      # from the checkout's root

The model is generated on the test server (PostgreSQL 15). Production may run another major
version, whose ``pg_get_*def`` output can differ: this tool replays the migrations one at a time
on a new database of the given server, up from empty and then down from the head, reads the
catalog at every step exactly as ``bazooka verify`` does, and prints every difference from the
model (server-version noise that the normaliser in ``schema_model.py`` must absorb). It also
checks that the baseline loads there and verifies clean. Exit status 0 when nothing differs.
"""

from __future__ import annotations

import sys
import uuid

import psycopg

from bazooka.postgres import drift, migrator
from bazooka.postgres.catalog import read_catalog
from bazooka.postgres.connection import connect
from bazooka.postgres.migrations_source import bundled
from bazooka.postgres.schema_model import canonical, without_bookkeeping
from bazooka.postgres.schema_steps import bundled_model
from bazooka.postgres.verify import verify
from bazooka.settings import Settings


def main() -> int:
    base = Settings.from_env()
    admin_dsn = (
        f"host={base.db_hostname} port={base.db_port} dbname=postgres "
        f"user={base.db_username} password={base.db_password.get_secret_value()}"
    )
    names = [f"bz_version_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"'.encode())
    model, known = bundled_model(), bundled()
    problems = 0
    try:
        with connect(base.replace(db_name=names[0])) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            print(f"PostgreSQL {version[0] if version else '?'}; model from {model.generated_on}")

            def check(step: int, walk: str) -> None:
                nonlocal problems
                live = without_bookkeeping(canonical(read_catalog(conn)))
                for difference in drift.diff(model.state(step, walk), live):
                    problems += 1
                    print(f"{walk} {step:03d}: {difference.object} {difference.status}")
                    print(f"    expected {difference.expected}\n    live     {difference.live}")

            check(0, "up")
            for i in range(1, len(known) + 1):
                migrator.migrate(conn, known[:i], replay=True)
                check(i, "up")
            for i in range(len(known) - 1, -1, -1):
                migrator.rollback(conn, known)
                check(i, "down")
        with connect(base.replace(db_name=names[1])) as conn:
            path = migrator.migrate(conn, known).path
            report = verify(conn, known)
            print(f"migrate from empty took the {path}; verify: {report.headline()}")
            problems += 0 if report.ok and path == "baseline" else 1
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"'.encode())  # 12 has no FORCE
    print(f"{problems} difference(s) over {2 * len(known) + 1} states")
    return 0 if problems == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
