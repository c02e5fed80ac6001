"""Kafka reads shared by the steps and ``status``: the cluster's metadata and topic watermarks.

A read that meets a retriable error (a partition's leader moving or being elected, a request
timing out) is retried until ``KAFKA_CONNECTION_TIMEOUT_MS`` has passed: a topic whose leader is
being elected is not "unreachable". Before each retry the client's metadata is read afresh: the
admin client never refreshes it by itself, and would otherwise keep asking a dead leader while
the cluster has elected another. An offset that stays invalid is reported as unknown, never
turned into a number.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from bazooka.errors import KafkaOperationError, sentence
from bazooka.kafka.client_config import common_config
from bazooka.kafka.topics import MANAGED_TOPICS
from bazooka.outcome import Count, Unknown, as_json, total
from bazooka.settings import Settings

# Bound on one admin request (create, grow, list offsets, delete records) once connected.
ADMIN_TIMEOUT_S = 30.0
# Retries of a read: the first wait, doubled after each retry up to the cap.
READ_RETRY_FIRST_WAIT_S = 0.1
READ_RETRY_MAX_WAIT_S = 1.0
# The shortest and the longest request a read makes: a read's requests share
# KAFKA_CONNECTION_TIMEOUT_MS. A request to a leader that has just died waits for its whole
# timeout (the metadata still names that leader), so no request may take the whole deadline: the
# retry after it, on fresh metadata, is what finds the new leader.
READ_REQUEST_MIN_S = 1.0
READ_REQUEST_MAX_S = 2.0
# Errors that say "not now" rather than "no": a leader moving, a broker learning a new topic.
RETRIABLE_CODES = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TIMED_OUT,  # librdkafka's own: the request timed out locally
        KafkaError._TRANSPORT,  # librdkafka's own: the broker connection broke
        KafkaError._NOENT,  # librdkafka's own: no leader known for the partition (yet)
        # A newly elected leader: not serving yet, or its high watermark not caught up (KIP-207).
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.OFFSET_NOT_AVAILABLE,
    }
)


@dataclass(frozen=True)
class ClusterView:
    """Brokers and topics as one metadata request saw them."""

    brokers: int
    partitions: dict[str, int]  # topic -> partition count
    replication: dict[str, int]  # topic -> replicas of partition 0
    leaderless: dict[str, int]  # topic -> partitions without a leader right now

    @property
    def managed(self) -> dict[str, int]:
        """The managed topics that exist, with their partition counts, in the managed order."""
        return {t: self.partitions[t] for t in MANAGED_TOPICS if t in self.partitions}


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
            sentence(
                f"Cannot reach Kafka at {settings.kafka_broker_urls} within "
                f"{settings.kafka_connection_timeout_ms} ms (KAFKA_CONNECTION_TIMEOUT_MS): "
                f"{reason(exc)}",
                "Check KAFKA_BROKER_URLS and the network path to the brokers.",
            )
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


@dataclass(frozen=True)
class Watermarks:
    """A partition's low and high offsets; ``None`` where no valid offset could be read."""

    low: int | None
    high: int | None
    problem: str | None = None  # why an offset is unknown

    @property
    def records(self) -> Count:
        """Records retained (high - low), or unknown."""
        if self.low is None or self.high is None:
            return Unknown(self.problem or "offsets unavailable")
        return self.high - self.low


def watermarks(
    admin: AdminClient,
    topic: str,
    partitions: Collection[int],
    settings: Settings,
    *,
    retry: bool = True,
) -> dict[int, Watermarks]:
    """Low and high watermarks of ``partitions`` of ``topic``, the low one read first.

    Retriable errors and invalid offsets (librdkafka's ``OFFSET_INVALID``, returned while a
    partition has no leader) are retried until ``KAFKA_CONNECTION_TIMEOUT_MS`` has passed
    (with ``retry``); both reads share that deadline, and the high watermark is asked only of
    partitions whose low one was read. What is still unknown then is ``None`` with the reason.
    """
    earliest, latest = OffsetSpec.earliest(), OffsetSpec.latest()  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + settings.kafka_connection_timeout_ms / 1000
    low = _offsets(admin, topic, partitions, earliest, deadline, retry=retry)
    known = [p for p in partitions if isinstance(low[p], int)]
    high = _offsets(admin, topic, known, latest, deadline, retry=retry) if known else {}
    return {p: _watermarks(low[p], high.get(p, low[p])) for p in partitions}


def watermarks_of(
    admin: AdminClient, topics: Mapping[str, int], settings: Settings
) -> dict[str, dict[int, Watermarks]]:
    """:func:`watermarks` of every partition of each topic (name -> partition count), the
    topics read at the same time: with a leader down, each read may wait out the timeout."""
    if not topics:
        return {}
    with ThreadPoolExecutor(len(topics), thread_name_prefix="watermarks") as pool:
        reads = {
            topic: pool.submit(watermarks, admin, topic, range(n), settings)
            for topic, n in topics.items()
        }
        return {topic: read.result() for topic, read in reads.items()}


