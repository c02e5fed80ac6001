"""scripts/port_migrations.py end to end: our own Knex migrations (tests/fixtures/knex_port) run
by the pinned Knex on real PostgreSQL, written as Bazooka migrations, verified by Bazooka's
migrator; flags for what needs a person; --check catching a wrong hand-edited port; and the
round trip of migrations that seed rows, comment and grant: ported, their baseline
regenerated, an empty database migrated by it and another by the replay, compared."""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bazooka.postgres import baseline, bookkeeping, migrator
from bazooka.postgres.connection import Connection, connect
from bazooka.postgres.migrations_source import NO_TRANSACTION_MARKER, load_from
from bazooka.postgres.schema_steps import SchemaModel
from bazooka.postgres.verify import render_text, verify
from bazooka.settings import Settings
from tests.helpers import ROOT, admin_dsn, make_settings, scratch_database, service_env
from tools.schema_dump import BaselineMismatch, database_state, prove_same

TOOL = ROOT / "scripts" / "port_migrations.py"
FIXTURES = ROOT / "tests" / "fixtures" / "knex_port"
WIDGETS = "20990101000000_create_port_widgets.js"
GADGETS = "20990102000000_create_port_gadgets.ts.ts"
INDEX = "20990103000000_add_port_widgets_label_index.ts"
CHECK = "20990104000000_update_port_widgets_status_check.ts"
KINDS = "20990105000000_create_port_kinds.ts"
FAILS = "20990106000000_port_fails.ts"
READS = "20990107000000_port_reads_data.ts"
CLOCK = "20990108000000_port_not_deterministic.ts"
ONCE = "20990109000000_port_no_round_trip.ts"
LEVELS = "20990110000000_create_port_levels.ts"
SIZE = "20990111000000_comment_port_widgets_size.ts"
READERS = "20990112000000_grant_port_readers.ts"
ROLE = "port_readers"
GOOD = (WIDGETS, GADGETS, INDEX, CHECK, KINDS)


def upstream(root: Path, *files: str) -> Path:
    """An upstream-shaped folder holding the chosen fixture migrations and the helpers."""
    folder = root / "upstream"
    (folder / "migration_files").mkdir(parents=True)
    shutil.copy(FIXTURES / "helpers.ts", folder / "helpers.ts")
    for name in files:
        shutil.copy(FIXTURES / "migration_files" / name, folder / "migration_files" / name)
    return folder


