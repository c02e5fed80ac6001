"""Regenerate the snapshots and the shipped schema data from this project's own migrations.

    .venv/bin/python -m tools.update_snapshots       # from the checkout's root

Needs the local services (``eval "$(python3 scripts/services.py env)"``). Replays the
migrations one at a time on a new database, up from empty then down from the head, and writes:

* ``tests/snapshots/schema.sql``: normalised dump after ``migrate`` from empty, bookkeeping
  included;
* ``tests/snapshots/steps.json``: fingerprints of the schema (bookkeeping excluded) after each
  single ``up`` from empty and after each single ``down`` from the top;
* ``src/bazooka/postgres/data/schema_model.json.gz``: the canonical schema model of every step,
  up and down, read with the same catalog reader as ``bazooka verify``;
* ``src/bazooka/postgres/data/baseline.sql``: what an empty database gets in one transaction,
  from pg_dump of the replay's final state (schema, comments, privileges, rows, sequence
  positions); before anything is written it is loaded into a second empty database, which
  must then hold exactly what the replayed one holds (else nothing is written, exit 1).

Review the diff: a changed fingerprint of an existing step means an existing migration changed,
which must never happen. Neither data file is edited by hand; tests fail when they are stale.
``scripts/port_migrations.py`` calls :func:`regenerate` after porting upstream migrations.
"""

from __future__ import annotations

import contextlib
import json
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg

from bazooka.errors import MigrationError
from bazooka.postgres import migrator
from bazooka.postgres.baseline import parse
from bazooka.postgres.catalog import read_catalog
from bazooka.postgres.connection import connect
from bazooka.postgres.migrations_source import Migration, bundled
from bazooka.postgres.schema_model import Objects, canonical, without_bookkeeping
from bazooka.postgres.schema_steps import SchemaModel, migrations_digest
from bazooka.settings import Settings
from tools.schema_dump import (
    BaselineMismatch,
    baseline_text,
    dump,
    fingerprint,
    normalize,
    prove_same,
    state_dump,
)

ROOT = Path(__file__).resolve().parents[1]

SNAPSHOTS = ROOT / "tests" / "snapshots"
DATA = ROOT / "src" / "bazooka" / "postgres" / "data"


def model_of(conn: psycopg.Connection[tuple[object, ...]]) -> Objects:
    """The canonical schema of the connected database, bookkeeping excluded."""
    return without_bookkeeping(canonical(read_catalog(conn)))


def main() -> None:
    try:
        regenerate(bundled(), SNAPSHOTS, DATA)
    except BaselineMismatch as exc:
        sys.exit(f"update_snapshots: nothing written: {exc}")


@contextlib.contextmanager
def scratch_database(base: Settings, prefix: str = "bz_snap") -> Iterator[Settings]:
    """A new empty database on the server of ``base``, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin_dsn = (
        f"host={base.db_hostname} port={base.db_port} dbname=postgres "
        f"user={base.db_username} password={base.db_password.get_secret_value()}"
    )
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield base.replace(db_name=name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def make_baseline(replayed: Settings, known: Sequence[Migration]) -> str:
    """The baseline file of ``known`` from the database they were replayed on."""
    try:
        return baseline_text(
            state_dump(replayed),
            [m.name for m in known],
            migrations_digest(known),
            replayed.db_username,
        )
    except ValueError as exc:
        raise BaselineMismatch(f"the baseline cannot be written: {exc}") from exc


def prove_baseline(
    text: str, known: Sequence[Migration], replayed: Settings, empty: Settings
) -> None:
    """Load ``text`` into the ``empty`` database as ``bazooka run --migrate`` does, and require
    that it then holds exactly what the ``replayed`` one holds (:func:`prove_same`: schema,
    comments, privileges, owners, rows, sequence positions; the Knex rows, by the same
    statements as a replay, are the migrator's and its tests' business). Raises
    :class:`BaselineMismatch` naming the first difference."""
    with connect(empty) as conn:
        try:
            loaded = migrator.load_baseline(conn, known, source=parse(text))
        except MigrationError as exc:
            raise BaselineMismatch(f"the baseline does not load: {exc}") from exc
        if loaded is None:
            raise BaselineMismatch("the baseline did not load: the scratch database is not empty")
    prove_same(replayed, empty)


def regenerate(known: Sequence[Migration], snapshots: Path, data: Path) -> None:
    """Write ``schema.sql`` and ``steps.json`` for ``known`` into ``snapshots``, the schema
    model of every step and the baseline into ``data``. The baseline is proven first (loaded
    into a second database and compared with the replay); when it differs, nothing is
    written and :class:`BaselineMismatch` names the difference."""
    base = Settings.from_env()
    with scratch_database(base) as settings, scratch_database(base) as empty:
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
            schema = normalize(dump(settings))
            digest = migrations_digest(known)
            names = [m.name for m in known]
            baseline = make_baseline(settings, known)
            prove_baseline(baseline, known, settings, empty)
            down[f"{top:03d}"] = up[f"{top:03d}"]
            down_models = {top: up_models[top]}
            for i in range(top - 1, -1, -1):
                migrator.rollback(conn, known)
                down[f"{i:03d}"] = fingerprint(dump(settings, exclude_knex=True))
                down_models[i] = model_of(conn)
    numbered = {f"{i + 1:03d}": m.name for i, m in enumerate(known)}
    model = SchemaModel.from_walks(
        names,
        digest,
        f"PostgreSQL {server}",
        up_models,
        [down_models[i] for i in range(top + 1)],
    )
    (snapshots / "schema.sql").write_text(schema)
    (snapshots / "steps.json").write_text(
        json.dumps({"migrations": numbered, "up": up, "down": down}, indent=1) + "\n"
    )
    (data / "baseline.sql").write_text(baseline)
    (data / "schema_model.json.gz").write_bytes(model.to_gzip())
    print(
        f"wrote {snapshots}/schema.sql, steps.json and {data}/baseline.sql (proven equal to the "
        "replay), schema_model.json.gz"
    )


if __name__ == "__main__":
    main()
