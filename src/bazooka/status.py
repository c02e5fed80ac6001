"""``bazooka status``: read-only state of every system Bazooka manages, one section each.

The sections are the systems of the step table (:class:`bazooka.steps.System`). An unreachable
service is reported in its own section (``{"error": ...}``); the others are still inspected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bazooka.errors import BazookaError, UnexpectedError
from bazooka.settings import Settings
from bazooka.systems import System

if TYPE_CHECKING:
    from bazooka.postgres.connection import Connection


def gather(settings: Settings) -> dict[str, Any]:
    """Each system's state, read independently: one failing does not hide the others."""
    return {system.value: _section(_READERS[system], settings) for system in System}


def all_reachable(report: dict[str, Any]) -> bool:
    """True when no section recorded an error."""
    return not any("error" in section for section in report.values())


def _section(read: Callable[[Settings], dict[str, Any]], settings: Settings) -> dict[str, Any]:
    try:
        return read(settings)
    except BazookaError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one broken service must not hide the others
        return {"error": str(UnexpectedError.wrapping(exc))}


def _postgres(settings: Settings) -> dict[str, Any]:
    from bazooka.postgres import bookkeeping, lock  # noqa: PLC0415
    from bazooka.postgres.connection import connect, describe_target, translated  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    with connect(settings) as conn, translated("reading migration status", settings):
        held = lock.state(conn)
        state = bookkeeping.status(conn, bundled(), locked=held.locked, lock_rows=held.rows)
        schema = _schema(conn)
    return {
        "target": describe_target(settings),
        "known_migrations": len(bundled()),
        "newest_known_migration": bundled()[-1].name if bundled() else None,
        **state.to_dict(),
        "schema": schema,
    }


def _schema(conn: Connection) -> dict[str, Any]:
    """The summary of ``bazooka verify``: match or drift, in one line."""
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415
    from bazooka.postgres.verify import verify  # noqa: PLC0415

    try:
        report = verify(conn, bundled())
    except Exception as exc:  # noqa: BLE001 - must not hide the migration status beside it
        return {"ok": None, "headline": cannot_verify(exc), "differences": None}
    return {"ok": report.ok, "headline": report.headline(), "differences": len(report.differences)}


def cannot_verify(exc: BaseException) -> str:
    """``cannot verify: <why>``, once: the verify errors already start with "Cannot verify"."""
    message = str(exc)
    prefix = "cannot verify:"
    if message.lower().startswith(prefix):
        message = message[len(prefix) :].lstrip()
    return f"{prefix} {message}"


def _kafka(settings: Settings) -> dict[str, Any]:
    from bazooka.kafka.admin import connect_admin, topics_status  # noqa: PLC0415

    return {
        "brokers_url": settings.kafka_broker_urls,
        **topics_status(connect_admin(settings), settings),
    }


def _redis(settings: Settings) -> dict[str, Any]:
    from bazooka import redis_ops  # noqa: PLC0415
    from bazooka.settings import mask_url  # noqa: PLC0415

    client = redis_ops.connect(settings)
    try:
        keys = redis_ops.keys_per_database(client, settings)
    finally:
        client.close()
    return {
        "url": mask_url(settings.redis_url.get_secret_value()),
        "keys": keys,
        "total_keys": sum(keys.values()),
    }


_READERS: dict[System, Callable[[Settings], dict[str, Any]]] = {
    System.POSTGRES: _postgres,
    System.KAFKA: _kafka,
    System.REDIS: _redis,
}
