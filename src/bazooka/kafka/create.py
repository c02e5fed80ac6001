"""``create_kafka_topics``: create the missing managed topics, grow those below target.

Planned from the cluster's metadata (:func:`plan_creation`), then applied (:func:`apply_creation`):
exactly the planned topics are created and grown, and the step succeeds only once every one of
them has a leader for each partition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from bazooka.budget import TimeBudget, UnlimitedTime
from bazooka.errors import KafkaOperationError
from bazooka.kafka.admin import ADMIN_TIMEOUT_S, describe_cluster, error_code, reason, watermarks
from bazooka.kafka.topics import TopicPlan, plan_topics
from bazooka.logs import emit
from bazooka.outcome import EarlierSteps
from bazooka.progress import NullProgress, TaskProgress
from bazooka.settings import Settings

log = logging.getLogger(__name__)

# How often the cluster's metadata is read while waiting for new topics to be usable, and for
# how long at most: a small broker takes seconds to lead 210 new partitions, a loaded one more.
READY_POLL_INTERVAL_S = 0.1
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class CreationPlan:
    """The cluster as it is and which managed topics to create or grow."""

    brokers: int
    replication_factor: int
    topics: TopicPlan

    @property
    def problem(self) -> str | None:
        """Why creation would be refused: the replication factor exceeds the brokers."""
        if self.topics.create and self.replication_factor > self.brokers:
            return (
                f"KAFKA_REPLICATION_FACTOR={self.replication_factor} exceeds the "
                f"{self.brokers} broker(s): creation would be refused (lower "
                "KAFKA_REPLICATION_FACTOR or add brokers)"
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "brokers": self.brokers,
            "replication_factor": self.replication_factor,
            **self.topics.to_dict(),
        }
        if self.problem is not None:
            out["problem"] = self.problem
        return out

    def headline(self) -> str:
        """``would create N topic(s), grow M`` or ``nothing to do`` (and the topics above
        their target, which are left as they are)."""
        line = (
            f"would create {len(self.topics.create)} topic(s), grow {len(self.topics.grow)}"
            if self.topics.changes_anything
            else "nothing to do"
        )
        return line + _above_target_note(self.topics)

    def then(self, earlier: EarlierSteps) -> EarlierSteps:
        """Later steps of a dry run find the created topics, empty."""
        return earlier.with_topics_created(self.topics.create)


@dataclass(frozen=True)
class CreationResult:
    """What ``create_kafka_topics`` did to the planned topics."""

    plan: CreationPlan
    created_by_someone_else: tuple[str, ...] = ()  # created concurrently: tolerated

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out = self.plan.to_dict()
        out.pop("problem", None)
        if not self.plan.topics.changes_anything:
            out["changed"] = False
            out["message"] = "every managed topic exists with its target partitions; nothing to do"
            return out
        if self.plan.topics.create:
            out["created_concurrently_by_someone_else"] = list(self.created_by_someone_else)
        out["changed"] = True
        return out

    def headline(self) -> str:
        """``created N topic(s), grew M`` or ``nothing to do``."""
        topics = self.plan.topics
        line = (
            f"created {len(topics.create)} topic(s), grew {len(topics.grow)}"
            if topics.changes_anything
            else "nothing to do"
        )
        return line + _above_target_note(topics)


def _above_target_note(topics: TopicPlan) -> str:
    """``; N topic(s) above target ...``: not a failure (the run succeeds), but said."""
    if not topics.above_target:
        return ""
    names = ", ".join(f"{c.topic} ({c.partitions} > {c.target})" for c in topics.above_target)
    return (
        f"; {len(topics.above_target)} topic(s) have more partitions than their target, left "
        f"as they are since Kafka cannot shrink a topic: {names}"
    )


def plan_creation(admin: AdminClient, settings: Settings) -> CreationPlan:
    """Compare the managed topics with their targets."""
    view = describe_cluster(admin, settings)
    return CreationPlan(view.brokers, settings.kafka_replication_factor, plan_topics(view.managed))


def apply_creation(
    admin: AdminClient,
    settings: Settings,
    plan: CreationPlan,
    progress: TaskProgress,
    budget: TimeBudget,
) -> CreationResult:
    """Create and grow the planned topics; report those above target (Kafka cannot shrink)."""
    for change in plan.topics.above_target:
        emit(
            log,
            logging.WARNING,
            "kafka.create#apply_creation",
            f"Topic {change.topic} has {change.partitions} partitions, more than its target "
            f"{change.target}; Kafka cannot shrink it, left as is",
            topic=change.topic,
        )
    if not plan.topics.changes_anything:
        return CreationResult(plan)
    if plan.problem is not None:
        raise KafkaOperationError(
            f"KAFKA_REPLICATION_FACTOR={plan.replication_factor} is more than the "
            f"{plan.brokers} broker(s) of the cluster at {settings.kafka_broker_urls}; no topic "
            "was created. Lower KAFKA_REPLICATION_FACTOR or add brokers."
        )
    progress.start_task("creating topics", len(plan.topics.create) + len(plan.topics.grow))
    already = _create(admin, plan, progress)
    _grow(admin, plan, progress)
    targets = {**plan.topics.create, **{c.topic: c.target for c in plan.topics.grow}}
    _await_ready(admin, settings, targets, budget)
    return CreationResult(plan, tuple(already))


def ensure_topics(
    admin: AdminClient, settings: Settings, progress: TaskProgress | None = None
) -> CreationResult:
    """Plan, then create and grow the managed topics (for tools and tests)."""
    plan = plan_creation(admin, settings)
    return apply_creation(admin, settings, plan, progress or NullProgress(), UnlimitedTime())


def _create(admin: AdminClient, plan: CreationPlan, progress: TaskProgress) -> list[str]:
    """Create the planned topics; returns those someone else created meanwhile."""
    if not plan.topics.create:
        return []
    emit(
        log,
        logging.INFO,
        "kafka.create#apply_creation",
        f"Creating topics: {', '.join(plan.topics.create)}",
    )
    futures = admin.create_topics(
        [NewTopic(t, n, plan.replication_factor) for t, n in plan.topics.create.items()],
        request_timeout=ADMIN_TIMEOUT_S,
        operation_timeout=ADMIN_TIMEOUT_S,
    )
    return _wait_all(futures, "create topic", progress, ok_codes={KafkaError.TOPIC_ALREADY_EXISTS})


def _grow(admin: AdminClient, plan: CreationPlan, progress: TaskProgress) -> None:
    """Raise the planned topics' partition counts to their targets."""
    if not plan.topics.grow:
        return
    for change in plan.topics.grow:
        emit(
            log,
            logging.INFO,
            "kafka.create#apply_creation",
            f"Setting topic {change.topic} to {change.target} partitions",
            topic=change.topic,
        )
    futures = admin.create_partitions(
        [NewPartitions(c.topic, c.target) for c in plan.topics.grow],
        request_timeout=ADMIN_TIMEOUT_S,
        operation_timeout=ADMIN_TIMEOUT_S,
    )
    _wait_all(futures, "grow partitions of topic", progress)