def _watermarks(low: int | Unknown, high: int | Unknown) -> Watermarks:
    problem = next((v.reason for v in (low, high) if isinstance(v, Unknown)), None)
    return Watermarks(
        low if isinstance(low, int) else None,
        high if isinstance(high, int) else None,
        problem,
    )


def record_counts(
    admin: AdminClient, topics: Mapping[str, int], settings: Settings
) -> dict[str, Count]:
    """Records each topic retains (sum over its partitions), or unknown."""
    return {
        topic: total(w.records for w in marks.values())
        for topic, marks in watermarks_of(admin, topics, settings).items()
    }


def topics_status(admin: AdminClient, settings: Settings) -> dict[str, Any]:
    """``bazooka status``: actual versus desired partitions and replication of each managed
    topic, with the records it holds."""
    view = describe_cluster(admin, settings)
    records = record_counts(admin, view.managed, settings)
    topics: dict[str, Any] = {}
    for topic, target in MANAGED_TOPICS.items():
        if topic not in records:
            topics[topic] = {"exists": False, "target_partitions": target}
            continue
        topics[topic] = {
            "exists": True,
            "partitions": view.partitions[topic],
            "target_partitions": target,
            "replication_factor": view.replication.get(topic),
            "records": as_json(records[topic]),
        }
    return {
        "brokers": view.brokers,
        "desired_replication_factor": settings.kafka_replication_factor,
        "topics": topics,
    }


def _offsets(
    admin: AdminClient,
    topic: str,
    partitions: Collection[int],
    spec: OffsetSpec,
    deadline: float,
    *,
    retry: bool,
) -> dict[int, int | Unknown]:
    """One offset per partition; partitions failing retriably are asked again, on fresh
    metadata, until ``deadline`` (``time.monotonic()``). Each request is bounded by what is left
    of it and by READ_REQUEST_MAX_S: a request to a leader that has just died waits for its
    timeout, and a read must not hang the step for ADMIN_TIMEOUT_S per topic."""
    wait = READ_RETRY_FIRST_WAIT_S
    found: dict[int, int | Unknown] = {}
    todo = set(partitions)
    while todo:
        left = max(deadline - time.monotonic(), READ_REQUEST_MIN_S)
        futures = admin.list_offsets(
            {TopicPartition(topic, p): spec for p in sorted(todo)},
            request_timeout=min(READ_REQUEST_MAX_S, left),
        )
        for tp, future in futures.items():
            found[tp.partition] = _offset(future.result)
        todo = {p for p in todo if _worth_retrying(found[p])}
        if not todo or not retry or time.monotonic() + wait > deadline:
            return found
        time.sleep(wait)
        wait = min(wait * 2, READ_RETRY_MAX_WAIT_S)
        refresh_metadata(admin, deadline)
    return found


def refresh_metadata(admin: AdminClient, deadline: float) -> None:
    """Read the cluster's metadata, so that the client's next request goes to the partitions'
    current leaders (the admin client keeps the leaders it last saw). All topics: a request
    naming a missing topic could auto-create it. A failure here is left to that request."""
    left = deadline - time.monotonic()
    if left <= 0:
        return
    try:
        admin.list_topics(timeout=min(left, READ_REQUEST_MAX_S))
    except KafkaException:
        return


def _offset(result: Callable[[], object]) -> int | Unknown:
    """A partition's offset, or why it is unknown (raising only for a non-Kafka error)."""
    try:
        offset = int(getattr(result(), "offset", -1))
    except KafkaException as exc:
        return Unknown(reason(exc), retriable=is_retriable(exc))
    if offset < 0:
        return Unknown("leader unavailable (no valid offset)", retriable=True)
    return offset


def _worth_retrying(value: int | Unknown) -> bool:
    return isinstance(value, Unknown) and value.retriable


def is_retriable(exc: KafkaException) -> bool:
    """Whether the error says "not now" (see :data:`RETRIABLE_CODES`)."""
    error = exc.args[0] if exc.args else None
    return isinstance(error, KafkaError) and (error.retriable() or error.code() in RETRIABLE_CODES)


def error_code(exc: KafkaException) -> int | None:
    """The librdkafka error code carried by ``exc``."""
    arg = exc.args[0] if exc.args else None
    return arg.code() if isinstance(arg, KafkaError) else None


def reason(exc: BaseException) -> str:
    """``NAME: description`` of a Kafka error, for messages."""
    arg = exc.args[0] if exc.args else None
    if isinstance(arg, KafkaError):
        return f"{arg.name()}: {arg.str()}"
    return str(exc)
