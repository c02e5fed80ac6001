"""Kafka topic management on real Apache Kafka: a single broker and a three-broker cluster."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bazooka.budget import UnlimitedTime
from bazooka.errors import KafkaOperationError
from bazooka.event import BazookaEvent
from bazooka.kafka import admin as kafka_admin
from bazooka.kafka import clear as kafka_clear
from bazooka.kafka import create as kafka_create
from bazooka.kafka import producer as kafka_producer
from bazooka.kafka.topics import MANAGED_TOPICS
from bazooka.progress import NullProgress
from bazooka.runner import run
from bazooka.settings import Settings
from tests.helpers import (
    ROOT,
    RecordingHandler,
    cli_process,
    make_settings,
    service_env,
)
from tools.kafka_leaders import busiest_leader


def _admin(brokers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": brokers, "broker.address.family": "v4"})


def _delete_managed_topics(brokers: str) -> None:
    client = _admin(brokers)
    existing = set(client.list_topics(timeout=10).topics)
    doomed = [t for t in MANAGED_TOPICS if t in existing]
    if doomed:
        for future in client.delete_topics(doomed, operation_timeout=30).values():
            future.result()
    # Several consecutive views without them: on a cluster, each request may reach another
    # broker, and each broker learns of the deletion on its own schedule.
    deadline = time.monotonic() + 30
    clean_views = 0
    while clean_views < 5:
        assert time.monotonic() < deadline, "managed topics were not deleted in time"
        gone = not set(MANAGED_TOPICS) & set(client.list_topics(timeout=10).topics)
        clean_views = clean_views + 1 if gone else 0
        time.sleep(0.1)


def _create(brokers: str, topics: dict[str, int], rf: int = 1) -> None:
    client = _admin(brokers)  # keep the handle alive until the futures resolve
    futures = client.create_topics([NewTopic(t, n, rf) for t, n in topics.items()])
    for future in futures.values():
        future.result()
    deadline = time.monotonic() + 30
    while set(topics) - set(client.list_topics(timeout=10).topics):
        assert time.monotonic() < deadline, "created topics did not appear"
        time.sleep(0.1)


def _partitions(brokers: str) -> dict[str, tuple[int, int]]:
    """topic -> (partitions, replicas of partition 0) for the managed topics."""
    metadata = _admin(brokers).list_topics(timeout=10)
    return {
        name: (len(meta.partitions), len(meta.partitions[0].replicas))
        for name, meta in metadata.topics.items()
        if name in MANAGED_TOPICS
    }


@pytest.fixture
def single() -> Iterator[Settings]:
    """Settings for the single local broker, with every managed topic deleted first."""
    settings = make_settings(KAFKA_REPLICATION_FACTOR="1")
    _delete_managed_topics(settings.kafka_broker_urls)
    yield settings


@pytest.fixture
def cluster() -> Iterator[Settings]:
    """Settings for the three-broker cluster (default replication factor 3), topics deleted."""
    env = service_env()
    brokers = env.get("KAFKA_CLUSTER_BROKER_URLS")
    if not brokers:
        pytest.fail("KAFKA_CLUSTER_BROKER_URLS not set: start the cluster (scripts/test.sh)")
    env.pop("KAFKA_REPLICATION_FACTOR", None)
    settings = make_settings({**env, "KAFKA_BROKER_URLS": brokers})
    _delete_managed_topics(brokers)
    yield settings


def ensure(settings: Settings) -> dict[str, Any]:
    admin = kafka_admin.connect_admin(settings)
    return kafka_create.ensure_topics(admin, settings, NullProgress()).to_dict()


def test_creates_every_topic_on_an_empty_cluster(single: Settings) -> None:
    details = ensure(single)
    assert details["topics_to_create"] == list(MANAGED_TOPICS)
    assert details["partitions_to_create"] == 219 and details["changed"] is True
    assert _partitions(single.kafka_broker_urls) == {t: (n, 1) for t, n in MANAGED_TOPICS.items()}


def test_creates_exactly_the_missing_topics(single: Settings) -> None:
    _create(single.kafka_broker_urls, {"to-ender": 1, "to-vulcan": 210})
    details = ensure(single)
    assert set(details["topics_to_create"]) == set(MANAGED_TOPICS) - {"to-ender", "to-vulcan"}
    assert details["topics_unchanged"] == ["to-ender", "to-vulcan"]
    assert _partitions(single.kafka_broker_urls) == {t: (n, 1) for t, n in MANAGED_TOPICS.items()}


def test_grows_topics_below_target_and_reports_those_above(single: Settings) -> None:
    _create(single.kafka_broker_urls, {"to-vulcan": 100, "to-websockets-subaccounts": 6})
    details = ensure(single)
    assert details["topics_to_grow"] == {"to-vulcan": {"from": 100, "to": 210}}
    assert details["topics_above_target"] == {
        "to-websockets-subaccounts": {"partitions": 6, "target": 3}
    }
    actual = _partitions(single.kafka_broker_urls)
    assert actual["to-vulcan"] == (210, 1)
    assert actual["to-websockets-subaccounts"] == (6, 1)  # never shrunk


def test_second_run_changes_nothing_and_says_so(single: Settings) -> None:
    ensure(single)
    again = ensure(single)
    assert again["changed"] is False and "nothing to do" in again["message"]
    assert again["topics_to_create"] == [] and again["topics_to_grow"] == {}


def test_replication_factor_above_brokers_is_refused_before_creating(single: Settings) -> None:
    settings = single.replace(kafka_replication_factor=3)
    with pytest.raises(KafkaOperationError) as err:
        ensure(settings)
    assert "KAFKA_REPLICATION_FACTOR=3" in str(err.value) and "1 broker(s)" in str(err.value)
    assert _partitions(single.kafka_broker_urls) == {}


@pytest.mark.cluster
def test_cluster_gets_replication_factor_three_by_default(cluster: Settings) -> None:
    assert cluster.kafka_replication_factor == 3
    details = ensure(cluster)
    assert details["brokers"] == 3
    expected = {t: (n, 3) for t, n in MANAGED_TOPICS.items()}
    # The step waited until the broker it asked showed every partition with a leader; another
    # broker of the cluster may learn the new metadata a moment later.
    deadline = time.monotonic() + 15
    while (actual := _partitions(cluster.kafka_broker_urls)) != expected:
        assert time.monotonic() < deadline, actual
        time.sleep(0.1)


Record = tuple[str, int, bytes]  # topic, partition, value


def _produce(brokers: str, records: list[Record], *, rounds: int = 3) -> None:
    """Produce ``records`` (idempotent, ``acks=all``) and check every delivery report:
    ``flush() == 0`` only says that no record is still waiting, a failed one counts as done.

    A record the producer gave up on right after its topic was created (a broker just restarted
    by the previous test may not know the topic yet) is sent again, at most ``rounds`` times in
    all: the premise of these tests is what the topics hold, checked afterwards from their
    leaders (:func:`_assert_holds`); the idempotent producer never writes one twice."""
    producer = Producer(
        {
            "bootstrap.servers": brokers,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
        }
    )
    failed: list[Record] = []
    failures: list[str] = []

    def delivered(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failed.append((msg.topic() or "", msg.partition() or 0, msg.value() or b""))
            failures.append(f"{msg.topic()}[{msg.partition()}]: {err.name()}")

    todo = records
    for _ in range(rounds):
        failed.clear()
        failures.clear()
        for i, (topic, partition, value) in enumerate(todo):
            producer.produce(topic, value=value, partition=partition, on_delivery=delivered)
            if i % 1000 == 0:
                producer.poll(0)
        assert producer.flush(60) == 0, "records still waiting after 60 s"
        if not failed:
            return
        todo = list(failed)
    pytest.fail(f"{len(failures)} record(s) not delivered after {rounds} rounds: {failures[:5]}")


def _produce_everywhere(brokers: str, per_partition: int = 3) -> int:
    records = [
        (topic, partition, f"{topic}-{partition}-{i}".encode())
        for topic, partitions in MANAGED_TOPICS.items()
        for partition in range(partitions)
        for i in range(per_partition)
    ]
    _produce(brokers, records)
    return len(records)


Marks = dict[str, dict[int, tuple[int, int]]]  # topic -> partition -> (low, high)


def _watermarks(brokers: str, topics: Mapping[str, int] = MANAGED_TOPICS) -> Marks:
    """Each partition's low and high watermarks, read from its leader."""
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": "bz-marks", "broker.address.family": "v4"}
    )
    try:
        return {
            topic: {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                for p in range(partitions)
            }
            for topic, partitions in topics.items()
        }
    finally:
        consumer.close()


