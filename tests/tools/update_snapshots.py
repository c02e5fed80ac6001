"""Regenerate tests/snapshots from this project's own migrations (run after adding one).

    python tests/tools/update_snapshots.py

Needs the local services (``eval "$(python3 scripts/services.py env)"``). Writes
``schema.sql`` (normalised dump after ``migrate`` from empty, bookkeeping included) and
``steps.json`` (fingerprints of the schema, bookkeeping excluded, after each single ``up`` from
empty and after each single ``down`` from the top). Review the diff: a changed fingerprint of an
existing step means an existing migration changed, which must never happen.
``scripts/port_migrations.py`` calls :func:`regenerate` after porting upstream migrations.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.schema_dump import dump, fingerprint, normalize  # noqa: E402

from bazooka.postgres import migrator  # noqa: E402
from bazooka.postgres.connection import connect  # noqa: E402
from bazooka.postgres.migrations_source import Migration, bundled  # noqa: E402
from bazooka.settings import Settings  # noqa: E402

SNAPSHOTS = ROOT / "tests" / "snapshots"


def main() -> None:
    regenerate(bundled(), SNAPSHOTS)


def regenerate(known: Sequence[Migration], snapshots: Path) -> None:
    """Write ``schema.sql`` and ``steps.json`` for ``known`` into ``snapshots``."""
    base = Settings.from_env()
    name = f"bz_snap_{uuid.uuid4().hex[:8]}"
    admin_dsn = (
        f"host={base.db_hostname} port={base.db_port} dbname=postgres "
        f"user={base.db_username} password={base.db_password.get_secret_value()}"
    )
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    settings = base.replace(db_name=name)
    try:
        up: dict[str, str] = {}
        down: dict[str, str] = {}
        with connect(settings) as conn:
            up["000"] = fingerprint(dump(settings, exclude_knex=True))
            for i in range(1, len(known) + 1):
                migrator.migrate(conn, known[:i])
                up[f"{i:03d}"] = fingerprint(dump(settings, exclude_knex=True))
            (snapshots / "schema.sql").write_text(normalize(dump(settings)))
            down[f"{len(known):03d}"] = up[f"{len(known):03d}"]
            for i in range(len(known) - 1, -1, -1):
                migrator.rollback(conn, known)
                down[f"{i:03d}"] = fingerprint(dump(settings, exclude_knex=True))
        names = {f"{i + 1:03d}": m.name for i, m in enumerate(known)}
        (snapshots / "steps.json").write_text(
            json.dumps({"migrations": names, "up": up, "down": down}, indent=1) + "\n"
        )
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"wrote {snapshots / 'schema.sql'} and {snapshots / 'steps.json'}")


if __name__ == "__main__":
    main()
