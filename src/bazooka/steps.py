"""Each step's executor and preview, wired to the module that owns its external system.

Executors return the details that go into the report; previews return what the step would
do, computed read-only. Connections are opened lazily, once per run, and closed by the runner.
Heavy client libraries are imported only by the steps that need them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bazooka.budget import TimeBudget
from bazooka.progress import Progress
from bazooka.settings import Settings

if TYPE_CHECKING:
    import psycopg
    import redis
    from confluent_kafka.admin import AdminClient


class StepContext:
    """Settings, progress, time budget and the lazily opened clients shared by the steps."""

    def __init__(self, settings: Settings, progress: Progress, budget: TimeBudget) -> None:
        self.settings = settings
        self.progress = progress
        self.budget = budget
        # Dry runs remember what earlier steps would have done (e.g. reset_db before migrate).
        self.simulated: dict[str, Any] = {}
        self._pg: psycopg.Connection[tuple[Any, ...]] | None = None
        self._redis: redis.Redis | None = None
        self._admin: AdminClient | None = None

    def pg(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The run's PostgreSQL connection (autocommit; transactions are explicit)."""
        if self._pg is None or self._pg.closed:
            from bazooka.postgres.connection import connect  # noqa: PLC0415

            self._pg = connect(self.settings)
        return self._pg

    def redis(self) -> redis.Redis:
        """The run's Redis client."""
        if self._redis is None:
            from bazooka import redis_ops  # noqa: PLC0415

            self._redis = redis_ops.connect(self.settings)
        return self._redis

    def kafka_admin(self) -> AdminClient:
        """The run's Kafka admin client."""
        if self._admin is None:
            from bazooka.kafka.admin import connect_admin  # noqa: PLC0415

            self._admin = connect_admin(self.settings)
        return self._admin

    def close(self) -> None:
        """Close whatever was opened."""
        if self._pg is not None:
            self._pg.close()
        if self._redis is not None:
            self._redis.close()
        self._pg = self._redis = self._admin = None


# --- executors ---------------------------------------------------------------------------


def _reset_db(ctx: StepContext) -> dict[str, Any]:
    from bazooka.postgres import maintenance  # noqa: PLC0415

    return maintenance.reset_schema(ctx.pg(), ctx.settings)


def _migration_observer(ctx: StepContext, task: str, verb: str) -> Any:
    """Progress per migration, and the time budget checked before each one."""
    from bazooka.postgres.migrator import Observer  # noqa: PLC0415

    def starting(total: int) -> None:
        ctx.progress.start_task(task, total)

    def before_each(name: str) -> None:
        ctx.budget.check(f"{verb} {name}")

    def after_each(name: str) -> None:
        ctx.progress.advance(1, description=name)

    return Observer(starting, before_each, after_each)


def _rollback(ctx: StepContext) -> dict[str, Any]:
    from bazooka.postgres import migrator  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    with _pg_errors(ctx, "rollback"):
        observer = _migration_observer(ctx, "rolling back", "rolling back")
        return migrator.rollback(ctx.pg(), bundled(), observer)


def _migrate(ctx: StepContext) -> dict[str, Any]:
    from bazooka.postgres import migrator  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    with _pg_errors(ctx, "migrate"):
        return migrator.migrate(
            ctx.pg(),
            bundled(),
            _migration_observer(ctx, "migrating", "applying"),
            replay=ctx.settings.migrate_replay,
        )


def _clear_db(ctx: StepContext) -> dict[str, Any]:
    from bazooka.postgres import maintenance  # noqa: PLC0415

    return maintenance.clear_data(ctx.pg(), ctx.settings)


def _create_kafka_topics(ctx: StepContext) -> dict[str, Any]:
    from bazooka.kafka import admin  # noqa: PLC0415

    return admin.ensure_topics(ctx.kafka_admin(), ctx.settings, ctx.progress)


def _clear_kafka_topics(ctx: StepContext) -> dict[str, Any]:
    from bazooka.kafka import admin  # noqa: PLC0415

    return admin.clear_topics(ctx.kafka_admin(), ctx.settings, ctx.progress, ctx.budget)


def _clear_redis(ctx: StepContext) -> dict[str, Any]:
    from bazooka import redis_ops  # noqa: PLC0415

    return redis_ops.flush_all(ctx.redis(), ctx.settings)


def _send_stateful_orders(ctx: StepContext) -> dict[str, Any]:
    from bazooka.vulcan import send  # noqa: PLC0415

    return send.send_stateful_orders(ctx.pg(), ctx.settings, ctx.progress, ctx.budget)


