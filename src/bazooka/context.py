"""What a step runs with: settings, progress, time budget and the run's lazily opened clients.

Connections are opened when a step first needs them, once per run, and closed by the runner.
Heavy client libraries are imported only then, so a run that never touches Kafka never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bazooka.budget import TimeBudget
from bazooka.progress import TaskProgress
from bazooka.settings import Settings

if TYPE_CHECKING:
    import redis
    from confluent_kafka.admin import AdminClient

    from bazooka.postgres.connection import Connection


class StepContext:
    """Settings, progress, time budget and the clients shared by the steps of one run."""

    def __init__(
        self,
        settings: Settings,
        progress: TaskProgress,
        budget: TimeBudget,
        *,
        dry_run: bool = False,
    ) -> None:
        self.settings = settings
        self.progress = progress
        self.budget = budget
        self.dry_run = dry_run  # plans only: a plan may then read more (the lock report)
        self._pg: Connection | None = None
        self._redis: redis.Redis | None = None
        self._admin: AdminClient | None = None

    def pg(self) -> Connection:
        """The run's PostgreSQL connection (autocommit; transactions are explicit)."""
        if self._pg is None or self._pg.closed:
            from bazooka.postgres.connection import connect  # noqa: PLC0415

            self._pg = connect(self.settings)
        return self._pg

    def redis(self) -> redis.Redis:
        """The run's Redis client."""
        if self._redis is None:
            from bazooka import redis_ops  # noqa: PLC0415

            self._redis = redis_ops.connect(self.settings)
        return self._redis

    def kafka_admin(self) -> AdminClient:
        """The run's Kafka admin client."""
        if self._admin is None:
            from bazooka.kafka.admin import connect_admin  # noqa: PLC0415

            self._admin = connect_admin(self.settings)
        return self._admin

    def close(self) -> None:
        """Close whatever was opened."""
        if self._pg is not None:
            self._pg.close()
        if self._redis is not None:
            self._redis.close()
        self._pg = self._redis = self._admin = None
