"""``send_stateful_orders_to_vulcan`` end to end: real PostgreSQL, real Kafka, records read back.

Every test migrates its own scratch database with our migrator and inserts its rows with SQL.
The topic ``to-vulcan`` on ``KAFKA_BROKER_URLS`` is shared with whoever else uses that broker,
so a test reads back only its own records: it notes the high watermark of each of the 210
partitions before the step, after it, and consumes exactly that range of offsets (explicit
``assign()``, no consumer group). Its orders belong to an owner address unique to the test
(the few with fixed keys carry a router address unique to the test), so records others wrote
to the same range are recognised and left out.

The missing-topic and broker-stopped-mid-send cases need a broker of their own: the test starts
a disposable one with ``scripts/services.py`` on a free port and removes it afterwards.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from google.protobuf.message import DecodeError
from v4_proto.dydxprotocol.indexer.off_chain_updates.off_chain_updates_pb2 import (
    OffChainUpdateV1,
    OrderPlaceV1,
)
from v4_proto.dydxprotocol.indexer.protocol.v1.clob_pb2 import (
    IndexerOrder,
    IndexerOrderId,
)

from bazooka.budget import TimeBudget, UnlimitedTime
from bazooka.errors import OutOfTime, VulcanSendError
from bazooka.event import BazookaEvent
from bazooka.kafka.admin import connect_admin, describe_cluster, watermarks
from bazooka.kafka.client_config import common_config
from bazooka.kafka.create import ensure_topics
from bazooka.kafka.partitioner import java_partition
from bazooka.kafka.topics import MANAGED_TOPICS, TO_VULCAN
from bazooka.postgres import migrator
from bazooka.postgres.connection import connect
from bazooka.postgres.migrations_source import bundled
from bazooka.progress import NullProgress
from bazooka.report import Report
from bazooka.runner import run
from bazooka.settings import Settings
from bazooka.vulcan import orders as vulcan_orders
from bazooka.vulcan.send import send_stateful_orders
from bazooka.vulcan.translate import OrderRow
from tests.helpers import ROOT, free_ports, make_settings, scratch_database, service_env
from tests.vulcan_data import (
    FIXED_KEYS,
    FIXED_OWNER,
    Order,
    bulk_orders,
    excluded_orders,
    hand_checked_orders,
    insert_markets,
    insert_orders,
    order_id_bytes,
    reference_messages,
)

PARTITIONS = MANAGED_TOPICS[TO_VULCAN]
STEP = "send_stateful_orders_to_vulcan"


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes
    value: bytes
    update: OffChainUpdateV1

    @property
    def kind(self) -> str:
        return str(self.update.WhichOneof("update_message"))

    @property
    def order_id(self) -> IndexerOrderId:
        if self.kind == "order_place":
            return self.update.order_place.order.order_id
        return self.update.order_update.order_id

    @property
    def order_id_tuple(self) -> tuple[str, int, int, int, int]:
        oid = self.order_id
        return (
            oid.subaccount_id.owner,
            oid.subaccount_id.number,
            oid.client_id,
            oid.order_flags,
            oid.clob_pair_id,
        )


def known_high_watermarks(settings: Settings) -> dict[int, int]:
    """The high watermark of each partition of to-vulcan whose leader answers."""
    marks = watermarks(connect_admin(settings), TO_VULCAN, range(PARTITIONS), settings)
    return {partition: mark.high for partition, mark in marks.items() if mark.high is not None}


def high_watermarks(settings: Settings) -> dict[int, int]:
    highs = known_high_watermarks(settings)
    assert len(highs) == PARTITIONS, f"only {len(highs)} partitions answered"
    return highs


def read_range(
    settings: Settings, before: dict[int, int], after: dict[int, int]
) -> list[tuple[int, int, bytes, bytes]]:
    """Records at offsets [before, after) of each partition: (partition, offset, key, value)."""
    wanted = {p: (before[p], after[p]) for p in range(PARTITIONS) if after[p] > before[p]}
    if not wanted:
        return []
    consumer = Consumer(
        {
            **common_config(settings),
            "group.id": f"bazooka-test-vulcan-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "error",  # records deleted under us: fail, do not skip
        }
    )
    consumer.assign([TopicPartition(TO_VULCAN, p, start) for p, (start, _) in wanted.items()])
    records: list[tuple[int, int, bytes, bytes]] = []
    pending = set(wanted)
    deadline = time.monotonic() + 60
    try:
        while pending:
            assert time.monotonic() < deadline, f"partitions {sorted(pending)} not read in time"
            for message in consumer.consume(num_messages=10_000, timeout=1.0):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"reading {TO_VULCAN} back failed: {error}")
                partition, offset = message.partition(), message.offset()
                assert partition is not None and offset is not None
                start, end = wanted[partition]
                if start <= offset < end:
                    key, value = message.key(), message.value()
                    assert isinstance(key, bytes) and isinstance(value, bytes)
                    records.append((partition, offset, key, value))
                if offset >= end - 1:
                    pending.discard(partition)
    finally:
        consumer.close()
    return records


def ours(
    raw: list[tuple[int, int, bytes, bytes]], owner: str, router: str | None = None
) -> list[Record]:
    """The records of this test: its owner's orders, and FIXED_OWNER's with its router."""
    mine: list[Record] = []
    for partition, offset, key, value in raw:
        try:
            update = OffChainUpdateV1.FromString(value)
        except DecodeError:
            continue  # someone else's record
        record = Record(partition, offset, key, value, update)
        if record.kind not in ("order_place", "order_update"):
            continue
        record_owner = record.order_id.subaccount_id.owner
        if record_owner == owner or (
            router is not None
            and record_owner == FIXED_OWNER
            and record.kind == "order_place"
            and update.order_place.order.order_router_address == router
        ):
            mine.append(record)
    return mine


# --- fixtures ------------------------------------------------------------------------------------


@dataclass
class VulcanDb:
    """A migrated scratch database with markets, and a broker where to-vulcan has 210 partitions."""

    settings: Settings
    owner: str  # unique to the test
    router: str  # unique to the test, on the fixed-key orders

    def conn(self) -> psycopg.Connection[Any]:
        return connect(self.settings)

    def run_step(self) -> Report:
        return run(BazookaEvent(send_stateful_orders_to_vulcan=True), self.settings)


def migrate_scratch(settings: Settings) -> None:
    with connect(settings) as conn:
        migrator.migrate(conn, bundled())
        insert_markets(conn)


def prepare_vulcan(settings: Settings) -> VulcanDb:
    """Migrate the scratch database, add the markets, make sure to-vulcan has its partitions."""
    migrate_scratch(settings)
    admin = connect_admin(settings)
    ensure_topics(admin, settings, NullProgress())
    partitions = describe_cluster(admin, settings).partitions.get(TO_VULCAN)
    if partitions != PARTITIONS:
        pytest.fail(
            f"{TO_VULCAN} on {settings.kafka_broker_urls} has {partitions} partitions, not "
            f"{PARTITIONS}: someone left it so; delete it and run again",
            pytrace=False,
        )
    run_id = uuid.uuid4().hex
    return VulcanDb(settings, owner=f"dydx1vulcantest{run_id}", router=f"dydx1router{run_id}")


@pytest.fixture
def vulcan(db_settings: Settings) -> VulcanDb:
    return prepare_vulcan(db_settings)


@dataclass
class OwnBroker:
    """A disposable single Kafka broker started by the test through scripts/services.py."""

    brokers: str
    stop: Callable[[], None]


@pytest.fixture
def own_broker() -> Iterator[OwnBroker]:
    state = Path(tempfile.mkdtemp(prefix="bz-vulcan-broker-"))
    # Reuse the Kafka jars of the shared services instead of resolving them with Maven again.
    shared = os.environ.get("BAZOOKA_LOCAL_DIR") or ROOT / ".local"
    if (Path(shared) / "kafka" / "libs").is_dir():
        (state / "kafka").mkdir(parents=True)
        (state / "kafka" / "libs").symlink_to(Path(shared) / "kafka" / "libs")
    port = free_ports(2)  # the broker and, next to it, its controller
    env = {**os.environ, "BAZOOKA_LOCAL_DIR": str(state), "BAZOOKA_KAFKA_PORT": str(port)}

    def services(command: str) -> None:
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "services.py"), command, "--only", "kafka"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"services.py {command} failed:\n{result.stderr}", pytrace=False)

    try:
        services("start")
        yield OwnBroker(f"127.0.0.1:{port}", stop=lambda: services("stop"))
    finally:
        services("stop")
        shutil.rmtree(state, ignore_errors=True)


# --- the orders of the end-to-end test -------------------------------------------------------


@dataclass
class Sent:
    """One run of the step over the hand-checked and 300 bulk orders, read back from Kafka."""

    vulcan: VulcanDb
    hand: dict[str, Order]
    selected: list[Order]
    filled: list[Order]
    report: Report
    records: list[Record]

    @property
    def place_of(self) -> dict[tuple[Any, ...], Record]:
        return {r.order_id_tuple: r for r in self.records if r.kind == "order_place"}

    @property
    def update_of(self) -> dict[tuple[Any, ...], Record]:
        return {r.order_id_tuple: r for r in self.records if r.kind == "order_update"}

    def placed(self, name: str) -> IndexerOrder:
        """The order of a hand-checked place message, whose placement status is OPENED."""
        record = self.place_of[self.hand[name].order_id]
        assert (
            record.update.order_place.placement_status == OrderPlaceV1.ORDER_PLACEMENT_STATUS_OPENED
        )
        return record.update.order_place.order


@pytest.fixture(scope="module", params=[1, 3], ids=["one process", "three processes"])
def sent(request: pytest.FixtureRequest) -> Iterator[Sent]:
    """The send, once per number of processes, for the tests below that read what it sent:
    spread over processes, it must send the very same records."""
    with scratch_database(service_env()) as env:
        settings = make_settings(env, BAZOOKA_VULCAN_WORKERS=str(request.param))
        vulcan = prepare_vulcan(settings)
        hand = hand_checked_orders(vulcan.owner, vulcan.router)
        selected = [*hand.values(), *bulk_orders(vulcan.owner, 300)]
        with vulcan.conn() as conn:
            insert_orders(conn, [*selected, *excluded_orders(vulcan.owner)])
        before = high_watermarks(vulcan.settings)
        report = vulcan.run_step()
        after = high_watermarks(vulcan.settings)
        records = ours(read_range(vulcan.settings, before, after), vulcan.owner, vulcan.router)
        filled = [o for o in selected if Decimal(o.total_filled) != 0]
        yield Sent(vulcan, hand, selected, filled, report, records)


def test_the_report_counts_every_order_and_every_acknowledged_message(sent: Sent) -> None:
    assert sent.report.ok, sent.report.failure
    (outcome,) = sent.report.steps
    assert outcome.name == STEP
    details = outcome.details
    assert details["orders_read"] == details["orders_sent"] == len(sent.selected) == 305
    assert details["invalid_orders"] == 0
    assert details["order_updates"] == len(sent.filled)
    assert details["messages_produced"] == details["messages_acknowledged"]
    assert details["messages_acknowledged"] == len(sent.selected) + len(sent.filled)
    assert details["partitions"] == PARTITIONS
    assert details["workers"] == sent.vulcan.settings.vulcan_workers
    assert details["encoder"] == "C"  # the install built it: these bytes are the C encoder's
    assert len(sent.records) == details["messages_acknowledged"]


def test_keys_are_the_order_ids_sha256_in_the_java_partitioners_partition(sent: Sent) -> None:
    for record in sent.records:
        assert record.key == hashlib.sha256(record.order_id.SerializeToString()).digest()
        assert record.partition == java_partition(record.key, PARTITIONS)


def test_fixed_keys_land_where_kafkas_java_client_puts_them(sent: Sent) -> None:
    by_fixed_id = {
        r.order_id_tuple[1:]: r for r in sent.records if r.order_id_tuple[0] == FIXED_OWNER
    }
    assert set(by_fixed_id) == set(FIXED_KEYS)
    for order_id, (key_hex, partition) in FIXED_KEYS.items():
        record = by_fixed_id[order_id]
        assert hashlib.sha256(order_id_bytes(FIXED_OWNER, *order_id)).hexdigest() == key_hex
        assert record.key.hex() == key_hex
        assert record.partition == partition, f"{order_id} not in Java's partition {partition}"


def test_one_exact_place_per_selected_order_and_each_update_after_its_place(sent: Sent) -> None:
    places = [r for r in sent.records if r.kind == "order_place"]
    updates = [r for r in sent.records if r.kind == "order_update"]
    assert Counter(r.order_id_tuple for r in places) == Counter(o.order_id for o in sent.selected)
    assert {r.order_id_tuple for r in updates} == {o.order_id for o in sent.filled}
    assert len(updates) == len(sent.filled)
    place_of, update_of = sent.place_of, sent.update_of
    for order in sent.selected:
        expected = reference_messages(order)
        assert place_of[order.order_id].value == expected[0], order
        if len(expected) == 2:
            update = update_of[order.order_id]
            assert update.value == expected[1], order
            # The update follows its place: same key, same partition, later offset.
            place = place_of[order.order_id]
            assert (update.key, update.partition) == (place.key, place.partition)
            assert update.offset > place.offset


# Field by field, against values worked out by hand.


def test_hand_checked_long_term_order_with_a_zero_fee_builder(sent: Sent) -> None:
    btc = sent.placed("btc_long_term")
    assert btc.order_id.subaccount_id.owner == FIXED_OWNER
    assert btc.order_id.subaccount_id.number == 0
    assert (btc.order_id.client_id, btc.order_id.order_flags, btc.order_id.clob_pair_id) == (
        1,
        64,
        0,
    )
    assert btc.side == IndexerOrder.SIDE_SELL
    assert btc.quantums == 25_000_000  # 0.0025 * 10^10
    assert btc.subticks == 6_500_050_000  # 65000.5 * 10^5
    assert btc.WhichOneof("good_til_oneof") == "good_til_block_time"
    assert btc.good_til_block_time == 1_893_456_000  # 2030-01-01T00:00:00Z, .789 dropped
    assert btc.time_in_force == IndexerOrder.TIME_IN_FORCE_POST_ONLY
    assert not btc.reduce_only
    assert btc.client_metadata == 5
    assert btc.condition_type == IndexerOrder.CONDITION_TYPE_UNSPECIFIED
    assert btc.conditional_order_trigger_subticks == 0
    assert btc.HasField("builder_code_params")  # fee ppm "0" with an address counts
    assert btc.builder_code_params.builder_address == "dydx1builderzero"
    assert btc.builder_code_params.fee_ppm == 0
    assert btc.order_router_address == sent.vulcan.router


def test_hand_checked_stop_order(sent: Sent) -> None:
    eth = sent.placed("eth_stop")
    assert eth.order_id.subaccount_id.number == 1
    assert eth.side == IndexerOrder.SIDE_BUY
    assert eth.quantums == 1_500_000_000  # 1.5 * 10^9
    assert eth.subticks == 3_000_000_000  # 3000 * 10^6
    assert eth.conditional_order_trigger_subticks == 3_100_250_000  # 3100.25 * 10^6
    assert eth.condition_type == IndexerOrder.CONDITION_TYPE_STOP_LOSS
    assert eth.time_in_force == IndexerOrder.TIME_IN_FORCE_IOC
    assert eth.reduce_only
    assert eth.good_til_block_time == 1_876_221_045  # 2029-06-15T12:30:45Z
    assert not eth.HasField("builder_code_params")


def test_hand_checked_take_profit_on_a_shared_clob_pair(sent: Sent) -> None:
    dup = sent.placed("dup_take_profit")
    assert dup.order_id.client_id == 4_294_967_295
    assert dup.quantums == 12_345_678  # 12.345678 * 10^6 (market id 3, not 7)
    assert dup.subticks == 123_000_000  # 0.0123 * 10^(-6+6+10)
    assert dup.conditional_order_trigger_subticks == 125_000_000
    assert dup.condition_type == IndexerOrder.CONDITION_TYPE_TAKE_PROFIT
    assert dup.time_in_force == IndexerOrder.TIME_IN_FORCE_UNSPECIFIED
    assert dup.good_til_block_time == 1_930_367_167  # 2031-03-04T05:06:07Z
    assert dup.builder_code_params.builder_address == "dydx1builder"
    assert dup.builder_code_params.fee_ppm == 250


def test_hand_checked_order_with_flags_160_and_a_trigger_on_a_limit(sent: Sent) -> None:
    sol = sent.placed("sol_160")
    assert sol.order_id.subaccount_id.number == 7
    assert sol.order_id.order_flags == 160
    assert sol.quantums == 30_000_000  # 3 * 10^7
    assert sol.subticks == 72_500_000  # 7.25 * 10^(-7+6+8)
    assert sol.conditional_order_trigger_subticks == 75_000_000  # LIMIT, trigger still set
    assert sol.condition_type == IndexerOrder.CONDITION_TYPE_UNSPECIFIED
    assert sol.time_in_force == IndexerOrder.TIME_IN_FORCE_FILL_OR_KILL
    assert sol.client_metadata == 4_294_967_295
    assert not sol.HasField("builder_code_params")  # address without fee ppm


def test_hand_checked_partly_filled_order_and_its_update(sent: Sent) -> None:
    filled_btc = sent.placed("btc_filled")
    assert filled_btc.order_id.subaccount_id.owner == sent.vulcan.owner
    assert filled_btc.order_id.subaccount_id.number == 128
    assert filled_btc.quantums == 5_000_000_000  # 0.5 * 10^10
    assert filled_btc.subticks == 6_400_000_000  # 64000 * 10^5
    assert filled_btc.order_router_address == ""
    assert not filled_btc.HasField("builder_code_params")  # fee ppm without an address
    update = sent.update_of[sent.hand["btc_filled"].order_id].update.order_update
    assert update.order_id == filled_btc.order_id
    assert update.total_filled_quantums == 1_234_000_000  # 0.1234 * 10^10


def test_no_open_stateful_order_succeeds_and_sends_nothing(vulcan: VulcanDb) -> None:
    with vulcan.conn() as conn:
        insert_orders(conn, excluded_orders(vulcan.owner))
    before = high_watermarks(vulcan.settings)
    report = vulcan.run_step()
    after = high_watermarks(vulcan.settings)

    assert report.ok, report.failure
    details = report.steps[0].details
    assert details["orders_read"] == details["orders_sent"] == 0
    assert details["messages_produced"] == details["messages_acknowledged"] == 0
    assert details["order_updates"] == details["invalid_orders"] == 0
    # Watermarks unchanged by this run: whatever appeared in the meantime is someone else's.
    assert ours(read_range(vulcan.settings, before, after), vulcan.owner) == []


def test_invalid_rows_fail_the_step_after_every_valid_order_was_acknowledged(
    vulcan: VulcanDb,
) -> None:
    owner = vulcan.owner
    valid = [
        Order(owner, 0, 1, 0, 64, size="0.5", price="64000", total_filled="0.25"),
        Order(owner, 0, 2, 1, 32, size="2", price="3000", type="STOP_MARKET", trigger_price="1"),
        Order(owner, 1, 3, 3, 96, size="1", price="0.5"),
    ]
    fractional_quantums = Order(owner, 0, 11, 0, 64, size="0.00000000001", price="64000")
    fractional_subticks = Order(owner, 0, 12, 0, 64, size="1", price="64000.000001")
    no_market = Order(owner, 0, 13, 99, 64, size="1", price="1")
    invalid = [fractional_quantums, fractional_subticks, no_market]
    with vulcan.conn() as conn:
        insert_orders(conn, [*valid, *invalid])

    before = high_watermarks(vulcan.settings)
    report = vulcan.run_step()
    after = high_watermarks(vulcan.settings)

    assert not report.ok
    failed = report.failed_step
    assert failed is not None and failed.name == STEP
    assert isinstance(report.failure, VulcanSendError)
    error = failed.error or ""
    assert "3 order(s) not sent because they cannot be converted exactly" in error
    for order in invalid:
        assert order.id in error
    details = failed.details
    assert details["orders_read"] == 6
    assert details["orders_sent"] == 3
    assert details["invalid_orders"] == 3
    assert details["order_updates"] == 1
    assert details["messages_produced"] == details["messages_acknowledged"] == 4
    reasons = details["invalid"]
    assert set(reasons) == {o.id for o in invalid}
    assert "size 1E-11 * 10^10 is not an integer" in reasons[fractional_quantums.id]
    assert "price 64000.000001 * 10^5 is not an integer" in reasons[fractional_subticks.id]
    assert reasons[no_market.id] == "no perpetual market has clobPairId 99"

    records = ours(read_range(vulcan.settings, before, after), owner)
    places = Counter(r.order_id_tuple for r in records if r.kind == "order_place")
    assert places == Counter(o.order_id for o in valid)
    assert [r.order_id_tuple for r in records if r.kind == "order_update"] == [valid[0].order_id]


def test_missing_topic_fails_clearly_and_produces_nothing(
    scratch_db: dict[str, str], own_broker: OwnBroker
) -> None:
    settings = make_settings(
        scratch_db, KAFKA_BROKER_URLS=own_broker.brokers, KAFKA_REPLICATION_FACTOR="1"
    )
    migrate_scratch(settings)
    with connect(settings) as conn:
        insert_orders(conn, [Order("dydx1x", 0, 1, 0, 64, size="1", price="1")])

    report = run(BazookaEvent(send_stateful_orders_to_vulcan=True), settings)

    assert not report.ok
    assert report.failed_step is not None and report.failed_step.name == STEP
    error = report.failed_step.error or ""
    assert f"Topic {TO_VULCAN} does not exist on {own_broker.brokers}" in error
    assert "create_kafka_topics" in error
    # Nothing produced: the topic was not auto-created (nor any other).
    topics = describe_cluster(connect_admin(settings), settings).partitions
    assert not [t for t in topics if not t.startswith("__")], topics


def _records_stored(settings: Settings) -> int:
    """Records in to-vulcan (0 while the new topic's partition leaders are still settling)."""
    try:
        return sum(high_watermarks(settings).values())
    except KafkaException:
        return 0


class _PauseAfterFirstBatch(NullProgress):
    """Progress that holds the send after its first batch until the test lets it go on."""

    def __init__(self) -> None:
        self.first_batch_sent = threading.Event()
        self.go_on = threading.Event()

    def advance(self, amount: int = 1, description: str | None = None) -> None:
        if not self.first_batch_sent.is_set():
            self.first_batch_sent.set()
            self.go_on.wait(300)


def test_broker_stopped_mid_send_fails_with_acknowledged_and_produced_counts(
    scratch_db: dict[str, str], own_broker: OwnBroker
) -> None:
    settings = make_settings(
        scratch_db, KAFKA_BROKER_URLS=own_broker.brokers, KAFKA_REPLICATION_FACTOR="1"
    )
    migrate_scratch(settings)
    ensure_topics(connect_admin(settings), settings, NullProgress())
    deadline = time.monotonic() + 60
    while len(known_high_watermarks(settings)) < PARTITIONS:  # every partition has its leader
        assert time.monotonic() < deadline, f"{TO_VULCAN} partitions never got leaders"
        time.sleep(0.5)
    orders = 20_000
    with connect(settings) as conn:
        insert_orders(conn, [Order("dydx1broker", 0, 0, 0, 64, size="1", price="1")])
        conn.execute(
            'INSERT INTO orders (id, "subaccountId", "clientId", "clobPairId", side, size, '
            '"totalFilled", price, type, status, "timeInForce", "reduceOnly", "orderFlags", '
            '"goodTilBlockTime", "clientMetadata") '
            "SELECT gen_random_uuid(), (SELECT id FROM subaccounts), g, 0, 'BUY', 0.001 * g, "
            "CASE WHEN g %% 4 = 0 THEN 0.0001 ELSE 0 END, 50000, 'LIMIT', 'OPEN', 'GTT', false, "
            "64, '2030-01-01T00:00:00Z', 0 FROM generate_series(1, %s) AS g",
            (orders - 1,),
        )
    messages = orders + (orders - 1) // 4

    progress = _PauseAfterFirstBatch()
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            with connect(settings) as conn:
                outcome["details"] = send_stateful_orders(
                    conn, settings, progress, UnlimitedTime(), delivery_timeout_ms=5_000
                )
        except Exception as exc:  # noqa: BLE001 - handed over to the test's thread
            outcome["error"] = exc

    sender = threading.Thread(target=send, name="vulcan-send")
    sender.start()
    try:
        assert progress.first_batch_sent.wait(120), outcome
        # Let the broker store the first batch (5,000 orders: at least 5,000 records), so that
        # some messages are acknowledged and the rest are not.
        deadline = time.monotonic() + 60
        while _records_stored(settings) < 5_000:
            assert time.monotonic() < deadline, "the first batch never reached the broker"
            time.sleep(0.2)
        time.sleep(1)
        own_broker.stop()  # scripts/services.py stop --only kafka, while the send is under way
    finally:
        progress.go_on.set()
        sender.join(180)
    assert not sender.is_alive(), "the send did not end after the broker stopped"

    assert "details" not in outcome, "the step reported success with its broker gone"
    error = outcome["error"]
    assert isinstance(error, VulcanSendError), repr(error)
    match = re.search(r"(\d+) of (\d+) message\(s\) acknowledged, (\d+) failed", str(error))
    assert match, str(error)
    acknowledged, produced, failed_count = map(int, match.groups())
    assert produced == messages
    assert 0 < acknowledged < produced
    assert acknowledged + failed_count <= produced
    assert error.details is not None
    details = error.details.to_dict()
    assert details["messages_produced"] == produced
    assert details["messages_acknowledged"] == acknowledged
    assert details["orders_read"] == orders


def test_time_budget_running_out_mid_stream_stops_cleanly(vulcan: VulcanDb) -> None:
    with vulcan.conn() as conn:
        insert_orders(conn, bulk_orders(vulcan.owner, 250, seed=3))
    checks = iter(range(1_000))

    def remaining_ms() -> int:
        return 10**9 if next(checks) == 0 else 0  # plenty for the first batch only

    with vulcan.conn() as conn:
        with pytest.raises(OutOfTime):
            send_stateful_orders(
                conn,
                vulcan.settings,
                NullProgress(),
                TimeBudget(remaining_ms, reserve_ms=0),
                batch_size=100,
            )
        # The stream was abandoned cleanly: the connection is idle and usable.
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (250,)


def test_time_budget_running_out_stops_every_process_cleanly(vulcan: VulcanDb) -> None:
    with vulcan.conn() as conn:
        insert_orders(conn, bulk_orders(vulcan.owner, 250, seed=4))
        # 30 s left, but each batch wants the whole delivery timeout (60 s): no share starts.
        with pytest.raises(OutOfTime):
            send_stateful_orders(
                conn,
                vulcan.settings.replace(vulcan_workers=3),
                NullProgress(),
                TimeBudget(lambda: 30_000, reserve_ms=0),
                batch_size=50,
            )
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert multiprocessing.active_children() == []  # every worker reported and exited


class _KillAWorkerAfterTheFirstBatch(NullProgress):
    """Progress of the step's own share: after its first batch, SIGKILL one worker."""

    def __init__(self) -> None:
        self.killed: int | None = None

    def advance(self, amount: int = 1, description: str | None = None) -> None:
        if self.killed is None:
            (worker, *_) = multiprocessing.active_children()
            assert worker.pid is not None
            os.kill(worker.pid, signal.SIGKILL)
            self.killed = worker.pid


def test_a_worker_killed_mid_send_fails_the_step_it_never_claims_success(
    vulcan: VulcanDb,
) -> None:
    with vulcan.conn() as conn:
        insert_orders(conn, bulk_orders(vulcan.owner, 3_000, seed=5))
        progress = _KillAWorkerAfterTheFirstBatch()
        with pytest.raises(VulcanSendError) as err:
            send_stateful_orders(
                conn,
                vulcan.settings.replace(vulcan_workers=2),
                progress,
                UnlimitedTime(),
                batch_size=100,
            )
    assert progress.killed is not None
    assert "ended without a report" in str(err.value) and "unconfirmed" in str(err.value)
    assert err.value.details is not None
    details = err.value.details.to_dict()
    assert details["workers"] == 2 and details["orders_read"] < 3_000


def test_server_side_cursor_fallback_streams_the_same_rows(
    vulcan: VulcanDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without libpq chunked rows (libpq < 17) the orders come through a server-side cursor."""
    with vulcan.conn() as conn:
        insert_orders(conn, [*bulk_orders(vulcan.owner, 120), *excluded_orders(vulcan.owner)])

    def stream(batch_size: int) -> list[list[OrderRow]]:
        with vulcan.conn() as conn, conn.transaction():
            return [
                [OrderRow._make(row) for row in batch]
                for batch in vulcan_orders.stream_open_stateful(conn, batch_size)
            ]

    chunked = stream(50)
    monkeypatch.setattr(psycopg.capabilities, "has_stream_chunked", lambda: False)
    fallback = stream(50)
    assert [len(b) for b in chunked] == [len(b) for b in fallback] == [50, 50, 20]

    def key(row: OrderRow) -> str:
        return row.id

    assert sorted((r for b in chunked for r in b), key=key) == sorted(
        (r for b in fallback for r in b), key=key
    )