def _assert_holds(brokers: str, expected: Mapping[str, int]) -> Marks:
    """What the freshly created topics hold, read from their leaders (call it with every
    broker up, before any fault): every partition still starts at offset 0 (nothing deleted
    it) and each topic holds ``expected`` records. The truth a clear's report must match."""
    marks = _watermarks(brokers)
    not_from_zero = {f"{t}[{p}]": w for t, ps in marks.items() for p, w in ps.items() if w[0]}
    assert not not_from_zero, (
        f"records were deleted before the clear ran, (low, high): {not_from_zero}"
    )
    held = {t: sum(high - low for low, high in ps.values()) for t, ps in marks.items()}
    assert held == expected, f"the topics do not hold the acknowledged records: {held}"
    return marks


def _assert_reported(reported: Mapping[str, Any], truth: Marks, brokers: str) -> None:
    """The clear's per-topic figures are the truth read before the fault; if not, say what
    each partition of the wrong topics held then and holds now (a partition whose low
    watermark is below its high one was not cleared to its true end)."""
    held = {t: sum(high - low for low, high in ps.values()) for t, ps in truth.items()}
    wrong = {t: n for t, n in reported.items() if n != held.get(t)}
    if wrong:
        true = {t: held.get(t) for t in wrong}
        then = {t: truth.get(t) for t in wrong}
        now = _watermarks(brokers, {t: len(truth[t]) for t in wrong if t in truth})
        pytest.fail(
            f"the clear reported {wrong}, the topics held {true}; (low, high) per partition "
            f"before the fault: {then}, after the clear: {now}"
        )
    assert reported == held


