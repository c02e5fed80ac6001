"""Errors Bazooka raises, one class per kind of failure an operator must tell apart.

::

    BazookaError                      every error Bazooka raises on purpose        exit 1
     ├── InvalidEvent                 the event is not a valid BazookaEvent         exit 2
     ├── ConfigError                  an environment variable is invalid           exit 2
     ├── ForceRequired                destructive step without force               exit 3
     ├── OutOfTime                    the Lambda time budget ran out before a step or retry
     ├── PlanForeseesFailure          a plan (dry run) foresees a step failing         exit 1
     ├── UnexpectedError              a failure Bazooka did not anticipate (its cause kept)
     ├── PostgresError                PostgreSQL unreachable or a statement failed
     │    └── MigrationError          the migration engine refused or a migration failed
     │         ├── MigrationLocked    knex_migrations_lock is held by another run
     │         └── UnknownMigrations  the database records migrations this project lacks
     │    └── SchemaDrift             the schema differs from what the recorded migrations left
     ├── KafkaOperationError          a Kafka admin or produce operation failed
     ├── RedisOperationError          Redis unreachable or FLUSHALL failed
     └── VulcanSendError              stateful orders could not all be sent and acknowledged

Third-party exceptions are translated at the boundary of the module that talks to the
server (``raise ... from exc``), so the cause is kept and every message says what failed,
on which resource, and what to do next. A step that fails after doing part of its work passes
what it did as ``details`` (a step outcome), which the report shows beside the error.

Each class names the process exit code the CLI returns for it (:class:`ExitCode`).
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from bazooka.outcome import Outcome


class ExitCode(IntEnum):
    """Process exit codes of the ``bazooka`` command, stable for scripts."""

    OK = 0
    FAILED = 1  # a step failed, or a plan foresees one failing (``status``: a service is down)
    INVALID_INPUT = 2  # event, flags or environment
    FORCE_REQUIRED = 3  # refused without force


class BazookaError(Exception):
    """Base of every error Bazooka raises on purpose.

    ``details``: what the failing step had done before it failed (e.g. the topics it did clear),
    rendered in the report beside the error.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.FAILED

    def __init__(self, message: str, *, details: Outcome | None = None) -> None:
        super().__init__(message)
        self.details = details


class InvalidEvent(BazookaError):  # noqa: N818 - the domain name reads better than *Error
    """The invocation event is malformed; nothing was touched."""

    exit_code = ExitCode.INVALID_INPUT


class ConfigError(BazookaError):
    """An environment variable has an invalid value; nothing was touched."""

    exit_code = ExitCode.INVALID_INPUT


class ForceRequired(BazookaError):  # noqa: N818
    """A destructive step was asked for without ``force`` while force is required.

    ``steps``: the destructive steps the event asks for (what was refused).
    """

    exit_code = ExitCode.FORCE_REQUIRED

    def __init__(self, message: str, *, steps: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.steps = steps


class OutOfTime(BazookaError):  # noqa: N818
    """The remaining Lambda time is too short to start the next step or retry safely."""


class PlanForeseesFailure(BazookaError):  # noqa: N818
    """A dry run's plan foresees that a step would fail (exit 1, as the run would).

    For example ``create_kafka_topics`` with ``KAFKA_REPLICATION_FACTOR`` above the broker
    count, or ``migrate`` / ``rollback`` on a database that records migrations this Bazooka
    does not ship.
    """


class UnexpectedError(BazookaError):
    """A failure Bazooka did not anticipate; the original exception is its ``__cause__``."""

    @classmethod
    def wrapping(cls, exc: BaseException) -> UnexpectedError:
        """``unexpected <Type>: <message>``, caused by ``exc``."""
        error = cls(f"unexpected {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error


class PostgresError(BazookaError):
    """PostgreSQL could not be reached or a statement failed."""


class MigrationError(PostgresError):
    """The migration engine refused to run or a migration failed."""


class MigrationLocked(MigrationError):  # noqa: N818
    """``knex_migrations_lock`` is held: another run is migrating, or a killed run left it."""


class UnknownMigrations(MigrationError):  # noqa: N818
    """The database records migrations that this project does not know."""


class SchemaDrift(PostgresError):  # noqa: N818
    """``verify_schema``: the live schema differs from the one its recorded migrations leave."""


class KafkaOperationError(BazookaError):
    """A Kafka admin or produce operation failed."""


class RedisOperationError(BazookaError):
    """Redis could not be reached or the flush failed."""


class VulcanSendError(BazookaError):
    """Stateful orders could not all be converted, sent and acknowledged."""


def sentence(*parts: str) -> str:
    """Join message parts into sentences: each ends with exactly one stop.

    Driver messages end in ``?`` or ``.`` or nothing (``... accepting TCP/IP connections?``,
    ``Connection refused.``); appending ``". Check ..."`` to them gave ``?.`` and ``..``.
    """
    out: list[str] = []
    for part in parts:
        text = part.strip()
        if not text:
            continue
        out.append(text if text.endswith((".", "?", "!")) else text + ".")
    return " ".join(out)
