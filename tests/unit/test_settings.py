"""Settings: the original's names and defaults, strict parsing, secrets never echoed."""

from __future__ import annotations

import pytest

from bazooka.errors import ConfigError
from bazooka.settings import Settings, mask_url


def test_defaults_are_the_originals() -> None:
    s = Settings.from_env({})
    assert (s.db_hostname, s.db_port, s.db_name, s.db_username) == (
        "localhost",
        5435,
        "dydx_dev",
        "dydx_dev",
    )
    assert s.db_password.get_secret_value() == "dydxserver123"
    assert (s.pg_pool_min, s.pg_pool_max, s.pg_acquire_connection_timeout_ms) == (1, 2, 10_000)
    assert s.kafka_broker_urls == "localhost:9092"
    assert s.kafka_connection_timeout_ms == 5_000
    assert s.kafka_replication_factor == 3
    assert s.kafka_max_batch_websocket_message_size_bytes == 900_000
    assert s.service_name == "bazooka"
    assert s.redis_url.get_secret_value() == "redis://localhost:6382"
    assert s.prevent_breaking_changes_without_force is True
    assert (s.clear_kafka_topic_retry_ms, s.clear_kafka_topic_max_retries) == (3_000, 3)
    assert s.node_env is None and s.bugsnag_key is None


def test_values_are_read_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "DB_PORT": "6000",
            "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE": "false",
            "KAFKA_BROKER_URLS": "a:1, b:2,",
            "NODE_ENV": "staging",
            "PG_POOL_MAX": "10",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        }
    )
    assert s.db_port == 6000
    assert s.prevent_breaking_changes_without_force is False
    assert s.kafka_brokers == ["a:1", "b:2"]
    assert s.node_env == "staging"
    assert s.kafka_security_protocol == "sasl_ssl"


def test_empty_values_take_the_default_like_the_original() -> None:
    assert (
        Settings.from_env({"DB_PORT": "", "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE": ""}).db_port
        == 5435
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DB_PORT": "abc"}, "DB_PORT='abc'"),
        ({"DB_PORT": "70000"}, "DB_PORT='70000'"),
        (
            {"PREVENT_BREAKING_CHANGES_WITHOUT_FORCE": "maybe"},
            "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE='maybe' is not a boolean",
        ),
        ({"PREVENT_BREAKING_CHANGES_WITHOUT_FORCE": "True"}, "use 'true' or 'false'"),
        ({"CLEAR_KAFKA_TOPIC_MAX_RETRIES": "0"}, "CLEAR_KAFKA_TOPIC_MAX_RETRIES='0'"),
        ({"KAFKA_REPLICATION_FACTOR": "1.5"}, "KAFKA_REPLICATION_FACTOR='1.5'"),
        ({"NODE_ENV": "prod"}, "NODE_ENV='prod'"),
        ({"PG_POOL_MIN": "5", "PG_POOL_MAX": "2"}, "PG_POOL_MIN must not exceed PG_POOL_MAX"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with"),
        ({"KAFKA_SECURITY_PROTOCOL": "sasl_ssl"}, "KAFKA_SASL_MECHANISM is required"),
        ({"NODE_ENV": "production"}, "KAFKA_BROKER_URLS must be set when NODE_ENV=production"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert expected in str(err.value)


def test_every_invalid_variable_is_reported() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"DB_PORT": "abc", "REDIS_RECONNECT_TIMEOUT_MS": "x"})
    assert "DB_PORT" in str(err.value) and "REDIS_RECONNECT_TIMEOUT_MS" in str(err.value)


def test_secrets_are_never_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"REDIS_URL": "ftp://user:hunter2@host"})
    assert "hunter2" not in str(err.value)
    s = Settings.from_env(
        {
            "DB_PASSWORD": "hunter2",
            "REDIS_URL": "redis://:hunter2@r:6379/0",
            "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_PASSWORD": "hunter2",
            "BUGSNAG_KEY": "hunter2",
        }
    )
    assert "hunter2" not in repr(s) and "hunter2" not in str(s)
    assert mask_url(s.redis_url.get_secret_value()) == "redis://:***@r:6379/0"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://localhost:6382", "redis://localhost:6382"),
        ("redis://user:pw@host:6379/2", "redis://user:***@host:6379/2"),
        ("rediss://:pw@host", "rediss://:***@host"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
