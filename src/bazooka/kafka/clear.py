"""``clear_kafka_topics``: delete every record of every existing managed topic, topics kept.

Planned from the cluster (the topics, their partitions and their watermarks before anything is
deleted), then applied: each topic is cleared by its own worker (librdkafka's admin client is
thread-safe) with its own retry schedule. After a failed attempt ``n`` the wait is
``2**n * CLEAR_KAFKA_TOPIC_RETRY_MS``; at most ``CLEAR_KAFKA_TOPIC_MAX_RETRIES`` attempts.

Records removed are counted from valid offsets only: a partition's low watermark before
clearing and after it. Where the first is unknown (its leader was down when planned, and a
failed attempt may have touched it since), the count says "unknown" rather than a number.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn

from confluent_kafka import OFFSET_END, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from bazooka.budget import TimeBudget
from bazooka.errors import KafkaOperationError, OutOfTime
from bazooka.kafka.admin import (
    ADMIN_TIMEOUT_S,
    Watermarks,
    describe_cluster,
    error_code,
    reason,
    watermarks,
    watermarks_of,
)
from bazooka.kafka.topics import MANAGED_TOPICS
from bazooka.logs import emit
from bazooka.outcome import Count, EarlierSteps, NoLaterEffect, Unknown, as_json, total
from bazooka.progress import Progress
from bazooka.settings import Settings

log = logging.getLogger(__name__)

# DeleteRecords to this offset deletes up to the partition's high watermark.
TO_HIGH_WATERMARK = OFFSET_END
# Partitions named in an "unknown" figure, at most.
SHOWN_PARTITIONS = 10
# A failed delete with one of these errors provably deleted nothing on that partition.
NOTHING_DELETED_CODES = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)


@dataclass(frozen=True)
class TopicToClear:
    """An existing managed topic and its partitions' watermarks before clearing."""

    name: str
    marks: Mapping[int, Watermarks]

    @property
    def records(self) -> Count:
        """Records it holds now, or unknown."""
        return total(w.records for w in self.marks.values())


@dataclass(frozen=True)
class ClearPlan(NoLaterEffect):
    """The managed topics to clear, with what they hold, and the missing ones."""

    topics: tuple[TopicToClear, ...]
    missing: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "records_to_delete": {t.name: as_json(t.records) for t in self.topics},
            "total_records_to_delete": as_json(total(t.records for t in self.topics)),
            "missing_topics": list(self.missing),
        }

    def headline(self) -> str:
        """``would delete N record(s)``."""
        return f"would delete {total(t.records for t in self.topics)} record(s)"


@dataclass(frozen=True)
class TopicCleared:
    """One topic's outcome: partitions emptied, records removed, attempts it took."""

    partitions: int
    removed: Count
    attempts: int


@dataclass(frozen=True)
class ClearResult:
    """What ``clear_kafka_topics`` removed, topic by topic (and, on failure, what failed)."""

    cleared: Mapping[str, TopicCleared]
    missing: tuple[str, ...]
    failed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    stopped: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # by time

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "records_removed": {t: as_json(c.removed) for t, c in self.cleared.items()},
            "total_records_removed": as_json(total(c.removed for c in self.cleared.values())),
            "partitions_cleared": sum(c.partitions for c in self.cleared.values()),
            "attempts": {t: c.attempts for t, c in self.cleared.items()},
            "missing_topics": list(self.missing),
        }
        if self.failed:
            out["failed_topics"] = dict(self.failed)
        if self.stopped:
            out["stopped_topics"] = dict(self.stopped)
        return out

    def headline(self) -> str:
        """``deleted N record(s) from M topic(s)``, or ``cleared M topic(s) (records removed:
        unknown: <reason>)`` when a count cannot be known."""
        removed = total(c.removed for c in self.cleared.values())
        if isinstance(removed, Unknown):
            return f"cleared {len(self.cleared)} topic(s) (records removed: {removed})"
        return f"deleted {removed} record(s) from {len(self.cleared)} topic(s)"


def plan_clear(
    admin: AdminClient, settings: Settings, earlier: EarlierSteps | None = None
) -> ClearPlan:
    """The existing managed topics (plus, in a dry run, those an earlier step would create)
    and their watermarks now."""
    existing = describe_cluster(admin, settings).managed
    created = dict(earlier.topics_created) if earlier else {}
    read = watermarks_of(admin, existing, settings)
    topics: list[TopicToClear] = []
    for topic in MANAGED_TOPICS:
        if topic in existing:
            marks = read[topic]
        elif topic in created:
            marks = {p: Watermarks(0, 0) for p in range(created[topic])}
        else:
            continue
        topics.append(TopicToClear(topic, MappingProxyType(marks)))
    names = {t.name for t in topics}
    return ClearPlan(tuple(topics), tuple(t for t in MANAGED_TOPICS if t not in names))


