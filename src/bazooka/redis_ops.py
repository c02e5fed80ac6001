"""Redis: count keys per logical database and flush everything (``clear_redis``)."""

from __future__ import annotations

import logging
from typing import Any

import redis

from bazooka.errors import RedisOperationError
from bazooka.logs import emit
from bazooka.settings import Settings, mask_url

log = logging.getLogger(__name__)


def connect(settings: Settings) -> redis.Redis:
    """A client for ``REDIS_URL`` with timeouts from ``REDIS_RECONNECT_TIMEOUT_MS``.

    The original reconnects forever every ``REDIS_RECONNECT_TIMEOUT_MS``; a one-shot tool must
    not hang, so we use that value as the socket timeout floor (at least 5 s) and fail clearly.
    """
    timeout_s = max(5.0, settings.redis_reconnect_timeout_ms / 1000)
    return redis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_connect_timeout=timeout_s,
        socket_timeout=max(timeout_s, 30.0),
        client_name=settings.service_name,
    )


def keys_per_database(client: redis.Redis, settings: Settings) -> dict[str, int]:
    """Number of keys in each non-empty logical database, e.g. ``{"db0": 12, "db3": 1}``."""
    info = _call(client, settings, "INFO keyspace", lambda: client.info("keyspace"))
    counts: dict[str, int] = {}
    for name, stats in sorted(info.items(), key=lambda item: _db_index(item[0])):
        if isinstance(stats, dict):
            counts[name] = int(stats.get("keys", 0))
    return counts


def flush_all(client: redis.Redis, settings: Settings) -> dict[str, Any]:
    """FLUSHALL; report the keys removed per logical database and in total."""
    before = keys_per_database(client, settings)
    _call(client, settings, "FLUSHALL", client.flushall)
    after = keys_per_database(client, settings)
    removed = {db: count - after.get(db, 0) for db, count in before.items()}
    emit(
        log,
        logging.INFO,
        "redis_ops#flush_all",
        "Flushed Redis",
        redis=mask_url(settings.redis_url.get_secret_value()),
        keysRemoved=removed,
    )
    return {
        "redis": mask_url(settings.redis_url.get_secret_value()),
        "keys_removed": removed,
        "total_keys_removed": sum(removed.values()),
        "keys_left": sum(after.values()),
    }


def _call(client: redis.Redis, settings: Settings, what: str, fn: Any) -> Any:
    try:
        return fn()
    except redis.RedisError as exc:
        target = mask_url(settings.redis_url.get_secret_value())
        raise RedisOperationError(
            f"Redis {what} failed on {target}: {exc}. Check REDIS_URL and that Redis is reachable."
        ) from exc


def _db_index(name: str) -> int:
    return int(name[2:]) if name.startswith("db") and name[2:].isdigit() else 1 << 30
