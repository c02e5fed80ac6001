"""A Kafka broker, a Redis and a database of the tests' own, so that the suite never writes
into the local deployment's.

The environment the suite is given (``scripts/services.py env``) names the services a
deployment uses too (``scripts/deploy-local.sh`` in the same checkout): its broker holds the
deployment's ``to-vulcan``, its Redis the deployment's keys, its ``DB_NAME`` (``dydx_dev``) the
deployment's schema. Bazooka's topic names are fixed and ``clear_redis`` flushes every database
of a server, so names alone cannot separate the tests: before the first integration test,
:func:`start` starts a broker and a Redis for the tests with ``scripts/services.py`` (in a
state directory of their own under the checkout's ``.local/``, on free ports), creates a
database for them on the shared PostgreSQL server, and points ``KAFKA_BROKER_URLS``,
``REDIS_URL`` and ``DB_NAME`` of this process (hence of every test, subprocess and fault
campaign it starts) at them. :func:`stop` undoes all of it at the end of the session. The
three-broker cluster (``KAFKA_CLUSTER_BROKER_URLS``) is the tests' alone already.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.helpers import ROOT, admin_dsn, free_ports, make_settings

# Variables pointed at the tests' own services for the session; the deployment's values are
# kept under DEPLOYMENT_PREFIX + name (for the guard, and for a test that must name them).
REDIRECTED = ("KAFKA_BROKER_URLS", "REDIS_URL", "DB_NAME")
DEPLOYMENT_PREFIX = "BAZOOKA_DEPLOYMENT_"
REDIS_STATE = "BAZOOKA_REDIS_LOCAL_DIR"  # read by bench/faults.py


@dataclass(frozen=True)
class OwnServices:
    """The tests' broker, Redis and database, and where their state lives."""

    state: Path
    brokers: str
    redis_url: str
    db_name: str
    deployment: dict[str, str]  # the redirected variables as the suite was given them


def state_dir() -> Path:
    """``<the checkout's services state>/tests-own-services``."""
    shared = Path(os.environ.get("BAZOOKA_LOCAL_DIR") or ROOT / ".local")
    return shared / "tests-own-services"


def _services(state: Path, *args: str, ports: dict[str, str] | None = None) -> None:
    # The state directory's own ports (ports.json), never the deployment's port variables.
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("BAZOOKA_") and k.endswith("_PORT"))
    }
    env.update({"BAZOOKA_LOCAL_DIR": str(state), **(ports or {})})
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "services.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"scripts/services.py {' '.join(args)} for the tests' own services failed:\n"
            f"{result.stderr}"
        )


def start() -> OwnServices:
    """Start the tests' broker and Redis, create their database, and redirect this process's
    environment to them."""
    state = state_dir()
    if state.exists():  # left by a session that was killed: stop what it started
        _services(state, "stop", "--only", "kafka,redis")
        shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    # Reuse the Kafka jars of the shared services instead of resolving them with Maven again.
    libs = state.parent / "kafka" / "libs"
    if libs.is_dir():
        (state / "kafka").mkdir()
        (state / "kafka" / "libs").symlink_to(libs)
    port = free_ports(3)  # the broker, its controller, and Redis
    _services(
        state,
        "start",
        "--only",
        "kafka,redis",
        ports={"BAZOOKA_KAFKA_PORT": str(port), "BAZOOKA_REDIS_PORT": str(port + 2)},
    )
    db_name = f"bz_tests_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn(make_settings(dict(os.environ))), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    own = OwnServices(
        state=state,
        brokers=f"127.0.0.1:{port}",
        redis_url=f"redis://127.0.0.1:{port + 2}",
        db_name=db_name,
        deployment={name: os.environ[name] for name in REDIRECTED if name in os.environ},
    )
    for name, value in own.deployment.items():
        os.environ[DEPLOYMENT_PREFIX + name] = value
    os.environ.update(
        {"KAFKA_BROKER_URLS": own.brokers, "REDIS_URL": own.redis_url, "DB_NAME": own.db_name}
    )
    # Where the Redis of REDIS_URL keeps its state: the fault campaign restarts that one.
    os.environ[REDIS_STATE] = str(state)
    return own


def stop(own: OwnServices) -> None:
    """Give the environment back, drop the tests' database, stop their broker and Redis."""
    os.environ.pop(REDIS_STATE, None)
    for name in REDIRECTED:
        os.environ.pop(DEPLOYMENT_PREFIX + name, None)
        if name in own.deployment:
            os.environ[name] = own.deployment[name]
        else:
            os.environ.pop(name, None)
    try:
        with psycopg.connect(admin_dsn(make_settings(dict(os.environ))), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{own.db_name}" WITH (FORCE)')
    finally:
        _services(own.state, "stop", "--only", "kafka,redis")
        shutil.rmtree(own.state, ignore_errors=True)


def deployment_env() -> dict[str, str]:
    """The environment of the deployment's services (what the suite was given)."""
    env = dict(os.environ)
    for name in REDIRECTED:
        if DEPLOYMENT_PREFIX + name in env:
            env[name] = env[DEPLOYMENT_PREFIX + name]
    return env