def apply_clear(
    admin: AdminClient,
    settings: Settings,
    plan: ClearPlan,
    progress: Progress,
    budget: TimeBudget,
) -> ClearResult:
    """Clear the planned topics concurrently; fail, saying what was cleared, if any failed."""
    for topic in plan.missing:
        emit(
            log,
            logging.INFO,
            "kafka.clear#apply_clear",
            f"Cannot clear kafka topic that does not exist: {topic}",
            topic=topic,
        )
    progress.start_task("clearing topics", len(plan.topics))
    cleared: dict[str, TopicCleared] = {}
    failed: dict[str, str] = {}
    stopped: list[OutOfTime] = []  # topics whose next retry wait the time budget refused
    if plan.topics:
        with ThreadPoolExecutor(len(plan.topics), thread_name_prefix="clear") as pool:
            futures = {
                t.name: pool.submit(_TopicClearing(admin, settings, budget, t).run)
                for t in plan.topics
            }
            for topic, future in futures.items():
                try:
                    cleared[topic] = future.result()
                except OutOfTime as exc:
                    stopped.append(exc)
                    failed[topic] = str(exc)
                except Exception as exc:  # noqa: BLE001 - reported per topic below
                    failed[topic] = str(exc)
                progress.advance(1, description=topic)
    if failed and len(stopped) == len(failed):
        # Only time ran out: a clean stop (the runner says what ran), not a Kafka failure.
        result = ClearResult(cleared, plan.missing, stopped=failed)
        raise OutOfTime(str(stopped[0]), details=result)
    result = ClearResult(cleared, plan.missing, failed)
    if failed:
        raise KafkaOperationError(
            f"Could not clear {len(failed)} topic(s): "
            + "; ".join(f"{t}: {m}" for t, m in failed.items())
            + (f". Cleared: {', '.join(cleared)}" if cleared else ""),
            details=result,
        )
    return result


def clear_topics(
    admin: AdminClient, settings: Settings, progress: Progress, budget: TimeBudget
) -> ClearResult:
    """Plan, then clear every existing managed topic (for tools and tests)."""
    return apply_clear(admin, settings, plan_clear(admin, settings), progress, budget)