def port(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the tool as a maintainer would."""
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def ported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The five good fixtures ported in two runs: three with --only, then the rest."""
    env = service_env()
    root = tmp_path_factory.mktemp("ported")
    source = upstream(root, *GOOD)
    into, snapshots = root / "into", root / "snapshots"
    into.mkdir()
    first = port(
        env, "--from", source, "--into", into, "--snapshots", snapshots,
        "--only", "20990101000000", GADGETS, INDEX,
    )  # fmt: skip
    first_steps = json.loads((snapshots / "steps.json").read_text())
    second = port(env, "--from", source, "--into", into, "--snapshots", snapshots)
    yield {
        "env": env,
        "source": source,
        "into": into,
        "snapshots": snapshots,
        "first": first,
        "first_steps": first_steps,
        "second": second,
    }


def test_ports_javascript_and_typescript_migrations_as_knex_names_them(
    ported: dict[str, Any],
) -> None:
    first, second = ported["first"], ported["second"]
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 ported and verified" in first.stdout
    assert "left for a later run: 20990104000000" in first.stdout
    assert second.returncode == 0, second.stdout + second.stderr
    assert "2 ported and verified" in second.stdout
    written = files(ported["into"])
    stems = [
        "20990101000000_create_port_widgets",
        "20990102000000_create_port_gadgets.ts",  # recorded as ..._gadgets.ts.js
        "20990103000000_add_port_widgets_label_index",
        "20990104000000_update_port_widgets_status_check",
        "20990105000000_create_port_kinds",
    ]
    assert sorted(written) == sorted(f"{s}.{d}.sql" for s in stems for d in ("up", "down"))
    assert [m.name for m in load_from(ported["into"])] == [f"{s}.js" for s in stems]
    # What Knex generated, statement by statement.
    assert written["20990101000000_create_port_widgets.up.sql"].splitlines() == [
        'create table "port_widgets" ("id" uuid, "label" varchar(255) not null, "status" text '
        "check (\"status\" in ('NEW', 'USED')) not null default 'NEW', \"weight\" decimal, "
        '"createdAt" timestamptz not null default CURRENT_TIMESTAMP);',
        'alter table "port_widgets" add constraint "port_widgets_pkey" primary key ("id");',
        'create index "port_widgets_label_index" on "port_widgets" ("label");',
    ]
    assert written["20990102000000_create_port_gadgets.ts.down.sql"].splitlines() == [
        'alter table "port_widgets" drop column "colour";',
        'drop table "port_gadgets";',
    ]


def test_no_transaction_marker_only_where_knex_runs_without_one(ported: dict[str, Any]) -> None:
    for name, text in files(ported["into"]).items():
        marked = text.splitlines()[0] == NO_TRANSACTION_MARKER
        assert marked == name.startswith("20990103000000"), name
    up = files(ported["into"])["20990103000000_add_port_widgets_label_index.up.sql"]
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS port_widgets_label_weight_idx" in up
    assert [m.transaction for m in load_from(ported["into"])] == [True, True, False, True, True]


def test_helper_output_and_inlined_bindings_are_written_as_knex_sent_them(
    ported: dict[str, Any],
) -> None:
    written = files(ported["into"])
    assert written["20990104000000_update_port_widgets_status_check.up.sql"].splitlines() == [
        'ALTER TABLE "port_widgets" DROP CONSTRAINT IF EXISTS "port_widgets_status_check";',
        'ALTER TABLE "port_widgets" ADD CONSTRAINT "port_widgets_status_check" CHECK ("status" '
        "= ANY (ARRAY['NEW'::text, 'USED'::text, 'BROKEN'::text])) NOT VALID;",
    ]
    kinds = written["20990105000000_create_port_kinds.up.sql"]
    assert (
        'INSERT INTO "port_kinds" ("name", "rank", "since") VALUES '
        "('it''s', '1', '2099-01-02T03:04:05.000+00:00'), ('costs $1 or ?', '2', NULL);"
    ) in kinds
    assert "changes rows; the rows it leaves on the (empty) scratch database are verified" in (
        ported["second"].stdout
    )
    assert "down is not an exact inverse" in ported["second"].stdout


def test_the_written_migrations_run_on_bazooka_as_they_ran_on_knex(
    ported: dict[str, Any], db_settings: Settings
) -> None:
    known = load_from(ported["into"])
    with connect(db_settings) as conn:
        migrator.migrate(conn, known)
        rows = conn.execute("SELECT name, rank, since FROM port_kinds ORDER BY rank").fetchall()
        assert [(r[0], r[1], r[2].isoformat()) for r in rows[:1]] == [
            ("it's", 1, "2099-01-02T03:04:05+00:00")
        ]
        assert rows[1][:2] == ("costs $1 or ?", 2) and rows[1][2] is None
        constraint = conn.execute(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'port_widgets_status_check'"
        ).fetchone()
        assert constraint == (False,)  # NOT VALID, as the helper wrote it
        assert bookkeeping.invalid_indexes(conn) == []
        assert conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'port_widgets_label_weight_idx'"
        ).fetchone() == (1,)
        migrator.rollback(conn, known)
        assert conn.execute("SELECT count(*) FROM knex_migrations").fetchone() == (0,)


def test_snapshots_are_regenerated_and_earlier_steps_keep_their_fingerprints(
    ported: dict[str, Any],
) -> None:
    steps = json.loads((ported["snapshots"] / "steps.json").read_text())
    assert list(steps["migrations"].values()) == [m.name for m in load_from(ported["into"])]
    assert sorted(steps["up"]) == [f"{i:03d}" for i in range(6)]
    first = ported["first_steps"]
    assert [steps["up"][s] for s in ("000", "001", "002", "003")] == [
        first["up"][s] for s in ("000", "001", "002", "003")
    ]
    assert "WARNING" not in ported["second"].stdout
    assert "port_kinds" in (ported["snapshots"] / "schema.sql").read_text()


