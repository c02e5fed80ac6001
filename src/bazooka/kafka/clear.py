"""``clear_kafka_topics``: delete every record of every existing managed topic, topics kept.

Planned from the cluster (the topics, their partitions and what they hold), then applied: each
topic is cleared by its own worker (librdkafka's admin client is thread-safe) with its own
retry schedule. After a failed attempt ``n`` the wait is ``2**n * CLEAR_KAFKA_TOPIC_RETRY_MS``;
at most ``CLEAR_KAFKA_TOPIC_MAX_RETRIES`` attempts.

Each attempt first reads the watermarks of the partitions still to clear from their leaders
(waiting out a leader election within ``KAFKA_CONNECTION_TIMEOUT_MS``), then deletes each one
up to the high watermark it read: the records removed are exactly ``high - low`` of that read,
never more. Records produced after it stay, uncounted (the original deletes to "-1", the high
watermark when the broker handles the request, which can remove records nobody counted). A
partition whose delete got no answer keeps its offset for the retries, so its count stays
exact whether or not that delete happened. A partition's count is unknown only when no leader
answered before the clear ended (it was then not deleted), or when its delete got no answer
and the partition could not be read afterwards; the figure then gives the known part
("at least N") and names those partitions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn

from confluent_kafka import KafkaError, KafkaException, TopicPartition
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
from bazooka.progress import TaskProgress
from bazooka.settings import Settings

log = logging.getLogger(__name__)

# Partitions named in an "unknown" figure, at most.
SHOWN_PARTITIONS = 10
# A failed delete with one of these errors provably deleted nothing on that partition.
NOTHING_DELETED_CODES = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.OFFSET_OUT_OF_RANGE,  # the offset is above the high watermark: refused
        KafkaError.POLICY_VIOLATION,  # a compacted topic refuses DeleteRecords
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
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
class ClearTopicsPlan(NoLaterEffect):
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
    """One topic's outcome: partitions emptied, records removed, attempts it took.

    ``removed`` counts exactly the records removed from the partitions whose outcome is known.
    ``unknown``: partitions whose outcome is not (no leader answered before the clear ended,
    or a delete was sent and neither its answer nor the partition could be read afterwards).
    ``not_cleared``: partitions known not to be emptied (nothing removed from them).
    """

    partitions: int
    removed: int
    attempts: int
    unknown: tuple[int, ...] = ()
    not_cleared: tuple[int, ...] = ()

    @property
    def figure(self) -> Count:
        """Records removed: the number, or unknown with the known part ("at least N")."""
        if self.unknown:
            shown = ", ".join(map(str, self.unknown[:SHOWN_PARTITIONS]))
            more = " ..." if len(self.unknown) > SHOWN_PARTITIONS else ""
            return Unknown(f"at least {self.removed} record(s); partition(s) {shown}{more} unknown")
        return self.removed


@dataclass(frozen=True)
class ClearResult:
    """What ``clear_kafka_topics`` removed, topic by topic (and, on failure, what failed).

    ``cleared``: the topics emptied; ``partial``: what the topics that failed (or that the time
    budget stopped) had done before.
    """

    cleared: Mapping[str, TopicCleared]
    missing: tuple[str, ...]
    failed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    stopped: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # by time
    partial: Mapping[str, TopicCleared] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def outcomes(self) -> dict[str, TopicCleared]:
        """Every topic the clear worked on, cleared or not, in the managed order."""
        both = {**self.cleared, **self.partial}
        return {t: both[t] for t in MANAGED_TOPICS if t in both} | both

    @property
    def removed(self) -> int:
        """Records removed from the partitions whose outcome is known (exact)."""
        return sum(c.removed for c in self.outcomes.values())

    @property
    def unknown(self) -> list[str]:
        """The partitions whose outcome is unknown, as ``topic[partition]``."""
        return [f"{t}[{p}]" for t, c in self.outcomes.items() for p in c.unknown]

    @property
    def total(self) -> Count:
        """Records removed in all: the number, or unknown with the known part."""
        unknown = self.unknown
        if not unknown:
            return self.removed
        return Unknown(f"at least {self.removed} record(s); {_unknown_named(unknown)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        outcomes = self.outcomes
        out: dict[str, Any] = {
            "records_removed": {t: as_json(c.figure) for t, c in outcomes.items()},
            "total_records_removed": as_json(self.total),
            "partitions_cleared": sum(c.partitions for c in outcomes.values()),
            "attempts": {t: c.attempts for t, c in outcomes.items()},
            "missing_topics": list(self.missing),
        }
        if unknown := {t: list(c.unknown) for t, c in outcomes.items() if c.unknown}:
            out["partitions_unknown"] = unknown
        if not_cleared := {t: list(c.not_cleared) for t, c in outcomes.items() if c.not_cleared}:
            out["partitions_not_cleared"] = not_cleared
        if self.failed:
            out["failed_topics"] = dict(self.failed)
        if self.stopped:
            out["stopped_topics"] = dict(self.stopped)
        return out

    def headline(self) -> str:
        """``deleted N record(s) from M topic(s)``, or ``removed at least N record(s) ...; K
        partition(s) unknown: ...`` when some partition's outcome cannot be known."""
        if self.unknown:
            return self.removals()
        return f"deleted {self.removed} record(s) from {len(self.cleared)} topic(s)"

    def removals(self) -> str:
        """What was removed, for an error message: exact, or the known part and the unknown
        partitions."""
        unknown = self.unknown
        if not unknown:
            return f"removed {self.removed} record(s)"
        return f"removed at least {self.removed} record(s); {_unknown_named(unknown)}"


