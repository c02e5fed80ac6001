"""Regenerate the snapshots and the shipped schema data from this project's own migrations.

    python tests/tools/update_snapshots.py

Needs the local services (``eval "$(python3 scripts/services.py env)"``). Replays the
migrations one at a time on a new database, up from empty then down from the head, and writes:

* ``tests/snapshots/schema.sql``: normalised dump after ``migrate`` from empty, bookkeeping
  included;
* ``tests/snapshots/steps.json``: fingerprints of the schema (bookkeeping excluded) after each
  single ``up`` from empty and after each single ``down`` from the top;
* ``src/bazooka/postgres/data/schema_model.json.gz``: the canonical schema model of every step,
  up and down, read with the same catalog reader as ``bazooka verify``;
* ``src/bazooka/postgres/data/baseline.sql``: the final schema that an empty database gets in
  one transaction, from pg_dump of the replay's final state.

Review the diff: a changed fingerprint of an existing step means an existing migration changed,
which must never happen. Neither data file is edited by hand; tests fail when they are stale.
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

from tests.schema_dump import baseline_text, dump, fingerprint, normalize  # noqa: E402

from bazooka.postgres import migrator  # noqa: E402
from bazooka.postgres.catalog import read_catalog  # noqa: E402
from bazooka.postgres.connection import connect  # noqa: E402
from bazooka.postgres.migrations_source import Migration, bundled  # noqa: E402
from bazooka.postgres.schema_model import Objects, canonical, without_bookkeeping  # noqa: E402
from bazooka.postgres.schema_steps import SchemaModel, migrations_digest  # noqa: E402
from bazooka.settings import Settings  # noqa: E402

SNAPSHOTS = ROOT / "tests" / "snapshots"
DATA = ROOT / "src" / "bazooka" / "postgres" / "data"


def model_of(conn: psycopg.Connection[tuple[object, ...]]) -> Objects:
    """The canonical schema of the connected database, bookkeeping excluded."""
    return without_bookkeeping(canonical(read_catalog(conn)))


def main() -> None:
    regenerate(bundled(), SNAPSHOTS, DATA)


def regenerate(known: Sequence[Migration], snapshots: Path, data: Path) -> None:
    """Write ``schema.sql`` and ``steps.json`` for ``known`` into ``snapshots``, the schema
    model of every step and the baseline into ``data``."""
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
        top = len(known)
        up: dict[str, str] = {}
        down: dict[str, str] = {}
        with connect(settings) as conn:
            server = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            up_models = [model_of(conn)]
            up["000"] = fingerprint(dump(settings, exclude_knex=True))
            for i in range(1, top + 1):
                migrator.migrate(conn, known[:i], replay=True)
                up[f"{i:03d}"] = fingerprint(dump(settings, exclude_knex=True))
                up_models.append(model_of(conn))
            (snapshots / "schema.sql").write_text(normalize(dump(settings)))
            digest = migrations_digest(known)
            names = [m.name for m in known]
            baseline = baseline_text(dump(settings, exclude_knex=True), names, digest)
            (data / "baseline.sql").write_text(baseline)
            down[f"{top:03d}"] = up[f"{top:03d}"]
            down_models = {top: up_models[top]}
            for i in range(top - 1, -1, -1):
                migrator.rollback(conn, known)
                down[f"{i:03d}"] = fingerprint(dump(settings, exclude_knex=True))
                down_models[i] = model_of(conn)
        numbered = {f"{i + 1:03d}": m.name for i, m in enumerate(known)}
        (snapshots / "steps.json").write_text(
            json.dumps({"migrations": numbered, "up": up, "down": down}, indent=1) + "\n"
        )
        model = SchemaModel.from_walks(
            names,
            digest,
            f"PostgreSQL {server}",
            up_models,
            [down_models[i] for i in range(top + 1)],
        )
        (data / "schema_model.json.gz").write_bytes(model.to_gzip())
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"wrote {snapshots}/schema.sql, steps.json and {data}/baseline.sql, schema_model.json.gz")


if __name__ == "__main__":
    main()
