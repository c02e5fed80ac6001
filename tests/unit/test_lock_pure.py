"""Pure parts of the migration lock: how a session and a recovery are described, and which
index a statement creates (what an interrupted no-transaction migration may have left)."""

from __future__ import annotations

from datetime import UTC, datetime

from bazooka.postgres.leftovers import created_index
from bazooka.postgres.liveness import SHOWN_QUERY, Session
from bazooka.postgres.lock import StaleLockRecovery


def test_a_session_is_named_by_what_an_operator_needs() -> None:
    started = datetime(2026, 11, 30, 3, 4, 5, tzinfo=UTC)
    session = Session(42, "bazooka", "10.0.0.5", started, "active", "CREATE INDEX  x\n ON t (a)")
    assert session.describe() == (
        "session pid 42 (application_name 'bazooka', client 10.0.0.5, backend started "
        "2026-11-30T03:04:05+00:00, active, current query: 'CREATE INDEX x ON t (a)')"
    )
    local = Session(7, "", None, None, None, "x" * 500).describe()
    assert "client local socket" in local and "backend started ?" in local
    shown = local.split("current query: ")[1].removesuffix(")")
    assert shown.endswith("...'") and len(shown) == SHOWN_QUERY + 2  # with its quotes


def test_a_recovery_reports_what_was_found_and_why_it_was_released() -> None:
    recovery = StaleLockRecovery("7731", 2.0, datetime(2026, 11, 30, tzinfo=UTC))
    assert recovery.to_dict() == {
        "found": "knex_migrations_lock.is_locked = 1",
        "set_by_transaction": "7731",
        "evidence": "no session holds Bazooka's advisory lock, and for 2 s nothing showed a "
        "live migrator",
        "released_at": "2026-11-30T00:00:00.000+00:00",
    }


def test_created_index_names_the_index_as_postgres_stores_it() -> None:
    assert created_index('CREATE INDEX CONCURRENTLY IF NOT EXISTS "a_B" ON "t" ("x")') == (
        "a_B",
        True,
    )
    assert created_index("-- note\ncreate index concurrently orders_clobPairId_x on t(x)") == (
        "orders_clobpairid_x",
        False,
    )
    assert created_index("create unique index u on t (x)") == ("u", False)
    assert created_index('create index "we""ird" on t (x)') == ('we"ird', False)
    assert created_index("drop index concurrently if exists x") is None
    assert created_index("create table index_me (x int)") is None