class _TopicClearing:
    """One topic's clear: attempts with backoff, and what is known of each partition.

    ``before``: each partition's low watermark before anything was deleted (None: unknown).
    ``touched``: partitions a failed attempt may have changed, whose ``before`` can no longer
    be read afterwards.
    """

    def __init__(
        self,
        admin: AdminClient,
        settings: Settings,
        budget: TimeBudget,
        target: TopicToClear,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.admin = admin
        self.settings = settings
        self.budget = budget
        self.topic = target.name
        self.sleep = sleep
        self.partitions = len(target.marks)
        self.before: dict[int, int | None] = {p: w.low for p, w in target.marks.items()}
        self.cleared: dict[int, int] = {}
        self.touched: set[int] = set()

    def run(self) -> TopicCleared:
        """Attempt, and retry with backoff, until cleared or out of attempts."""
        max_attempts = self.settings.clear_kafka_topic_max_retries
        attempt = 1
        while True:
            try:
                return self._attempt(attempt)
            except (KafkaException, KafkaOperationError) as exc:
                self._log_failure(attempt, exc)
                if attempt >= max_attempts:
                    self._give_up(attempt, exc)
            self._wait_after(attempt)
            attempt += 1
            # Every retry reads the topic's metadata afresh (it may have been recreated).
            self.partitions = describe_cluster(self.admin, self.settings).partitions.get(
                self.topic, 0
            )

    def _attempt(self, attempt: int) -> TopicCleared:
        """One DeleteRecords to the high watermark of every partition."""
        if self.partitions == 0:
            emit(
                log,
                logging.INFO,
                "kafka.clear#clear_topic",
                f"Cannot clear kafka topic that does not exist: {self.topic}",
                topic=self.topic,
            )
            return TopicCleared(0, 0, attempt)
        emit(
            log,
            logging.INFO,
            "kafka.clear#clear_topic",
            f"Clearing kafka topic: {self.topic}",
            topic=self.topic,
            attempt=attempt,
        )
        self._read_unknown_before()
        futures = self.admin.delete_records(
            [TopicPartition(self.topic, p, TO_HIGH_WATERMARK) for p in range(self.partitions)],
            request_timeout=ADMIN_TIMEOUT_S,
            operation_timeout=ADMIN_TIMEOUT_S,
        )
        failures = [f for tp, fut in futures.items() if (f := self._collect(tp.partition, fut))]
        if failures:
            raise KafkaOperationError(
                f"{len(failures)} of {self.partitions} partition(s) not cleared: {failures[0]}"
            )
        removed = self._removed()
        emit(
            log,
            logging.INFO,
            "kafka.clear#clear_topic",
            f"Successfully cleared kafka topic: {self.topic}",
            topic=self.topic,
            recordsRemoved=as_json(removed),
        )
        return TopicCleared(self.partitions, removed, attempt)

    def _read_unknown_before(self) -> None:
        """Read the low watermark of partitions not known yet and not touched by an attempt."""
        todo = [
            p
            for p in range(self.partitions)
            if self.before.get(p) is None and p not in self.touched
        ]
        if todo:
            for p, marks in watermarks(self.admin, self.topic, todo, self.settings).items():
                self.before[p] = marks.low

    def _collect(self, partition: int, future: Any) -> str | None:
        """Record one partition's delete result; the failure's reason, if it failed."""
        try:
            low = int(future.result().low_watermark)
        except KafkaException as exc:
            if error_code(exc) not in NOTHING_DELETED_CODES:
                self.touched.add(partition)
            return f"partition {partition}: {reason(exc)}"
        if low < 0:
            self.touched.add(partition)
            return f"partition {partition}: no valid low watermark returned"
        self.cleared[partition] = low
        return None

    def _removed(self) -> Count:
        """Records removed since planned, from valid offsets only."""
        before = {p: self.before.get(p) for p in range(self.partitions)}
        unknown = [p for p, low in before.items() if low is None]
        if unknown:
            shown = ", ".join(map(str, unknown[:SHOWN_PARTITIONS]))
            more = " ..." if len(unknown) > SHOWN_PARTITIONS else ""
            return Unknown(f"leader unavailable for partition(s) {shown}{more} before clearing")
        return sum(self.cleared[p] - low for p, low in before.items() if low is not None)

    def _log_failure(self, attempt: int, exc: BaseException) -> None:
        emit(
            log,
            logging.ERROR,
            "kafka.clear#clear_topic",
            "Failed to delete topic records",
            topic=self.topic,
            attempt=attempt,
            error=exc,
            topicMetadata={"topic": self.topic, "partitions": self.partitions},
            topicOffsets=self._offsets_for_log(),
        )

    def _give_up(self, attempt: int, exc: BaseException) -> NoReturn:
        emit(
            log,
            logging.CRITICAL,
            "kafka.clear#clear_topic",
            "Failed to delete topic records after max retries",
            topic=self.topic,
            topicMetadata={"topic": self.topic, "partitions": self.partitions},
        )
        raise KafkaOperationError(
            f"clearing topic {self.topic} failed after {attempt} attempt(s) "
            f"(CLEAR_KAFKA_TOPIC_MAX_RETRIES={self.settings.clear_kafka_topic_max_retries}): "
            f"{reason(exc)}"
        ) from exc

    def _wait_after(self, attempt: int) -> None:
        """``2**attempt * CLEAR_KAFKA_TOPIC_RETRY_MS``, if the time budget allows it."""
        wait_ms = 2**attempt * self.settings.clear_kafka_topic_retry_ms
        self.budget.check(f"retry {attempt + 1} of clearing topic {self.topic}", needed_ms=wait_ms)
        self.sleep(wait_ms / 1000)

    def _offsets_for_log(self) -> list[dict[str, Any]]:
        """Each partition's offsets now (one quick read: no retries), for the failure log."""
        if self.partitions == 0:
            return []
        try:
            marks = watermarks(
                self.admin, self.topic, range(self.partitions), self.settings, retry=False
            )
        except KafkaException as exc:
            return [{"unavailable": reason(exc)}]
        return [
            {"partition": p, "low": as_json_offset(w.low), "high": as_json_offset(w.high)}
            for p, w in marks.items()
        ]


def as_json_offset(offset: int | None) -> int | str:
    """An offset for a log line: the number, or ``"unknown"``."""
    return "unknown" if offset is None else offset
