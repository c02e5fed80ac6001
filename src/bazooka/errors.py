"""Errors Bazooka raises, one class per kind of failure an operator must tell apart.

::

    BazookaError                      every error Bazooka raises on purpose
     ├── InvalidEvent                 the event is not a valid BazookaEvent      (CLI exit 2)
     ├── ConfigError                  an environment variable is invalid        (CLI exit 2)
     ├── ForceRequired                destructive step without force            (CLI exit 3)
     ├── OutOfTime                    the Lambda time budget ran out before a step or retry
     ├── PostgresError                PostgreSQL unreachable or a statement failed
     │    └── MigrationError          the migration engine refused or a migration failed
     │         ├── MigrationLocked    knex_migrations_lock is held by another run
     │         └── UnknownMigrations  the database records migrations this project lacks
     ├── KafkaOperationError          a Kafka admin or produce operation failed
     ├── RedisOperationError          Redis unreachable or FLUSHALL failed
     └── VulcanSendError              stateful orders could not all be sent and acknowledged

Third-party exceptions are translated at the boundary of the module that talks to the
server (``raise ... from exc``), so the cause is kept and every message says what failed,
on which resource, and what to do next.
"""

from __future__ import annotations


class BazookaError(Exception):
    """Base of every error Bazooka raises on purpose."""


class InvalidEvent(BazookaError):  # noqa: N818 - the domain name reads better than *Error
    """The invocation event is malformed; nothing was touched."""


class ConfigError(BazookaError):
    """An environment variable has an invalid value; nothing was touched."""


class ForceRequired(BazookaError):  # noqa: N818
    """A destructive step was asked for without ``force`` while force is required."""


class OutOfTime(BazookaError):  # noqa: N818
    """The remaining Lambda time is too short to start the next step or retry safely."""


class PostgresError(BazookaError):
    """PostgreSQL could not be reached or a statement failed."""


class MigrationError(PostgresError):
    """The migration engine refused to run or a migration failed."""


class MigrationLocked(MigrationError):  # noqa: N818
    """``knex_migrations_lock`` is held: another run is migrating, or a killed run left it."""


class UnknownMigrations(MigrationError):  # noqa: N818
    """The database records migrations that this project does not know."""


class KafkaOperationError(BazookaError):
    """A Kafka admin or produce operation failed."""


class RedisOperationError(BazookaError):
    """Redis could not be reached or the flush failed."""


class VulcanSendError(BazookaError):
    """Stateful orders could not all be converted, sent and acknowledged."""