def test_a_second_run_has_nothing_to_port_and_changes_nothing(ported: dict[str, Any]) -> None:
    before = files(ported["into"])
    again = port(
        ported["env"], "--from", ported["source"], "--into", ported["into"], "--no-snapshots"
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to port" in again.stdout
    assert files(ported["into"]) == before


def test_check_verifies_correct_ports_and_catches_a_wrong_hand_edited_one(
    ported: dict[str, Any], tmp_path: Path
) -> None:
    into = tmp_path / "into"
    shutil.copytree(ported["into"], into)
    args = ("--from", ported["source"], "--into", into, "--no-snapshots")
    good = port(ported["env"], *args, "--check", "all")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "5 checked and verified" in good.stdout

    # A hand edit that looks harmless: the constraint validated instead of NOT VALID.
    edited = into / "20990104000000_update_port_widgets_status_check.up.sql"
    edited.write_text(edited.read_text().replace(" NOT VALID;", ";"))
    before = files(into)
    bad = port(ported["env"], *args, "--check", "20990104000000")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert (
        "NOT VERIFIED: 20990104000000_update_port_widgets_status_check.js: after Bazooka's up "
        "the schema differs from Knex's: first difference:"
    ) in bad.stdout
    assert "CONSTRAINT port_widgets_status_check CHECK" in bad.stdout
    assert files(into) == before


def test_check_catches_a_port_that_lost_its_no_transaction_marker(
    ported: dict[str, Any], tmp_path: Path
) -> None:
    into = tmp_path / "into"
    shutil.copytree(ported["into"], into)
    for direction in ("up", "down"):
        path = into / f"20990103000000_add_port_widgets_label_index.{direction}.sql"
        path.write_text(path.read_text().removeprefix(NO_TRANSACTION_MARKER + "\n"))
    result = port(
        ported["env"], "--from", ported["source"], "--into", into, "--no-snapshots",
        "--check", INDEX,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "20990103000000_add_port_widgets_label_index.js: Knex runs it without a transaction" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("fixtures", "flagged", "reason"),
    [
        (
            (WIDGETS, FAILS),
            "20990106000000_port_fails.js",
            'errors: Knex\'s up fails: alter table "port_no_such_table"',
        ),
        (
            (WIDGETS, READS),
            "20990107000000_port_reads_data.js",
            'reads data: up statement 1 `select "id", "label" from "port_widgets"` returns rows',
        ),
        (
            (CLOCK,),
            "20990108000000_port_not_deterministic.js",
            "non-deterministic: the two ups sent different SQL: statement 1:",
        ),
        (
            (ONCE,),
            "20990109000000_port_no_round_trip.js",
            "does not round-trip: Knex's up after its down fails",
        ),
    ],
)
def test_migrations_that_need_a_person_are_flagged_and_not_written(
    base_env: dict[str, str], tmp_path: Path, fixtures: tuple[str, ...], flagged: str, reason: str
) -> None:
    into = tmp_path / "into"
    into.mkdir()
    result = port(
        base_env, "--from", upstream(tmp_path, *fixtures), "--into", into, "--no-snapshots"
    )
    assert result.returncode == 3, result.stdout + result.stderr
    review = result.stdout.split("Review list", 1)[1]
    assert f"- {flagged}\n" in review and reason in review
    assert "Knex sent (up):" in review  # what a person needs to port it by hand
    expected = {f"20990101000000_create_port_widgets.{d}.sql" for d in ("up", "down")}
    assert set(files(into)) == (expected if WIDGETS in fixtures else set())


def test_after_a_flagged_migration_the_later_ones_wait(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    into, snapshots = tmp_path / "into", tmp_path / "snapshots"
    into.mkdir()
    source = upstream(tmp_path, WIDGETS, FAILS, ONCE)
    result = port(base_env, "--from", source, "--into", into, "--snapshots", snapshots)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "not attempted, they come after 20990106000000_port_fails.js:" in result.stdout
    assert "20990109000000_port_no_round_trip.js" not in result.stdout.split("Review list")[0]
    assert "      20990109000000_port_no_round_trip.js\n" in result.stdout
    assert [m.name for m in load_from(into)] == ["20990101000000_create_port_widgets.js"]
    steps = json.loads((snapshots / "steps.json").read_text())
    assert list(steps["migrations"].values()) == ["20990101000000_create_port_widgets.js"]


def test_invalid_requests_are_refused_before_anything_runs(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    into = tmp_path / "into"
    into.mkdir()
    source = upstream(tmp_path, WIDGETS, GADGETS)
    gap = port(base_env, "--from", source, "--into", into, "--no-snapshots", "--only", GADGETS)
    assert gap.returncode == 2
    assert "20990101000000_create_port_widgets.js: upstream before" in gap.stdout
    no_snapshots = port(base_env, "--from", source, "--into", into)
    assert no_snapshots.returncode == 2
    assert "--into needs --snapshots DIR or --no-snapshots" in no_snapshots.stdout
    assert port(base_env, "--from", tmp_path, "--into", into, "--no-snapshots").returncode == 2
    assert list(into.iterdir()) == []


# --- rows, comments and privileges: ported, carried by the baseline, verified ----------------


@contextlib.contextmanager
def role(env: Mapping[str, str], name: str) -> Iterator[None]:
    """A NOLOGIN role for the duration (an operator creates the roles migrations grant to)."""
    with psycopg.connect(admin_dsn(make_settings(env)), autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{name}" NOLOGIN'.encode())
    try:
        yield
    finally:
        with psycopg.connect(admin_dsn(make_settings(env)), autocommit=True) as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{name}"'.encode())


def role_exists(env: Mapping[str, str], name: str) -> bool:
    with psycopg.connect(admin_dsn(make_settings(env)), autocommit=True) as admin:
        return (
            admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            is not None
        )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Migrations that seed rows, comment a column and grant to a missing role, ported."""
    env = service_env()
    assert not role_exists(env, ROLE)
    root = tmp_path_factory.mktemp("seeded")
    source = upstream(root, WIDGETS, LEVELS, SIZE, READERS)
    into, snapshots = root / "into", root / "snapshots"
    into.mkdir()
    result = port(env, "--from", source, "--into", into, "--snapshots", snapshots)
    return {"env": env, "into": into, "snapshots": snapshots, "result": result}


def test_rows_comments_and_grants_are_ported_with_the_role_made_for_the_scratch_run(
    seeded: dict[str, Any],
) -> None:
    result = seeded["result"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 ported and verified" in result.stdout
    assert f"created role {ROLE} (NOLOGIN) on the scratch server for this run" in result.stdout
    assert "proven equal to the replay" in result.stdout
    assert not role_exists(seeded["env"], ROLE), "the tool drops the role it created"
    written = files(seeded["into"])
    levels = written["20990110000000_create_port_levels.up.sql"]
    assert (
        'insert into "port_levels" ("name", "note", "rank") values '
        "('LOW', 'first line\n-- not a comment; still the note', '1'), ('HIGH', NULL, '2');"
    ) in levels
    assert (
        'comment on column "port_widgets"."size" is \'size in millimetres\';'
        in written["20990111000000_comment_port_widgets_size.up.sql"]
    )
    assert (
        "GRANT SELECT ON port_levels TO port_readers;"
        in written["20990112000000_grant_port_readers.up.sql"]
    )
    shipped = (seeded["snapshots"] / "baseline.sql").read_text()
    for carried in (
        "INSERT INTO public.port_levels (id, name, rank, note) VALUES (1, 'LOW', 1, 'first line\n"
        "-- not a comment; still the note');",
        "SELECT pg_catalog.setval('public.port_levels_id_seq', 2, true);",
        "COMMENT ON COLUMN public.port_widgets.size IS 'size in millimetres';",
        "GRANT SELECT ON TABLE public.port_levels TO port_readers;",
        "GRANT USAGE ON SCHEMA public TO port_readers;",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES  TO port_readers;",
    ):
        assert carried in shipped
    assert "OWNER TO" not in shipped and "FOR ROLE" not in shipped


def _facts(conn: Connection) -> dict[str, Any]:
    """What the migrations left, read by hand (the proof compares the full dumps too)."""
    one = conn.execute
    return {
        "rows": one("SELECT id, name, rank, note FROM port_levels ORDER BY id").fetchall(),
        "sequence": one("SELECT last_value, is_called FROM port_levels_id_seq").fetchone(),
        "comments": one(
            "SELECT col_description('port_widgets'::regclass, (SELECT attnum FROM pg_attribute "
            "WHERE attrelid = 'port_widgets'::regclass AND attname = 'size')), "
            "obj_description('port_levels'::regclass, 'pg_class')"
        ).fetchone(),
        "privileges": one(
            f"SELECT has_schema_privilege('{ROLE}', 'public', 'USAGE'), "
            f"has_table_privilege('{ROLE}', 'port_levels', 'SELECT'), "
            f"has_table_privilege('{ROLE}', 'port_levels', 'INSERT'), "
            f"has_column_privilege('{ROLE}', 'port_widgets', 'label', 'SELECT'), "
            f"has_column_privilege('{ROLE}', 'port_widgets', 'weight', 'SELECT'), "
            "(SELECT count(*) FROM pg_default_acl)"
        ).fetchone(),
        "recorded": one("SELECT id, name, batch FROM knex_migrations ORDER BY id").fetchall(),
    }


def test_round_trip_baseline_and_replay_leave_the_same_rows_comments_and_privileges(
    seeded: dict[str, Any], base_env: dict[str, str]
) -> None:
    assert seeded["result"].returncode == 0, seeded["result"].stdout
    known = load_from(seeded["into"])
    loaded_baseline = baseline.parse((seeded["snapshots"] / "baseline.sql").read_text())
    model = SchemaModel.from_json(
        gzip.decompress((seeded["snapshots"] / "schema_model.json.gz").read_bytes())
    )
    with (
        role(base_env, ROLE),
        scratch_database(base_env) as by_baseline,
        scratch_database(base_env) as by_replay,
    ):
        loaded, replayed = make_settings(by_baseline), make_settings(by_replay)
        with connect(loaded) as a, connect(replayed) as b:
            names = migrator.load_baseline(a, known, source=loaded_baseline)
            assert names == tuple(m.name for m in known)
            assert migrator.migrate(b, known, replay=True).to_dict()["path"] == "replay"
            facts = _facts(a)
            assert facts == _facts(b)
            assert facts["rows"] == [
                (1, "LOW", 1, "first line\n-- not a comment; still the note"),
                (2, "HIGH", 3, None),
            ]
            assert facts["sequence"] == (2, True)
            assert facts["comments"] == (
                "size in millimetres",
                "reference levels; do not edit by hand",
            )
            assert facts["privileges"] == (True, True, False, True, False, 1)
            prove_same(replayed, loaded)  # schema, comments, privileges, owners, rows, setval
            for conn in (a, b):
                report = verify(conn, known, model)
                assert report.ok and not report.information, render_text(report)

            # A deleted comment is drift, and named.
            a.execute("COMMENT ON COLUMN port_widgets.size IS NULL")
            report = verify(a, known, model)
            assert not report.ok
            assert [(d.object, d.status, d.fields, d.note) for d in report.differences] == [
                ("column port_widgets.size", "changed", ("comment",), "comment missing")
            ]
            assert "column port_widgets.size - comment missing" in render_text(report)
            with pytest.raises(
                BaselineMismatch, match=re.escape("COMMENT ON COLUMN public.port_widgets.size")
            ):
                prove_same(replayed, loaded)

            # A grant the migrations made and the database lacks is drift; one made by hand
            # beyond them is information.
            b.execute(f"REVOKE SELECT ON port_levels FROM {ROLE}")
            b.execute(f"GRANT INSERT ON port_levels TO {ROLE}")
            report = verify(b, known, model)
            assert [(d.object, d.fields, d.note) for d in report.differences] == [
                ("table port_levels", ("privileges",), f"lacks {ROLE} SELECT")
            ]
            assert report.information == (
                f"table port_levels: {ROLE} INSERT (not granted by the migrations)",
            )
            b.execute(f"GRANT SELECT ON port_levels TO {ROLE}")
            report = verify(b, known, model)
            assert report.ok and len(report.information) == 1
            assert "information, not drift" in report.headline()


def test_the_proof_names_a_row_the_baseline_lacks(
    seeded: dict[str, Any], base_env: dict[str, str]
) -> None:
    known = load_from(seeded["into"])
    with (
        role(base_env, ROLE),
        scratch_database(base_env) as first,
        scratch_database(base_env) as second,
    ):
        for env in (first, second):
            with connect(make_settings(env)) as conn:
                migrator.migrate(conn, known, replay=True)
        with connect(make_settings(second)) as conn:
            conn.execute("DELETE FROM port_levels WHERE name = 'HIGH'")
        assert database_state(make_settings(first)) != database_state(make_settings(second))
        with pytest.raises(BaselineMismatch) as caught:
            prove_same(make_settings(first), make_settings(second))
    message = str(caught.value)
    assert (
        "the replay has `INSERT INTO public.port_levels (id, name, rank, note) VALUES (2, 'HIGH'"
        in message
    )
    assert "the baseline has nothing there" in message


def test_a_baseline_that_cannot_equal_the_replay_fails_the_regeneration_naming_why(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    into, snapshots = tmp_path / "into", tmp_path / "snapshots"
    into.mkdir()
    snapshots.mkdir()
    source = upstream(tmp_path, "20990113000000_port_stale_matview.ts")
    result = port(base_env, "--from", source, "--into", into, "--snapshots", snapshots)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 ported and verified" in result.stdout  # Knex and Bazooka's replay agree
    assert (
        "BASELINE NOT PROVEN: the baseline does not leave what the replay leaves: the replay has "
        "`-- rows of materialized view port_counts: 1, md5 "
    ) in result.stdout
    assert list(snapshots.iterdir()) == []  # nothing regenerated
