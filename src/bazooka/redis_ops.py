"""Redis: count keys per logical database and flush everything (``clear_redis``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from bazooka.errors import RedisOperationError, sentence
from bazooka.logs import emit
from bazooka.outcome import NoLaterEffect
from bazooka.settings import Settings, mask_url

log = logging.getLogger(__name__)

# The original reconnects forever every REDIS_RECONNECT_TIMEOUT_MS; a one-shot tool must not
# hang, so that value is a floor raised to these bounds: reaching Redis, then one command.
MIN_CONNECT_TIMEOUT_S = 5.0
MIN_COMMAND_TIMEOUT_S = 30.0
_UNNUMBERED = 1 << 30  # sorts a keyspace entry that is not "db<N>" last

T = TypeVar("T")


def connect(settings: Settings) -> redis.Redis:
    """A client for ``REDIS_URL`` with timeouts from ``REDIS_RECONNECT_TIMEOUT_MS``."""
    timeout_s = max(MIN_CONNECT_TIMEOUT_S, settings.redis_reconnect_timeout_ms / 1000)
    return redis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_connect_timeout=timeout_s,
        socket_timeout=max(timeout_s, MIN_COMMAND_TIMEOUT_S),
        client_name=settings.service_name,
    )


@dataclass(frozen=True)
class FlushPlan(NoLaterEffect):
    """``clear_redis``: FLUSHALL, and the keys each logical database holds now."""

    keys: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"keys_to_flush": dict(self.keys), "total_keys_to_flush": sum(self.keys.values())}

    def headline(self) -> str:
        """``would flush N key(s)``."""
        return f"would flush {sum(self.keys.values())} key(s)"


@dataclass(frozen=True)
class FlushResult:
    """The keys FLUSHALL removed per logical database, and any left (written meanwhile)."""

    redis: str  # the URL, password masked
    removed: Mapping[str, int]
    left: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "redis": self.redis,
            "keys_removed": dict(self.removed),
            "total_keys_removed": sum(self.removed.values()),
            "keys_left": self.left,
        }

    def headline(self) -> str:
        """``flushed N key(s)``."""
        return f"flushed {sum(self.removed.values())} key(s)"


def keys_per_database(client: redis.Redis, settings: Settings) -> dict[str, int]:
    """Number of keys in each non-empty logical database, e.g. ``{"db0": 12, "db3": 1}``."""
    info = _call(settings, "INFO keyspace", lambda: client.info("keyspace"))
    counts: dict[str, int] = {}
    for name, stats in sorted(info.items(), key=lambda item: _db_index(item[0])):
        if isinstance(stats, dict):
            counts[name] = int(stats.get("keys", 0))
    return counts


def plan_flush(client: redis.Redis, settings: Settings) -> FlushPlan:
    """What FLUSHALL would remove."""
    return FlushPlan(keys_per_database(client, settings))


def apply_flush(client: redis.Redis, settings: Settings, plan: FlushPlan) -> FlushResult:
    """FLUSHALL; report the keys removed per logical database and in total."""
    _call(settings, "FLUSHALL", client.flushall)
    after = keys_per_database(client, settings)
    removed = {db: count - after.get(db, 0) for db, count in plan.keys.items()}
    target = mask_url(settings.redis_url.get_secret_value())
    emit(
        log,
        logging.INFO,
        "redis_ops#apply_flush",
        "Flushed Redis",
        redis=target,
        keysRemoved=removed,
    )
    return FlushResult(target, removed, sum(after.values()))


def _call(settings: Settings, what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except redis.RedisError as exc:
        target = mask_url(settings.redis_url.get_secret_value())
        raise RedisOperationError(
            sentence(
                f"Redis {what} failed on {target}: {exc}",
                "Check REDIS_URL and that Redis is reachable.",
            )
        ) from exc


def _db_index(name: str) -> int:
    return int(name[2:]) if name.startswith("db") and name[2:].isdigit() else _UNNUMBERED
