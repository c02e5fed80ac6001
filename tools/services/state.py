"""Where this checkout's services keep their state, and what they are called: read from the
environment when asked, never at import."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The checkout (``scripts/services.py`` is ``ROOT/scripts/services.py``)."""

# The original's local defaults, so `bazooka` works against these services unconfigured.
DB_NAME, DB_USER, DB_PASSWORD = "dydx_dev", "dydx_dev", "dydxserver123"


PG_SUPERUSER_PASSWORD = "postgres"


KAFKA_VERSION_MARKER = "kafka_2.13-3.9.1.jar"


HOST = "127.0.0.1"


# service -> (the variable that moves it, default port, what it is)
PORT_VARIABLES = {
    "pg": ("BAZOOKA_PG_PORT", 5435, "PostgreSQL"),
    "redis": ("BAZOOKA_REDIS_PORT", 6382, "Redis"),
    "kafka": ("BAZOOKA_KAFKA_PORT", 9092, "Kafka broker"),
    "cluster": ("BAZOOKA_KAFKA_CLUSTER_PORT", 19092, "Kafka cluster"),
}


class ServiceError(RuntimeError):
    """A service could not be installed, started or reached."""


def say(message: str) -> None:
    print(f"[services] {message}", file=sys.stderr, flush=True)


def state_dir() -> Path:
    """This checkout's state directory: ``$BAZOOKA_LOCAL_DIR``, else ``.local/`` in the
    checkout. Per checkout: two clones never share pid files, so neither adopts nor stops the
    other's services."""
    return Path(os.environ.get("BAZOOKA_LOCAL_DIR") or ROOT / ".local").resolve()


def state_explicit() -> bool:
    """Whether the state directory was chosen with ``$BAZOOKA_LOCAL_DIR``."""
    return bool(os.environ.get("BAZOOKA_LOCAL_DIR"))


def ports_file() -> Path:
    """Where the ports the services were started with are recorded."""
    return state_dir() / "ports.json"


def is_root() -> bool:
    """Whether this runs as root (then PostgreSQL runs as the ``postgres`` user)."""
    return os.geteuid() == 0
