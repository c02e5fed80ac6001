"""Settings, read once from the environment with the original service's variable names.

The original parses its environment with ``@dydxprotocol-indexer/base`` config-util: an unset
*or empty* variable takes the default, booleans are exactly ``true`` or ``false``, integers must
be integers. We keep those rules, validate ranges as well, and report every invalid variable by
name before anything is touched. Secrets (``DB_PASSWORD``, ``KAFKA_SASL_PASSWORD``,
``KAFKA_SSL_KEY_PASSWORD``, ``BUGSNAG_KEY``, a password inside ``REDIS_URL``) are never echoed.

Validation is explicit code rather than a model library: it runs in every process start (CLI,
Lambda cold start), where importing one costs more than the whole ``clear_db`` step.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from bazooka.errors import ConfigError

NODE_ENVS = ("development", "test", "staging", "production")
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "crit")
SECURITY_PROTOCOLS = ("plaintext", "ssl", "sasl_plaintext", "sasl_ssl")


class Secret:
    """A value that never shows itself in ``repr``, ``str`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The real value, for the one place that needs it (a connection)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


T = TypeVar("T")


def _integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip(), 10)
        except ValueError:
            raise ValueError("is not an integer") from None
        if low is not None and value < low:
            raise ValueError(f"must be at least {low}")
        if high is not None and value > high:
            raise ValueError(f"must be at most {high}")
        return value

    return parse


def _boolean(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise ValueError("is not a boolean: use 'true' or 'false'")
    return raw == "true"


def _choice(options: tuple[str, ...], *, lower: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.lower() if lower else raw
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


def _text(raw: str) -> str:
    return raw


def _secret(raw: str) -> Secret:
    return Secret(raw)


def _env(name: str, default: T, parse: Callable[[str], T]) -> T:
    """A setting read from the variable ``name`` with ``parse``; ``default`` when unset or empty."""
    return field(default=default, metadata={"env": name, "parse": parse})


@dataclass(frozen=True)
class Settings:
    """Everything Bazooka reads from its environment. Build it with :meth:`from_env`."""

    # Service
    service_name: str = _env("SERVICE_NAME", "bazooka", _text)
    node_env: str | None = _env("NODE_ENV", None, _choice(NODE_ENVS))
    log_level: str = _env("LOG_LEVEL", "info", _choice(LOG_LEVELS, lower=True))
    prevent_breaking_changes_without_force: bool = _env(
        "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE", True, _boolean
    )
    bugsnag_key: Secret | None = _env("BUGSNAG_KEY", None, _secret)
    bugsnag_release_stage: str | None = _env("BUGSNAG_RELEASE_STAGE", None, _text)
    bugsnag_notify_endpoint: str | None = _env("BUGSNAG_NOTIFY_ENDPOINT", None, _text)
    # Lambda: do not start a step (or a retry wait) with less than this much time left.
    lambda_time_reserve_ms: int = _env("BAZOOKA_LAMBDA_RESERVE_MS", 10_000, _integer(0))
    # migrate: replay every migration even on an empty database (no one-transaction baseline).
    migrate_replay: bool = _env("BAZOOKA_MIGRATE_REPLAY", False, _boolean)
    # migrate / rollback: how long each attempt may wait for a table lock (0: forever, as Knex
    # does), and for how long attempts are retried (postgres/lock_wait.py).
    migration_lock_timeout_ms: int = _env("BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS", 2_000, _integer(0))
    migration_lock_retry_budget_ms: int = _env(
        "BAZOOKA_MIGRATION_LOCK_RETRY_BUDGET_MS", 180_000, _integer(0)
    )

    # PostgreSQL
    db_hostname: str = _env("DB_HOSTNAME", "localhost", _text)
    db_port: int = _env("DB_PORT", 5435, _integer(1, 65535))
    db_name: str = _env("DB_NAME", "dydx_dev", _text)
    db_username: str = _env("DB_USERNAME", "dydx_dev", _text)
    db_password: Secret = _env("DB_PASSWORD", Secret("dydxserver123"), _secret)
    pg_pool_min: int = _env("PG_POOL_MIN", 1, _integer(0))
    pg_pool_max: int = _env("PG_POOL_MAX", 2, _integer(1))
    pg_acquire_connection_timeout_ms: int = _env(
        "PG_ACQUIRE_CONNECTION_TIMEOUT_MS", 10_000, _integer(1)
    )
    # plan --migrate: warn when a rewrite, scan or index build holds a lock blocking reads or
    # writes on a table of at least this many estimated rows, or this many bytes.
    plan_lock_warn_rows: int = _env("BAZOOKA_PLAN_LOCK_WARN_ROWS", 1_000_000, _integer(0))
    plan_lock_warn_bytes: int = _env("BAZOOKA_PLAN_LOCK_WARN_BYTES", 1 << 30, _integer(0))

    # Kafka
    kafka_broker_urls: str = _env("KAFKA_BROKER_URLS", "localhost:9092", _text)
    kafka_connection_timeout_ms: int = _env("KAFKA_CONNECTION_TIMEOUT_MS", 5_000, _integer(1))
    kafka_replication_factor: int = _env("KAFKA_REPLICATION_FACTOR", 3, _integer(1))
    kafka_max_batch_websocket_message_size_bytes: int = _env(
        "KAFKA_MAX_BATCH_WEBSOCKET_MESSAGE_SIZE_BYTES", 900_000, _integer(1)
    )
    kafka_security_protocol: str = _env(
        "KAFKA_SECURITY_PROTOCOL", "plaintext", _choice(SECURITY_PROTOCOLS, lower=True)
    )
    kafka_sasl_mechanism: str | None = _env("KAFKA_SASL_MECHANISM", None, _text)
    kafka_sasl_username: str | None = _env("KAFKA_SASL_USERNAME", None, _text)
    kafka_sasl_password: Secret | None = _env("KAFKA_SASL_PASSWORD", None, _secret)
    kafka_ssl_ca_location: str | None = _env("KAFKA_SSL_CA_LOCATION", None, _text)
    kafka_ssl_certificate_location: str | None = _env("KAFKA_SSL_CERTIFICATE_LOCATION", None, _text)
    kafka_ssl_key_location: str | None = _env("KAFKA_SSL_KEY_LOCATION", None, _text)
    kafka_ssl_key_password: Secret | None = _env("KAFKA_SSL_KEY_PASSWORD", None, _secret)
    # Processes sharing send_stateful_orders_to_vulcan (0: as many as the CPUs and orders merit).
    vulcan_workers: int = _env("BAZOOKA_VULCAN_WORKERS", 0, _integer(0, 64))
    clear_kafka_topic_retry_ms: int = _env("CLEAR_KAFKA_TOPIC_RETRY_MS", 3_000, _integer(0))
    clear_kafka_topic_max_retries: int = _env("CLEAR_KAFKA_TOPIC_MAX_RETRIES", 3, _integer(1))

    # Redis
    redis_url: Secret = _env("REDIS_URL", Secret("redis://localhost:6382"), _secret)
    redis_reconnect_timeout_ms: int = _env("REDIS_RECONNECT_TIMEOUT_MS", 500, _integer(1))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, sources: Mapping[str, str] | None = None
    ) -> Settings:
        """Read and validate the settings; raise :class:`ConfigError` naming every bad variable
        (and, for a variable in ``sources``, the file it came from)."""
        env = os.environ if environ is None else environ
        sources = sources or {}
        values: dict[str, Any] = {}
        problems: list[str] = []
        for spec in dataclasses.fields(cls):
            name = spec.metadata["env"]
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[spec.name] = spec.metadata["parse"](raw)
            except ValueError as exc:
                shown = "***" if name in SECRET_VARIABLES else repr(raw)
                origin = f" (from {sources[name]})" if name in sources else ""
                problems.append(f"{name}={shown} {exc}{origin}")
        if problems:
            raise ConfigError("Invalid configuration: " + "; ".join(problems))
        settings = cls(**values)
        problems = _relations(settings, env)
        if problems:
            raise ConfigError("Invalid configuration: " + "; ".join(problems))
        return settings

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests, tools)."""
        return dataclasses.replace(self, **changes)

    @property
    def kafka_brokers(self) -> list[str]:
        """``KAFKA_BROKER_URLS`` split on commas, blanks removed."""
        return [b.strip() for b in self.kafka_broker_urls.split(",") if b.strip()]


SECRET_VARIABLES = frozenset(
    {"DB_PASSWORD", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_KEY_PASSWORD", "BUGSNAG_KEY", "REDIS_URL"}
)


def _relations(settings: Settings, env: Mapping[str, str]) -> list[str]:
    problems = []
    if settings.pg_pool_min > settings.pg_pool_max:
        problems.append("PG_POOL_MIN must not exceed PG_POOL_MAX")
    if settings.kafka_security_protocol.startswith("sasl") and not settings.kafka_sasl_mechanism:
        problems.append(
            "KAFKA_SASL_MECHANISM is required when KAFKA_SECURITY_PROTOCOL is "
            f"{settings.kafka_security_protocol}"
        )
    if urlsplit(settings.redis_url.get_secret_value()).scheme not in ("redis", "rediss", "unix"):
        problems.append("REDIS_URL must start with redis://, rediss:// or unix://")
    if not settings.kafka_brokers:
        problems.append("KAFKA_BROKER_URLS lists no broker")
    # The original refuses to start in staging/production with the default broker list.
    if settings.node_env in ("staging", "production") and not env.get("KAFKA_BROKER_URLS"):
        problems.append(f"KAFKA_BROKER_URLS must be set when NODE_ENV={settings.node_env}")
    return problems


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (for logs and reports)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "***"
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
