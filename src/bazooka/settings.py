"""Settings, read once from the environment with the original service's variable names.

The original parses its environment with ``@dydxprotocol-indexer/base`` config-util: an unset
*or empty* variable takes the default, booleans are exactly ``true`` or ``false``, integers must
be integers. We keep those rules, validate ranges as well, and report every invalid variable by
name before anything is touched. Secrets (``DB_PASSWORD``, ``KAFKA_SASL_PASSWORD``,
``BUGSNAG_KEY``, a password inside ``REDIS_URL``) are never echoed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from bazooka.errors import ConfigError


class NodeEnv(StrEnum):
    """Environment names the original accepts in ``NODE_ENV``."""

    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


SecurityProtocol = Literal["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]


class Settings(BaseModel):
    """Everything Bazooka reads from its environment. Build it with :meth:`from_env`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # Service
    service_name: str = Field("bazooka", alias="SERVICE_NAME", min_length=1)
    node_env: NodeEnv | None = Field(None, alias="NODE_ENV")
    log_level: Literal["debug", "info", "notice", "warning", "error", "crit"] = Field(
        "info", alias="LOG_LEVEL"
    )
    prevent_breaking_changes_without_force: bool = Field(
        True, alias="PREVENT_BREAKING_CHANGES_WITHOUT_FORCE"
    )
    bugsnag_key: SecretStr | None = Field(None, alias="BUGSNAG_KEY")
    bugsnag_release_stage: str | None = Field(None, alias="BUGSNAG_RELEASE_STAGE")
    bugsnag_notify_endpoint: str | None = Field(None, alias="BUGSNAG_NOTIFY_ENDPOINT")
    # Lambda: do not start a step (or a retry wait) with less than this much time left.
    lambda_time_reserve_ms: int = Field(10_000, alias="BAZOOKA_LAMBDA_RESERVE_MS", ge=0)

    # PostgreSQL
    db_hostname: str = Field("localhost", alias="DB_HOSTNAME", min_length=1)
    db_port: int = Field(5435, alias="DB_PORT", ge=1, le=65535)
    db_name: str = Field("dydx_dev", alias="DB_NAME", min_length=1)
    db_username: str = Field("dydx_dev", alias="DB_USERNAME", min_length=1)
    db_password: SecretStr = Field(SecretStr("dydxserver123"), alias="DB_PASSWORD")
    pg_pool_min: int = Field(1, alias="PG_POOL_MIN", ge=0)
    pg_pool_max: int = Field(2, alias="PG_POOL_MAX", ge=1)
    pg_acquire_connection_timeout_ms: int = Field(
        10_000, alias="PG_ACQUIRE_CONNECTION_TIMEOUT_MS", ge=1
    )

    # Kafka
    kafka_broker_urls: str = Field("localhost:9092", alias="KAFKA_BROKER_URLS", min_length=1)
    kafka_connection_timeout_ms: int = Field(5_000, alias="KAFKA_CONNECTION_TIMEOUT_MS", ge=1)
    kafka_replication_factor: int = Field(3, alias="KAFKA_REPLICATION_FACTOR", ge=1)
    kafka_max_batch_websocket_message_size_bytes: int = Field(
        900_000, alias="KAFKA_MAX_BATCH_WEBSOCKET_MESSAGE_SIZE_BYTES", ge=1
    )
    kafka_security_protocol: SecurityProtocol = Field("plaintext", alias="KAFKA_SECURITY_PROTOCOL")
    kafka_sasl_mechanism: str | None = Field(None, alias="KAFKA_SASL_MECHANISM")
    kafka_sasl_username: str | None = Field(None, alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr | None = Field(None, alias="KAFKA_SASL_PASSWORD")
    kafka_ssl_ca_location: str | None = Field(None, alias="KAFKA_SSL_CA_LOCATION")
    kafka_ssl_certificate_location: str | None = Field(None, alias="KAFKA_SSL_CERTIFICATE_LOCATION")
    kafka_ssl_key_location: str | None = Field(None, alias="KAFKA_SSL_KEY_LOCATION")
    kafka_ssl_key_password: SecretStr | None = Field(None, alias="KAFKA_SSL_KEY_PASSWORD")
    clear_kafka_topic_retry_ms: int = Field(3_000, alias="CLEAR_KAFKA_TOPIC_RETRY_MS", ge=0)
    clear_kafka_topic_max_retries: int = Field(3, alias="CLEAR_KAFKA_TOPIC_MAX_RETRIES", ge=1)

    # Redis
    redis_url: SecretStr = Field(SecretStr("redis://localhost:6382"), alias="REDIS_URL")
    redis_reconnect_timeout_ms: int = Field(500, alias="REDIS_RECONNECT_TIMEOUT_MS", ge=1)

    @model_validator(mode="after")
    def _check_relations(self) -> Settings:
        if self.pg_pool_min > self.pg_pool_max:
            raise ValueError("PG_POOL_MIN must not exceed PG_POOL_MAX")
        if self.kafka_security_protocol.startswith("sasl") and not self.kafka_sasl_mechanism:
            raise ValueError(
                "KAFKA_SASL_MECHANISM is required when KAFKA_SECURITY_PROTOCOL is "
                f"{self.kafka_security_protocol}"
            )
        scheme = urlsplit(self.redis_url.get_secret_value()).scheme
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; raise :class:`ConfigError` naming every bad variable."""
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        problems: list[str] = []
        for name, field in cls.model_fields.items():
            alias = field.alias or name
            value = env.get(alias)
            if value is None or value == "":
                if alias in _REQUIRED_IN_DEPLOYED_ENVS and _node_env(env) in _DEPLOYED_ENVS:
                    problems.append(f"{alias} must be set when NODE_ENV={_node_env(env)}")
                continue
            if field.annotation is bool:
                if value not in ("true", "false"):
                    problems.append(f"{alias}={value!r} is not a boolean: use 'true' or 'false'")
                    continue
                raw[alias] = value == "true"
            elif alias == "KAFKA_SECURITY_PROTOCOL":
                raw[alias] = value.lower()
            else:
                raw[alias] = value
        if problems:
            raise ConfigError("Invalid configuration: " + "; ".join(problems))
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError("Invalid configuration: " + _describe(exc, raw)) from None

    def public_view(self) -> dict[str, Any]:
        """The settings as shown to operators: secrets masked, URLs without passwords."""
        view = self.model_dump(by_alias=True, mode="json")
        for key, value in list(view.items()):
            if key in _SECRET_ALIASES and value is not None:
                view[key] = "***"
        view["REDIS_URL"] = mask_url(self.redis_url.get_secret_value())
        return view

    @property
    def kafka_brokers(self) -> list[str]:
        """``KAFKA_BROKER_URLS`` split on commas, blanks removed."""
        return [b.strip() for b in self.kafka_broker_urls.split(",") if b.strip()]


_DEPLOYED_ENVS = (NodeEnv.STAGING.value, NodeEnv.PRODUCTION.value)
# The original refuses to start in staging/production with the default broker list.
_REQUIRED_IN_DEPLOYED_ENVS = frozenset({"KAFKA_BROKER_URLS"})
_SECRET_ALIASES = frozenset(
    {"DB_PASSWORD", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_KEY_PASSWORD", "BUGSNAG_KEY", "REDIS_URL"}
)


def _node_env(env: Mapping[str, str]) -> str:
    return env.get("NODE_ENV") or ""


def _describe(exc: ValidationError, raw: Mapping[str, Any]) -> str:
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        alias = loc[0] if loc else ""
        message = error["msg"].removeprefix("Value error, ")
        if alias in raw:
            shown = "***" if alias in _SECRET_ALIASES else repr(raw[alias])
            parts.append(f"{alias}={shown}: {message}")
        else:
            parts.append(message)
    return "; ".join(parts)


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (for logs and reports)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
