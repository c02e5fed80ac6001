"""What the Lambda tests share, zip under the emulator (``test_lambda_runtime.py``) and
container image (``test_lambda_image.py``) alike: the database's migration state and the two
shapes of an invocation's answer."""

from __future__ import annotations

import json
from typing import Any

import psycopg

FUNCTION = "bazooka-test"
# Variables the function gets from the test environment (the services'), as Lambda's
# configuration would give them; nothing else of the developer's shell leaks in.
PASSED_ON = ("DB_", "REDIS_", "KAFKA_")


def connect(env: dict[str, str]) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(
        host=env["DB_HOSTNAME"],
        port=int(env["DB_PORT"]),
        dbname=env["DB_NAME"],
        user=env["DB_USERNAME"],
        password=env["DB_PASSWORD"],
        autocommit=True,
    )


def migrations(env: dict[str, str]) -> tuple[int, int | None]:
    """(rows in knex_migrations, knex_migrations_lock.is_locked), -1/None without tables."""
    with connect(env) as conn:
        if conn.execute("SELECT to_regclass('public.knex_migrations')").fetchone() == (None,):
            return -1, None
        applied = conn.execute("SELECT count(*) FROM knex_migrations").fetchone()
        lock = conn.execute("SELECT is_locked FROM knex_migrations_lock").fetchall()
    assert applied is not None and len(lock) == 1, lock
    return int(applied[0]), int(lock[0][0])


def success(invocation: Any) -> dict[str, Any]:
    """The report of a successful invocation (asserting the Lambda success shape)."""
    assert invocation.status == 200, invocation.body
    response = invocation.json()
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert body["message"] == "success"
    report: dict[str, Any] = body["report"]
    return report


def error(invocation: Any) -> dict[str, Any]:
    """The Lambda error the runtime interface client posted (errorType, errorMessage...)."""
    assert invocation.status == 200, invocation.body  # the emulator relays it as the body
    error: dict[str, Any] = invocation.json()
    assert set(error) >= {"errorType", "errorMessage", "requestId", "stackTrace"}, error
    return error


def slow_ddl(env: dict[str, str], *, seconds: float, only: str | None = None) -> None:
    """Make DDL commands in this database sleep (all of them, or one object's only)."""
    condition = (
        f"EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE object_identity = '{only}')"
        if only
        else "true"
    )
    with connect(env) as conn:
        conn.execute("CREATE SCHEMA test_slow")
        conn.execute(
            "CREATE FUNCTION test_slow.pause() RETURNS event_trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN IF {condition} THEN PERFORM pg_sleep({seconds}); END IF; END $$"
        )
        conn.execute(
            "CREATE EVENT TRIGGER test_slow_ddl ON ddl_command_end "
            "EXECUTE FUNCTION test_slow.pause()"
        )