EXECUTORS: dict[str, Callable[[StepContext], dict[str, Any]]] = {
    "reset_db": _reset_db,
    "rollback": _rollback,
    "migrate": _migrate,
    "clear_db": _clear_db,
    "create_kafka_topics": _create_kafka_topics,
    "clear_kafka_topics": _clear_kafka_topics,
    "clear_redis": _clear_redis,
    "send_stateful_orders_to_vulcan": _send_stateful_orders,
}


# --- previews (read-only) --------------------------------------------------------------------


def _preview_reset_db(ctx: StepContext) -> dict[str, Any]:
    from bazooka.postgres import maintenance  # noqa: PLC0415

    ctx.simulated["schema_reset"] = True
    return maintenance.preview_reset(ctx.pg(), ctx.settings)


def _preview_rollback(ctx: StepContext) -> dict[str, Any]:
    from bazooka.postgres import migrator  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    if ctx.simulated.get("schema_reset"):
        return {"migrations_to_roll_back": [], "note": "reset_db leaves no migration to roll back"}
    with _pg_errors(ctx, "rollback preview"):
        status = migrator.status(ctx.pg(), bundled())
    latest = status.to_dict()["latest_batch_migrations"]
    ctx.simulated["rolled_back"] = latest
    return {
        "batch": status.latest_batch or None,
        "migrations_to_roll_back": list(reversed(latest)),
        "locked": status.locked,
        "unknown_recorded_migrations": status.unknown,
    }


def _preview_migrate(ctx: StepContext) -> dict[str, Any]:
    from bazooka.postgres import migrator  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    known = bundled()
    if ctx.simulated.get("schema_reset"):
        pending = [m.name for m in known]
        status = None
    else:
        with _pg_errors(ctx, "migrate preview"):
            status = migrator.status(ctx.pg(), known)
        rolled_back = set(ctx.simulated.get("rolled_back", []))
        pending = [m.name for m in known if m.name in rolled_back or m.name in status.pending]
    by_name = {m.name: m for m in known}
    from bazooka.postgres import baseline  # noqa: PLC0415

    path = baseline.planned_path(
        None if ctx.simulated.get("schema_reset") else ctx.pg(), known, ctx.settings.migrate_replay
    )
    return {
        "migrations_to_apply": pending,
        "count": len(pending),
        "path": path,
        "mode": (
            baseline.MODE
            if path == "baseline"
            else "one transaction"
            if all(by_name[n].transaction for n in pending)
            else "one transaction per migration"
        ),
        "locked": status.locked if status else False,
        "unknown_recorded_migrations": status.unknown if status else [],
    }


def _preview_clear_db(ctx: StepContext) -> dict[str, Any]:
    from bazooka.postgres import maintenance  # noqa: PLC0415

    return maintenance.preview_clear(ctx.pg(), ctx.settings)


def _preview_create_kafka_topics(ctx: StepContext) -> dict[str, Any]:
    from bazooka.kafka import admin  # noqa: PLC0415

    details = admin.preview_ensure(ctx.kafka_admin(), ctx.settings)
    ctx.simulated["topics_created"] = details.get("topics_to_create", [])
    return details


def _preview_clear_kafka_topics(ctx: StepContext) -> dict[str, Any]:
    from bazooka.kafka import admin  # noqa: PLC0415

    return admin.preview_clear(ctx.kafka_admin(), ctx.settings)


def _preview_clear_redis(ctx: StepContext) -> dict[str, Any]:
    from bazooka import redis_ops  # noqa: PLC0415

    keys = redis_ops.keys_per_database(ctx.redis(), ctx.settings)
    return {"keys_to_flush": keys, "total_keys_to_flush": sum(keys.values())}


def _preview_send_stateful_orders(ctx: StepContext) -> dict[str, Any]:
    from bazooka.vulcan import send  # noqa: PLC0415

    if ctx.simulated.get("schema_reset"):
        return {"orders_to_send": 0, "note": "reset_db leaves no orders"}
    return send.preview(ctx.pg(), ctx.settings)


PREVIEWS: dict[str, Callable[[StepContext], dict[str, Any]]] = {
    "reset_db": _preview_reset_db,
    "rollback": _preview_rollback,
    "migrate": _preview_migrate,
    "clear_db": _preview_clear_db,
    "create_kafka_topics": _preview_create_kafka_topics,
    "clear_kafka_topics": _preview_clear_kafka_topics,
    "clear_redis": _preview_clear_redis,
    "send_stateful_orders_to_vulcan": _preview_send_stateful_orders,
}


def _pg_errors(ctx: StepContext, what: str) -> Any:
    from bazooka.postgres.connection import translated  # noqa: PLC0415

    return translated(what, ctx.settings)