def _unknown_named(names: list[str]) -> str:
    """``K partition(s) unknown: a[1], b[0] ...``."""
    shown = ", ".join(names[:SHOWN_PARTITIONS])
    more = " ..." if len(names) > SHOWN_PARTITIONS else ""
    return f"{len(names)} partition(s) unknown: {shown}{more}"


def plan_clear(
    admin: AdminClient, settings: Settings, earlier: EarlierSteps | None = None
) -> ClearTopicsPlan:
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
    return ClearTopicsPlan(tuple(topics), tuple(t for t in MANAGED_TOPICS if t not in names))


def apply_clear(
    admin: AdminClient,
    settings: Settings,
    plan: ClearTopicsPlan,
    progress: TaskProgress,
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
    partial: dict[str, TopicCleared] = {}
    failed: dict[str, str] = {}
    stopped: list[OutOfTime] = []  # topics whose next retry wait the time budget refused
    if plan.topics:
        clearings = {t.name: _TopicClearing(admin, settings, budget, t) for t in plan.topics}
        with ThreadPoolExecutor(len(plan.topics), thread_name_prefix="clear") as pool:
            futures = {topic: pool.submit(c.run) for topic, c in clearings.items()}
            for topic, future in futures.items():
                try:
                    cleared[topic] = future.result()
                except OutOfTime as exc:
                    stopped.append(exc)
                    failed[topic] = str(exc)
                    partial[topic] = clearings[topic].outcome()
                except Exception as exc:  # noqa: BLE001 - reported per topic below
                    failed[topic] = str(exc)
                    partial[topic] = clearings[topic].outcome()
                progress.advance(1, description=topic)
    if failed and len(stopped) == len(failed):
        # Only time ran out: a clean stop (the runner says what ran), not a Kafka failure.
        result = ClearResult(cleared, plan.missing, stopped=failed, partial=partial)
        raise OutOfTime(
            f"{stopped[0]}; before stopping, the clear {result.removals()}", details=result
        )
    result = ClearResult(cleared, plan.missing, failed, partial=partial)
    if failed:
        raise KafkaOperationError(
            f"Could not clear {len(failed)} topic(s): "
            + "; ".join(f"{t}: {m}" for t, m in failed.items())
            + (f". Cleared: {', '.join(cleared)}" if cleared else "")
            + f". In all, {result.removals()}",
            details=result,
        )
    return result


def clear_topics(
    admin: AdminClient, settings: Settings, progress: TaskProgress, budget: TimeBudget
) -> ClearResult:
    """Plan, then clear every existing managed topic (for tools and tests)."""
    return apply_clear(admin, settings, plan_clear(admin, settings), progress, budget)


class _TopicClearing:
    """One topic's clear: attempts with backoff, and what is known of each partition.

    Each attempt reads the low and high watermarks of the partitions still to clear from their
    leaders (waiting out an election within ``KAFKA_CONNECTION_TIMEOUT_MS``), then deletes each
    partition up to the high watermark it read, in one DeleteRecords request: the records
    removed are exactly ``high - low``. Records produced after that read are neither removed
    nor counted. A partition no leader answered for is not deleted in that attempt.

    ``targets``: partition -> (low, high) read before its delete. ``removed``: partitions
    emptied -> records removed. ``sent``: partitions whose delete got no answer (it may or may
    not have happened): they keep their target, so a later attempt deletes to the same offset
    and the count stays exact whichever it was.
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
        self.targets: dict[int, tuple[int, int]] = {}
        self.removed: dict[int, int] = {}
        self.sent: set[int] = set()
        self.attempts = 0

    def run(self) -> TopicCleared:
        """Attempt, and retry with backoff, until cleared or out of attempts (or of time)."""
        max_attempts = self.settings.clear_kafka_topic_max_retries
        attempt = 1
        while True:
            try:
                return self._attempt(attempt)
            except (KafkaException, KafkaOperationError) as exc:
                self._log_failure(attempt, exc)
                if attempt >= max_attempts:
                    self._settle()
                    self._give_up(attempt, exc)
            try:
                self._wait_after(attempt)
            except OutOfTime:
                self._settle()
                raise
            attempt += 1
            self._refresh_partitions()

    def _refresh_partitions(self) -> None:
        """Every retry reads the topic's metadata afresh (it may have been recreated). While a
        broker is down that read may time out: the attempt then goes on with the partitions
        known, and its own reads say whether the cluster answers."""
        try:
            view = describe_cluster(self.admin, self.settings)
        except KafkaOperationError as exc:
            emit(
                log,
                logging.WARNING,
                "kafka.clear#clear_topic",
                "Could not read the topic's metadata before retrying; "
                f"retrying with its {self.partitions} partition(s)",
                topic=self.topic,
                error=exc,
            )
            return
        self.partitions = view.partitions.get(self.topic, 0)

    def outcome(self) -> TopicCleared:
        """What this clear has done so far (all of it, once :meth:`run` returned or raised)."""
        unknown, not_cleared = [], []
        for p in range(self.partitions):
            if p in self.removed:
                continue
            if p in self.sent or p not in self.targets:
                unknown.append(p)  # a delete without answer, or no leader answered
            else:
                not_cleared.append(p)  # read, and its delete refused: nothing removed
        return TopicCleared(
            len(self.removed),
            sum(self.removed.values()),
            self.attempts,
            tuple(unknown),
            tuple(not_cleared),
        )

    def _attempt(self, attempt: int) -> TopicCleared:
        """Read the partitions still to clear, then delete each up to the high watermark read."""
        self.attempts = attempt
        if self.partitions == 0:
            emit(
                log,
                logging.INFO,
                "kafka.clear#clear_topic",
                f"Cannot clear kafka topic that does not exist: {self.topic}",
                topic=self.topic,
            )
            return self.outcome()
        emit(
            log,
            logging.INFO,
            "kafka.clear#clear_topic",
            f"Clearing kafka topic: {self.topic}",
            topic=self.topic,
            attempt=attempt,
        )
        pending = [p for p in range(self.partitions) if p not in self.removed]
        failures = self._read_targets(pending)
        ready = [p for p in pending if p in self.targets]
        if ready:
            futures = self.admin.delete_records(
                [TopicPartition(self.topic, p, self.targets[p][1]) for p in ready],
                request_timeout=ADMIN_TIMEOUT_S,
                operation_timeout=ADMIN_TIMEOUT_S,
            )
            failures += [
                f for tp, fut in futures.items() if (f := self._collect(tp.partition, fut))
            ]
        if failures:
            raise KafkaOperationError(
                f"{len(failures)} of {self.partitions} partition(s) not cleared: {failures[0]}"
            )
        outcome = self.outcome()
        emit(
            log,
            logging.INFO,
            "kafka.clear#clear_topic",
            f"Successfully cleared kafka topic: {self.topic}",
            topic=self.topic,
            recordsRemoved=as_json(outcome.figure),
        )
        return outcome

    def _read_targets(self, pending: list[int]) -> list[str]:
        """Read, from their leaders now, the watermarks of the pending partitions that have no
        delete awaiting an answer; the partitions no leader answered for, as failures."""
        self.targets = {p: t for p, t in self.targets.items() if p in self.sent}
        todo = [p for p in pending if p not in self.targets]
        if not todo:
            return []
        failures = []
        for p, marks in watermarks(self.admin, self.topic, todo, self.settings).items():
            if marks.low is None or marks.high is None:
                failures.append(
                    f"partition {p}: no leader answered within "
                    f"{self.settings.kafka_connection_timeout_ms} ms "
                    f"(KAFKA_CONNECTION_TIMEOUT_MS): {marks.problem}"
                )
            else:
                self.targets[p] = (marks.low, marks.high)
        return failures

    def _collect(self, partition: int, future: Any) -> str | None:
        """Record one partition's delete result; the failure's reason, if it failed."""
        before, target = self.targets[partition]
        try:
            low = int(future.result().low_watermark)
        except KafkaException as exc:
            if error_code(exc) not in NOTHING_DELETED_CODES:
                self.sent.add(partition)
            return f"partition {partition}: {reason(exc)}"
        if low < target:
            self.sent.add(partition)
            shown = low if low >= 0 else "none"
            return f"partition {partition}: low watermark {shown} returned, below {target}"
        self.removed[partition] = target - before
        self.sent.discard(partition)
        return None

    def _settle(self) -> None:
        """Before giving up: read the partitions whose delete got no answer, and count those
        the delete did empty (low watermark at its target) or provably did not touch."""
        if not self.sent:
            return
        try:
            marks = watermarks(self.admin, self.topic, sorted(self.sent), self.settings)
        except KafkaException:
            return
        for p, now in marks.items():
            before, target = self.targets[p]
            if now.low is None:
                continue
            if now.low >= target:
                self.removed[p] = target - before
                self.sent.discard(p)
            elif now.low <= before:
                self.sent.discard(p)  # not deleted: not cleared, nothing removed

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
