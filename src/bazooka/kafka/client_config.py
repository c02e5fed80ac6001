"""librdkafka configuration shared by the admin client and the producer."""

from __future__ import annotations

from typing import Any

from bazooka.settings import Settings

# A request on an established connection may take longer than reaching the broker did.
MIN_SOCKET_TIMEOUT_MS = 10_000
# librdkafka's syslog levels: 7 = debug, 0 = only emergencies (in effect, silent).
LIBRDKAFKA_LOG_DEBUG = 7
LIBRDKAFKA_LOG_SILENT = 0


def common_config(settings: Settings) -> dict[str, Any]:
    """Brokers, client id, timeouts and TLS/SASL in librdkafka's own property names."""
    timeout_ms = settings.kafka_connection_timeout_ms
    config: dict[str, Any] = {
        "bootstrap.servers": ",".join(settings.kafka_brokers),
        "client.id": settings.service_name,
        "socket.connection.setup.timeout.ms": timeout_ms,
        "socket.timeout.ms": max(timeout_ms, MIN_SOCKET_TIMEOUT_MS),
        # Prefer IPv4 for "localhost" so a broker bound to 127.0.0.1 answers at once.
        "broker.address.family": "v4" if _all_localhost(settings) else "any",
        "security.protocol": settings.kafka_security_protocol,
        # librdkafka's own lines (e.g. every refused connect) would drown our structured
        # logs; its failures reach us as errors we translate. LOG_LEVEL=debug turns them on.
        "log_level": (
            LIBRDKAFKA_LOG_DEBUG if settings.log_level == "debug" else LIBRDKAFKA_LOG_SILENT
        ),
    }
    optional = {
        "sasl.mechanism": settings.kafka_sasl_mechanism,
        "sasl.username": settings.kafka_sasl_username,
        "sasl.password": (
            settings.kafka_sasl_password.get_secret_value()
            if settings.kafka_sasl_password
            else None
        ),
        "ssl.ca.location": settings.kafka_ssl_ca_location,
        "ssl.certificate.location": settings.kafka_ssl_certificate_location,
        "ssl.key.location": settings.kafka_ssl_key_location,
        "ssl.key.password": (
            settings.kafka_ssl_key_password.get_secret_value()
            if settings.kafka_ssl_key_password
            else None
        ),
    }
    config.update({key: value for key, value in optional.items() if value is not None})
    return config


def _all_localhost(settings: Settings) -> bool:
    return all(b.split(":")[0] in ("localhost", "127.0.0.1") for b in settings.kafka_brokers)
