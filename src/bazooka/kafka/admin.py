"""Kafka topic administration: create, grow, clear (with retries), and read-only inspection."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.cimpl import NewPartitions, NewTopic

from bazooka.budget import TimeBudget
from bazooka.errors import KafkaOperationError, OutOfTime
from bazooka.kafka.client_config import common_config
from bazooka.kafka.topics import MANAGED_TOPICS, TopicPlan, plan_topics
from bazooka.logs import emit
from bazooka.progress import Progress
from bazooka.settings import Settings

log = logging.getLogger(__name__)

# Bound on one admin request (create, grow, list offsets, delete records) once connected.
ADMIN_TIMEOUT_S = 30.0
T = TypeVar("T")


@dataclass(frozen=True)
class ClusterView:
    """Brokers and topics as one metadata request saw them."""

    brokers: int
    partitions: dict[str, int]  # topic -> partition count
    replication: dict[str, int]  # topic -> replicas of partition 0
    leaderless: dict[str, int]  # topic -> partitions without a leader right now


def connect_admin(settings: Settings) -> AdminClient:
    """An admin client for ``KAFKA_BROKER_URLS`` (connects lazily, on the first request)."""
    return AdminClient(common_config(settings))


def describe_cluster(admin: AdminClient, settings: Settings) -> ClusterView:
    """Fetch metadata within ``KAFKA_CONNECTION_TIMEOUT_MS``; a clear error if unreachable.

    Always all topics: a metadata request naming a missing topic could auto-create it.
    """
    timeout_s = settings.kafka_connection_timeout_ms / 1000
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaOperationError(
            f"Cannot reach Kafka at {settings.kafka_broker_urls} within "
            f"{settings.kafka_connection_timeout_ms} ms (KAFKA_CONNECTION_TIMEOUT_MS): "
            f"{_reason(exc)}. Check KAFKA_BROKER_URLS and the network path to the brokers."
        ) from exc
    partitions: dict[str, int] = {}
    replication: dict[str, int] = {}
    leaderless: dict[str, int] = {}
    for name, meta in metadata.topics.items():
        if meta.error is not None and meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            continue
        partitions[name] = len(meta.partitions)
        first = meta.partitions.get(0)
        replication[name] = len(first.replicas) if first is not None else 0
        leaderless[name] = sum(1 for p in meta.partitions.values() if p.leader < 0 or p.error)
    return ClusterView(len(metadata.brokers), partitions, replication, leaderless)


def _await_ready(admin: AdminClient, settings: Settings, targets: dict[str, int]) -> None:
    """Wait until every topic in ``targets`` shows its partition count, each with a leader.

    Creation returns once the controller accepted it; brokers learn it a moment later. The step
    only reports success when the topics are usable (produce, clear) through the brokers.
    """
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while True:
        view = describe_cluster(admin, settings)
        waiting = [
            t
            for t, n in targets.items()
            if view.partitions.get(t, 0) < n or view.leaderless.get(t, 0) > 0
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise KafkaOperationError(
                f"Topics {', '.join(waiting)} were accepted by the controller but are not "
                f"available on the brokers after {ADMIN_TIMEOUT_S:.0f} s"
            )
        time.sleep(0.1)


def _managed(view: ClusterView) -> dict[str, int]:
    return {t: n for t, n in view.partitions.items() if t in MANAGED_TOPICS}


def ensure_topics(admin: AdminClient, settings: Settings, progress: Progress) -> dict[str, Any]:
    """Create missing managed topics, grow those below target, report those above it."""
    view, plan, details = _topic_plan(admin, settings)
    for change in plan.above_target:
        emit(
            log,
            logging.WARNING,
            "kafka.admin#ensure_topics",
            f"Topic {change.topic} has {change.partitions} partitions, more than its target "
            f"{change.target}; Kafka cannot shrink it, left as is",
            topic=change.topic,
        )
    if not plan.changes_anything:
        details["changed"] = False
        details["message"] = "every managed topic exists with its target partitions; nothing to do"
        return details
    rf = settings.kafka_replication_factor
    if plan.create and rf > view.brokers:
        raise KafkaOperationError(
            f"KAFKA_REPLICATION_FACTOR={rf} is more than the {view.brokers} broker(s) of the "
            f"cluster at {settings.kafka_broker_urls}; no topic was created. Lower "
            "KAFKA_REPLICATION_FACTOR or add brokers."
        )
    progress.start_task("creating topics", len(plan.create) + len(plan.grow))
    if plan.create:
        emit(
            log,
            logging.INFO,
            "kafka.admin#ensure_topics",
            f"Creating topics: {', '.join(plan.create)}",
        )
        futures = admin.create_topics(
            [NewTopic(t, n, rf) for t, n in plan.create.items()],
            request_timeout=ADMIN_TIMEOUT_S,
            operation_timeout=ADMIN_TIMEOUT_S,
        )
        already = _wait_all(
            futures, "create topic", progress, ok_codes={KafkaError.TOPIC_ALREADY_EXISTS}
        )
        details["created_concurrently_by_someone_else"] = already
    if plan.grow:
        for change in plan.grow:
            emit(
                log,
                logging.INFO,
                "kafka.admin#ensure_topics",
                f"Setting topic {change.topic} to {change.target} partitions",
                topic=change.topic,
            )
        futures = admin.create_partitions(
            [NewPartitions(c.topic, c.target) for c in plan.grow],
            request_timeout=ADMIN_TIMEOUT_S,
            operation_timeout=ADMIN_TIMEOUT_S,
        )
        _wait_all(futures, "grow partitions of topic", progress)
    _await_ready(admin, settings, {**plan.create, **{c.topic: c.target for c in plan.grow}})
    details["changed"] = True
    return details


def _topic_plan(
    admin: AdminClient, settings: Settings
) -> tuple[ClusterView, TopicPlan, dict[str, Any]]:
    """The cluster as it is, what must change, and the report details describing both."""
    view = describe_cluster(admin, settings)
    plan = plan_topics(_managed(view))
    details: dict[str, Any] = {
        "brokers": view.brokers,
        "replication_factor": settings.kafka_replication_factor,
        **plan.to_dict(),
    }
    return view, plan, details


def preview_ensure(admin: AdminClient, settings: Settings) -> dict[str, Any]:
    """What ``create_kafka_topics`` would do, and whether the replication factor fits."""
    view, plan, details = _topic_plan(admin, settings)
    if plan.create and settings.kafka_replication_factor > view.brokers:
        details["problem"] = (
            f"KAFKA_REPLICATION_FACTOR={settings.kafka_replication_factor} exceeds the "
            f"{view.brokers} broker(s): creation would be refused"
        )
    return details


def _wait_all(
    futures: dict[str, Any],
    what: str,
    progress: Progress,
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
            if _code(exc) in codes:
                tolerated.append(topic)
            else:
                failures.append(f"{topic}: {_reason(exc)}")
        progress.advance(1, description=str(topic))
    if failures:
        raise KafkaOperationError(f"Could not {what} {'; '.join(failures)}")
    return tolerated


# --- clearing ------------------------------------------------------------------------------


def watermarks(admin: AdminClient, topic: str, partitions: int) -> dict[int, tuple[int, int]]:
    """``{partition: (low, high)}`` for every partition of ``topic``."""
    result: dict[int, tuple[int, int]] = {}
    low = _list_offsets(admin, topic, partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
    high = _list_offsets(admin, topic, partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
    for p in range(partitions):
        result[p] = (low[p], high[p])
    return result


def _list_offsets(
    admin: AdminClient, topic: str, partitions: int, spec: OffsetSpec
) -> dict[int, int]:
    """Offsets of every partition; transient errors (a leader moving) are retried briefly."""
    request = {TopicPartition(topic, p): spec for p in range(partitions)}
    for attempt in range(OFFSET_ATTEMPTS):
        try:
            futures = admin.list_offsets(request, request_timeout=ADMIN_TIMEOUT_S)
            return {tp.partition: int(f.result().offset) for tp, f in futures.items()}
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            transient = isinstance(error, KafkaError) and (
                error.retriable() or error.code() in _TRANSIENT
            )
            if not transient or attempt == OFFSET_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


OFFSET_ATTEMPTS = 5
_TRANSIENT = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.REQUEST_TIMED_OUT,
    }
)


def clear_topics(
    admin: AdminClient, settings: Settings, progress: Progress, budget: TimeBudget
) -> dict[str, Any]:
    """Delete every record of every existing managed topic (topics kept), concurrently.

    librdkafka's admin client is thread-safe, so each topic is cleared by its own worker with
    its own retry schedule; the step fails if any topic could not be cleared.
    """
    view = describe_cluster(admin, settings)
    existing = _managed(view)
    missing = [t for t in MANAGED_TOPICS if t not in existing]
    for topic in missing:
        emit(
            log,
            logging.INFO,
            "kafka.admin#clear_topics",
            f"Cannot clear kafka topic that does not exist: {topic}",
            topic=topic,
        )
    topics = [t for t in MANAGED_TOPICS if t in existing]
    progress.start_task("clearing topics", len(topics))
    results: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    out_of_time: list[OutOfTime] = []
    if topics:
        with ThreadPoolExecutor(max_workers=len(topics), thread_name_prefix="clear") as pool:
            futures = {
                t: pool.submit(
                    clear_topic, admin, t, settings, budget, known_partitions=existing[t]
                )
                for t in topics
            }
            for topic, future in futures.items():
                try:
                    results[topic] = future.result()
                except OutOfTime as exc:  # no time left for a retry wait
                    out_of_time.append(exc)
                    failures[topic] = str(exc)
                except Exception as exc:  # noqa: BLE001 - reported per topic below
                    failures[topic] = str(exc)
                progress.advance(1, description=topic)
    details: dict[str, Any] = {
        "records_removed": {t: r["records_removed"] for t, r in results.items()},
        "total_records_removed": sum(r["records_removed"] for r in results.values()),
        "partitions_cleared": sum(r["partitions"] for r in results.values()),
        "attempts": {t: r.get("attempts", 1) for t, r in results.items()},
        "missing_topics": missing,
    }
    if failures and len(out_of_time) == len(failures):
        # Only time ran out: a clean stop (the runner says so), not a Kafka failure.
        stop = out_of_time[0]
        stop.details = {**details, "stopped_topics": failures}  # type: ignore[attr-defined]
        raise stop
    if failures:
        error = KafkaOperationError(
            f"Could not clear {len(failures)} topic(s): "
            + "; ".join(f"{t}: {m}" for t, m in failures.items())
            + (f". Cleared: {', '.join(results)}" if results else "")
        )
        error.details = {**details, "failed_topics": failures}  # type: ignore[attr-defined]
        raise error
    return details


def clear_topic(
    admin: AdminClient,
    topic: str,
    settings: Settings,
    budget: TimeBudget,
    *,
    sleep: Callable[[float], None] = time.sleep,
    known_partitions: int | None = None,
) -> dict[str, Any]:
    """Delete all records of ``topic`` up to the high watermark, retrying with backoff.

    After a failed attempt ``n`` the wait is ``2**n * CLEAR_KAFKA_TOPIC_RETRY_MS``; at most
    ``CLEAR_KAFKA_TOPIC_MAX_RETRIES`` attempts are made, the offsets being logged each time.
    ``known_partitions`` (from metadata the caller just read) spares the first attempt a
    metadata request; every retry reads the topic's metadata afresh.
    """
    max_attempts = settings.clear_kafka_topic_max_retries
    attempt = 1
    while True:
        partitions = 0
        try:
            if attempt == 1 and known_partitions is not None:
                partitions = known_partitions
            else:
                partitions = describe_cluster(admin, settings).partitions.get(topic, 0)
            if partitions == 0:
                emit(
                    log,
                    logging.INFO,
                    "kafka.admin#clear_topic",
                    f"Cannot clear kafka topic that does not exist: {topic}",
                    topic=topic,
                )
                return {"partitions": 0, "records_removed": 0}
            emit(
                log,
                logging.INFO,
                "kafka.admin#clear_topic",
                f"Clearing kafka topic: {topic}",
                topic=topic,
                attempt=attempt,
            )
            before = watermarks(admin, topic, partitions)
            futures = admin.delete_records(
                [TopicPartition(topic, p, -1) for p in range(partitions)],  # -1: high watermark
                request_timeout=ADMIN_TIMEOUT_S,
                operation_timeout=ADMIN_TIMEOUT_S,
            )
            new_low = {tp.partition: int(f.result().low_watermark) for tp, f in futures.items()}
            removed = sum(new_low[p] - before[p][0] for p in range(partitions))
            emit(
                log,
                logging.INFO,
                "kafka.admin#clear_topic",
                f"Successfully cleared kafka topic: {topic}",
                topic=topic,
                recordsRemoved=removed,
            )
            return {"partitions": partitions, "records_removed": removed, "attempts": attempt}
        except (KafkaException, KafkaOperationError) as exc:
            emit(
                log,
                logging.ERROR,
                "kafka.admin#clear_topic",
                "Failed to delete topic records",
                topic=topic,
                attempt=attempt,
                error=exc,
                topicMetadata={"topic": topic, "partitions": partitions},
            )
            emit(
                log,
                logging.ERROR,
                "kafka.admin#clear_topic",
                "Failed to delete topic records",
                topic=topic,
                attempt=attempt,
                topicOffsets=_offsets_for_log(admin, topic, partitions),
            )
            if attempt >= max_attempts:
                emit(
                    log,
                    logging.CRITICAL,
                    "kafka.admin#clear_topic",
                    "Failed to delete topic records after max retries",
                    topic=topic,
                    topicMetadata={"topic": topic, "partitions": partitions},
                )
                raise KafkaOperationError(
                    f"clearing topic {topic} failed after {attempt} attempt(s) "
                    f"(CLEAR_KAFKA_TOPIC_MAX_RETRIES={max_attempts}): {_reason(exc)}"
                ) from exc
            wait_ms = 2**attempt * settings.clear_kafka_topic_retry_ms
            budget.check(f"retry {attempt + 1} of clearing topic {topic}", needed_ms=wait_ms)
            sleep(wait_ms / 1000)
            attempt += 1


def _offsets_for_log(admin: AdminClient, topic: str, partitions: int) -> Any:
    if partitions == 0:
        return []
    try:
        marks = watermarks(admin, topic, partitions)
    except KafkaException as exc:
        return f"unavailable: {_reason(exc)}"
    return [{"partition": p, "low": lo, "high": hi} for p, (lo, hi) in marks.items()]


def preview_clear(admin: AdminClient, settings: Settings) -> dict[str, Any]:
    """Records each existing managed topic holds (what ``clear_kafka_topics`` would delete)."""
    view = describe_cluster(admin, settings)
    existing = _managed(view)
    records = {t: record_count(admin, t, existing[t]) for t in MANAGED_TOPICS if t in existing}
    return {
        "records_to_delete": records,
        "total_records_to_delete": sum(records.values()),
        "missing_topics": [t for t in MANAGED_TOPICS if t not in existing],
    }


def record_count(admin: AdminClient, topic: str, partitions: int) -> int:
    """Records currently retained in ``topic`` (sum of high - low watermarks)."""
    try:
        marks = watermarks(admin, topic, partitions)
    except KafkaException as exc:
        raise KafkaOperationError(f"Cannot read offsets of topic {topic}: {_reason(exc)}") from exc
    return sum(hi - lo for lo, hi in marks.values())


def topics_status(admin: AdminClient, settings: Settings) -> dict[str, Any]:
    """Actual versus desired partitions and replication of each managed topic, with records."""
    view = describe_cluster(admin, settings)
    topics: dict[str, Any] = {}
    for topic, target in MANAGED_TOPICS.items():
        partitions = view.partitions.get(topic)
        if partitions is None:
            topics[topic] = {"exists": False, "target_partitions": target}
            continue
        topics[topic] = {
            "exists": True,
            "partitions": partitions,
            "target_partitions": target,
            "replication_factor": view.replication.get(topic),
            "records": record_count(admin, topic, partitions),
        }
    return {
        "brokers": view.brokers,
        "desired_replication_factor": settings.kafka_replication_factor,
        "topics": topics,
    }


def _code(exc: KafkaException) -> int | None:
    arg = exc.args[0] if exc.args else None
    return arg.code() if isinstance(arg, KafkaError) else None


def _reason(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else None
    if isinstance(arg, KafkaError):
        return f"{arg.name()}: {arg.str()}"
    return str(exc)