def _assert_empty(brokers: str) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"bz-check-{time.time_ns()}",
            "enable.auto.commit": False,
            "broker.address.family": "v4",
        }
    )
    assignment = []
    for topic, partitions in MANAGED_TOPICS.items():
        for partition in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            assert low == high, f"{topic}[{partition}] low {low} != high {high}"
            assignment.append(TopicPartition(topic, partition, 0))  # "from the beginning"
    consumer.assign(assignment)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        message = consumer.poll(0.2)
        assert message is None or message.error() is not None, "a record survived the clear"
    consumer.close()


def test_clear_deletes_every_record_and_keeps_the_topics(single: Settings) -> None:
    ensure(single)
    produced = _produce_everywhere(single.kafka_broker_urls)
    report = run(BazookaEvent(clear_kafka_topics=True, force=True), single)
    assert report.ok, report.failure
    details = report.steps[0].details
    assert details["total_records_removed"] == produced
    assert details["records_removed"]["to-vulcan"] == 210 * 3
    assert details["partitions_cleared"] == 219
    assert _partitions(single.kafka_broker_urls) == {t: (n, 1) for t, n in MANAGED_TOPICS.items()}
    _assert_empty(single.kafka_broker_urls)


def test_clear_skips_missing_topics_and_reports_them(single: Settings) -> None:
    _create(single.kafka_broker_urls, {"to-ender": 1})
    report = run(BazookaEvent(clear_kafka_topics=True, force=True), single)
    assert report.ok
    details = report.steps[0].details
    assert list(details["records_removed"]) == ["to-ender"]
    assert set(details["missing_topics"]) == set(MANAGED_TOPICS) - {"to-ender"}


def test_create_then_clear_in_one_event(single: Settings) -> None:
    report = run(
        BazookaEvent(create_kafka_topics=True, clear_kafka_topics=True, force=True), single
    )
    assert report.ok
    assert [s.name for s in report.steps] == ["create_kafka_topics", "clear_kafka_topics"]


def _services(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "services.py"), *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    assert done.returncode == 0, f"services.py {' '.join(args)} failed:\n{done.stderr}"