def _wait_all(
    futures: dict[str, Any],
    what: str,
    progress: TaskProgress,
    ok_codes: Iterable[int] = (),
) -> list[str]:
    """Wait for every admin future; raise naming each failed topic. Returns tolerated ones."""
    tolerated: list[str] = []
    failures: list[str] = []
    codes = set(ok_codes)
    for topic, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            if error_code(exc) in codes:
                tolerated.append(topic)
            else:
                failures.append(f"{topic}: {reason(exc)}")
        progress.advance(1, description=str(topic))
    if failures:
        raise KafkaOperationError(f"Could not {what} {'; '.join(failures)}")
    return tolerated


def _answering(admin: AdminClient, settings: Settings, topic: str, partitions: int) -> bool:
    """Whether every partition's leader answers an offsets request (one try, no retries)."""
    marks = watermarks(admin, topic, range(partitions), settings, retry=False)
    return all(mark.low is not None and mark.high is not None for mark in marks.values())


def _await_ready(
    admin: AdminClient, settings: Settings, targets: dict[str, int], budget: TimeBudget
) -> None:
    """Wait until every topic in ``targets`` shows its partition count, each with a leader
    that answers.

    Creation returns once the controller accepted it; brokers learn it a moment later, and a
    new leader may refuse requests (NOT_LEADER_FOR_PARTITION) for seconds after the metadata
    names it. The step only reports success when the topics are usable (produce, clear,
    ``status``) through the brokers.
    """
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        budget.check("waiting for the new topics' partition leaders")
        view = describe_cluster(admin, settings)
        waiting = [
            t
            for t, n in targets.items()
            if view.partitions.get(t, 0) < n or view.leaderless.get(t, 0) > 0
        ]
        if not waiting:
            waiting = [t for t, n in targets.items() if not _answering(admin, settings, t, n)]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise KafkaOperationError(
                f"Topics {', '.join(waiting)} were accepted by the controller but are not "
                f"available on the brokers after {READY_TIMEOUT_S:.0f} s"
            )
        time.sleep(READY_POLL_INTERVAL_S)
