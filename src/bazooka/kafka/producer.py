"""A producer that counts every broker acknowledgement, for steps that must never claim
success for a message the broker did not confirm."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from bazooka.kafka.client_config import common_config
from bazooka.kafka.partitioner import java_partition
from bazooka.logs import emit
from bazooka.settings import Settings

log = logging.getLogger(__name__)

# librdkafka gives up on a message after this long (its default is 5 minutes).
DELIVERY_TIMEOUT_MS = 60_000
# Messages whose partition is re-checked against the Java partitioner on delivery.
PARTITION_CHECKS = 1_000
# How long a partition's batch may wait for more records. Spread over 210 partitions, a 5 ms
# linger sent batches of one or two records, whose produce requests cost the producer and the
# broker more CPU than the records themselves. flush() sends what waits at once regardless.
LINGER_MS = 1_000
# The local queue's bounds, which bound the memory whatever the order count: about 300 bytes
# a queued Vulcan record, librdkafka's and confluent-kafka's included (1M orders, two
# processes: peak RSS 242-244 MiB with 200,000, 211-213 MiB with 100,000). 150,000 holds a
# whole 100,000-order send (130,000 records), which then never waits for room.
QUEUE_MAX_KBYTES = 65_536
QUEUE_MAX_MESSAGES = 150_000
# How long a send waits for room when the local queue is full. It waits in flush(), which sends
# what the queue holds at once: waiting in poll() would leave the records there until their
# linger ended, up to a second (a 100,000-order send took 1.7 s instead of 1.0 with room for
# 100,000 records).
QUEUE_FULL_WAIT_S = 0.05
# Delivery errors quoted in a failure (all are counted).
KEPT_ERRORS = 5


@dataclass
class DeliveryStats:
    """What the broker confirmed, and the first errors it reported."""

    produced: int = 0
    delivered: int = 0
    failed: int = 0
    wrong_partition: int = 0
    errors: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def outstanding(self) -> int:
        """Produced but neither confirmed nor failed yet."""
        return self.produced - self.delivered - self.failed


class AckedProducer:
    """``acks=all`` idempotent producer keyed with the Java partitioner (murmur2).

    Batches are bounded by ``KAFKA_MAX_BATCH_WEBSOCKET_MESSAGE_SIZE_BYTES`` (librdkafka
    ``batch.size``), so no produce request exceeds what the original sent per batch.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        partitions: int,
        *,
        delivery_timeout_ms: int = DELIVERY_TIMEOUT_MS,
    ) -> None:
        self.topic = topic
        self.partitions = partitions
        self.stats = DeliveryStats()
        config: dict[str, Any] = {
            **common_config(settings),
            "acks": "all",
            "enable.idempotence": True,
            "partitioner": "murmur2_random",  # Java producer compatible for keyed records
            "batch.size": settings.kafka_max_batch_websocket_message_size_bytes,
            "linger.ms": min(LINGER_MS, delivery_timeout_ms // 2),  # must stay below the timeout
            "compression.type": "none",  # kafkajs consumers (Vulcan) read none and gzip only
            "message.timeout.ms": delivery_timeout_ms,
            "queue.buffering.max.kbytes": QUEUE_MAX_KBYTES,
            "queue.buffering.max.messages": QUEUE_MAX_MESSAGES,
        }
        self._producer = Producer(config)
        # One bound method for every record. ``self._on_delivery`` written in the call makes a
        # new one per record, held until its report: 5.1 instead of 3.2 us per record in the
        # calling thread (1.3M records), part of it the garbage collector tracking them.
        self._report = self._on_delivery

    def send(self, key: bytes, value: bytes) -> None:
        """Queue one record; while the local queue is full, sends it out and serves
        acknowledgements until there is room."""
        while True:
            try:
                # Positional (topic, value, key, partition, on_delivery): keyword parsing cost
                # more than the rest of the call. Partition -1 (RD_KAFKA_PARTITION_UA) leaves
                # the choice to the configured partitioner.
                self._producer.produce(self.topic, value, key, -1, self._report)
                break
            except BufferError:
                self._producer.flush(QUEUE_FULL_WAIT_S)  # sends the queue now (see above)
        self.stats.produced += 1

    def poll(self) -> None:
        """Serve acknowledgements received so far."""
        self._producer.poll(0)  # no wait: only what has arrived

    def flush(self, timeout_s: float) -> DeliveryStats:
        """Wait (at most ``timeout_s``) until every queued record is acknowledged or failed."""
        self._producer.flush(timeout_s)
        return self.stats

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.stats.failed += 1
            if len(self.stats.errors) < KEPT_ERRORS:
                self.stats.errors.append(f"{err.name()}: {err.str()}")
            return
        self.stats.delivered += 1
        if self.stats.checked < PARTITION_CHECKS:
            self.stats.checked += 1
            key = msg.key()
            if isinstance(key, bytes) and msg.partition() != java_partition(key, self.partitions):
                self.stats.wrong_partition += 1
                emit(
                    log,
                    logging.ERROR,
                    "kafka.producer#delivery",
                    "Record landed in a partition the Java partitioner would not choose",
                    topic=self.topic,
                    partition=msg.partition(),
                )