@pytest.mark.cluster
def test_broker_stopped_during_clear_retries_until_a_new_leader_answers_and_counts_exactly(
    cluster: Settings,
) -> None:
    """A read that gives up before the election (KAFKA_CONNECTION_TIMEOUT_MS=1000) fails the
    attempt; a later attempt reads the partitions from their new leaders and the count is
    exact."""
    settings = cluster.replace(
        clear_kafka_topic_retry_ms=2_000,
        clear_kafka_topic_max_retries=4,
        kafka_connection_timeout_ms=1_000,
    )
    ensure(settings)
    produced = _produce_everywhere(settings.kafka_broker_urls, per_partition=2)
    truth = _assert_holds(settings.kafka_broker_urls, {t: 2 * n for t, n in MANAGED_TOPICS.items()})
    records = RecordingHandler()
    admin_log = logging.getLogger("bazooka.kafka.clear")
    admin_log.addHandler(records)
    admin_log.setLevel(logging.INFO)
    try:
        # The broker leading most partitions dies abruptly as the clear starts: those
        # partitions have no reachable leader until the controller notices (session timeout)
        # and elects another replica.
        _services("kill-broker", str(busiest_leader(settings.kafka_broker_urls)))
        result = kafka_clear.clear_topics(
            kafka_admin.connect_admin(settings), settings, NullProgress(), UnlimitedTime()
        ).to_dict()
        failures = [
            r for r in records.records if r.getMessage() == "Failed to delete topic records"
        ]
        assert failures, "the broker stop did not exercise the retry path"
        assert max(result["attempts"].values()) >= 2
        _assert_reported(result["records_removed"], truth, settings.kafka_broker_urls)
        assert result["total_records_removed"] == produced
        assert result["records_removed"]["to-vulcan"] == 210 * 2
        assert "partitions_unknown" not in result
        _assert_empty(settings.kafka_broker_urls)
    finally:
        admin_log.removeHandler(records)
        _services("start", "--only", "cluster")  # bring the killed broker back


def _log_lines(stderr: str) -> list[dict[str, Any]]:
    lines = []
    for line in stderr.splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return lines


def _produce_per_topic(brokers: str, per_topic: int) -> None:
    _produce(
        brokers,
        [
            (topic, i % partitions, b"%d" % i)
            for topic, partitions in MANAGED_TOPICS.items()
            for i in range(per_topic)
        ],
    )


@pytest.mark.cluster
def test_clear_with_the_busiest_leader_killed_reports_exactly_what_was_produced(
    cluster: Settings,
) -> None:
    """The drill of issue 24: 2,000 records in each of the 8 topics on 3 brokers (RF 3), the
    busiest leader SIGKILLed, then `bazooka run --clear-kafka-topics --force --json` with the
    default settings: the run succeeds, reports exactly 16,000 records (2,000 per topic, in
    the report and in the log lines) and leaves every partition empty. What the topics hold
    is read with every broker up before the kill: a record lost or deleted before the clear
    fails there, not as a wrong count of the clear."""
    ensure(cluster)
    brokers = cluster.kafka_broker_urls
    _produce_per_topic(brokers, 2_000)
    truth = _assert_holds(brokers, dict.fromkeys(MANAGED_TOPICS, 2_000))
    env = {k: v for k, v in service_env().items() if k != "KAFKA_REPLICATION_FACTOR"}
    env["KAFKA_BROKER_URLS"] = brokers
    _services("kill-broker", str(busiest_leader(brokers)))
    try:
        done = cli_process(env, "run", "--clear-kafka-topics", "--force", "--json", timeout=300)
        report = json.loads(done.stdout)
        assert done.returncode == 0, report.get("error")
        details = report["steps"][0]["details"]
        _assert_reported(details["records_removed"], truth, brokers)
        assert details["total_records_removed"] == 16_000
        assert details["partitions_cleared"] == 219
        _assert_empty(brokers)
        logged = [line for line in _log_lines(done.stderr) if "recordsRemoved" in line]
        assert sorted(line["topic"] for line in logged) == sorted(MANAGED_TOPICS)
        assert all(line["recordsRemoved"] == 2_000 for line in logged), logged
        for line in _log_lines(done.stderr):
            for offsets in line.get("topicOffsets", []):
                for key in ("low", "high"):
                    value = offsets.get(key, 0)
                    assert value == "unknown" or (isinstance(value, int) and value >= 0), line
    finally:
        _services("start", "--only", "cluster")


@pytest.mark.cluster
def test_a_partition_without_any_leader_is_reported_unknown_and_fails_the_step(
    cluster: Settings,
) -> None:
    """`to-ender` has its only replica on the broker that dies: no leader answers for it during
    the whole clear. The step fails; the other topics' counts are exact (their leaders moved);
    to-ender's is unknown, and the total says "at least" and names the partition."""
    brokers = cluster.kafka_broker_urls
    doomed = 2
    client = _admin(brokers)
    for future in client.create_topics(
        [NewTopic("to-ender", 1, -1, replica_assignment=[[doomed]])]
    ).values():
        future.result()
    ensure(cluster)
    _produce_per_topic(brokers, 2_000)
    _assert_holds(brokers, dict.fromkeys(MANAGED_TOPICS, 2_000))
    settings = cluster.replace(
        kafka_connection_timeout_ms=2_000,
        clear_kafka_topic_retry_ms=1_000,
        clear_kafka_topic_max_retries=4,
    )
    _services("kill-broker", str(doomed))
    try:
        with pytest.raises(KafkaOperationError) as failure:
            kafka_clear.clear_topics(
                kafka_admin.connect_admin(settings), settings, NullProgress(), UnlimitedTime()
            )
        message = str(failure.value)
        assert "to-ender: clearing topic to-ender failed after 4 attempt(s)" in message
        assert "no leader answered within 2000 ms" in message
        assert message.endswith(
            "In all, removed at least 14000 record(s); 1 partition(s) unknown: to-ender[0]"
        ), message
        assert failure.value.details is not None
        details = failure.value.details.to_dict()
        assert details["records_removed"] == {
            **dict.fromkeys(MANAGED_TOPICS, 2_000),
            "to-ender": "unknown: at least 0 record(s); partition(s) 0 unknown",
        }
        assert details["total_records_removed"] == (
            "unknown: at least 14000 record(s); 1 partition(s) unknown: to-ender[0]"
        )
        assert details["partitions_unknown"] == {"to-ender": [0]}
        assert list(details["failed_topics"]) == ["to-ender"]
        assert failure.value.details.headline().startswith("removed at least 14000 record(s)")
    finally:
        _services("start", "--only", "cluster")
        _delete_managed_topics(brokers)  # leave no single-replica to-ender behind


def test_unreachable_brokers_fail_clearly_within_the_timeout(base_env: dict[str, str]) -> None:
    settings = make_settings(
        {**base_env, "KAFKA_BROKER_URLS": "127.0.0.1:1", "KAFKA_CONNECTION_TIMEOUT_MS": "2000"}
    )
    started = time.monotonic()
    report = run(BazookaEvent(create_kafka_topics=True), settings)
    elapsed = time.monotonic() - started
    assert not report.ok
    assert "Cannot reach Kafka at 127.0.0.1:1 within 2000 ms" in str(report.failure)
    assert elapsed < 30, f"took {elapsed:.1f}s: the timeout must bound it"


def test_existing_topics_and_their_records_are_left_alone(single: Settings) -> None:
    _create(single.kafka_broker_urls, {"to-ender": 1})
    producer = Producer({"bootstrap.servers": single.kafka_broker_urls})
    producer.produce("to-ender", value=b"kept")
    assert producer.flush(10) == 0
    ensure(single)
    consumer = Consumer({"bootstrap.servers": single.kafka_broker_urls, "group.id": "bz-keep"})
    low, high = consumer.get_watermark_offsets(TopicPartition("to-ender", 0), timeout=10)
    consumer.close()
    assert high - low == 1  # not recreated: its record is still there


def test_a_full_local_queue_is_sent_at_once_and_every_record_acknowledged_once(
    single: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for 50 records and a 30 s linger, 200 records go through only if a full queue
    is sent out at once: records left to wait for their linger would take 30 s per fill."""
    monkeypatch.setattr(kafka_producer, "QUEUE_MAX_MESSAGES", 50)
    monkeypatch.setattr(kafka_producer, "LINGER_MS", 30_000)
    _create(single.kafka_broker_urls, {"to-vulcan": 3})  # a managed topic: deleted by `single`
    producer = kafka_producer.AckedProducer(single, "to-vulcan", 3, delivery_timeout_ms=90_000)
    started = time.monotonic()
    for i in range(200):
        producer.send(f"order-{i}".encode(), b"v" * 70)
    stats = producer.flush(60)
    assert time.monotonic() - started < 30  # no fill waited for the linger
    assert (stats.produced, stats.delivered, stats.failed, stats.wrong_partition) == (
        200,
        200,
        0,
        0,
    )
    consumer = Consumer({"bootstrap.servers": single.kafka_broker_urls, "group.id": "bz-full"})
    offsets = [
        consumer.get_watermark_offsets(TopicPartition("to-vulcan", p), timeout=10) for p in range(3)
    ]
    consumer.close()
    assert sum(high - low for low, high in offsets) == 200
