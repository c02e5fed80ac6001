"""One process's share of the send: stream its orders, convert, encode, produce, count.

The send runs one share in the step's own process, and, for large sends, more shares in worker
processes (:mod:`.workers`). Every message of an order is sent by the share that owns the
order, place then update, so per-order (per-key) order holds whatever the number of shares.
A share reports a :class:`Tally`: what it read, rejected, produced, and what the broker
confirmed, one delivery report per message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bazooka.budget import TimeBudget
from bazooka.kafka.producer import AckedProducer
from bazooka.postgres.connection import Connection
from bazooka.vulcan.orders import stream_open_stateful
from bazooka.vulcan.translate import InvalidOrder, convert
from bazooka.vulcan.wire import encode_row, encode_values

KEPT_INVALID = 10_000  # bad order ids kept per share; beyond, only counted (bounded memory)


@dataclass
class Tally:
    """What one share did (picklable: workers send it back to the step)."""

    orders: int = 0
    updates: int = 0
    rejected: int = 0
    invalid: dict[str, str] = field(default_factory=dict)
    produced: int = 0
    delivered: int = 0
    failed: int = 0
    wrong_partition: int = 0
    errors: list[str] = field(default_factory=list)  # the first delivery errors

    def reject(self, order_id: str, why: InvalidOrder) -> None:
        """Count a row that cannot be converted; keep its id and reason up to a bound."""
        self.rejected += 1
        if len(self.invalid) < KEPT_INVALID:
            self.invalid[order_id] = str(why)

    def add(self, other: Tally) -> None:
        """Fold another share's tally into this one."""
        self.orders += other.orders
        self.updates += other.updates
        self.rejected += other.rejected
        room = KEPT_INVALID - len(self.invalid)
        self.invalid.update(list(other.invalid.items())[: max(room, 0)])
        self.produced += other.produced
        self.delivered += other.delivered
        self.failed += other.failed
        self.wrong_partition += other.wrong_partition
        self.errors += other.errors[: max(0, 5 - len(self.errors))]

    @property
    def outstanding(self) -> int:
        """Produced but neither confirmed nor failed."""
        return self.produced - self.delivered - self.failed


def send_share(
    conn: Connection,
    producer: AckedProducer,
    tally: Tally,
    *,
    slot: int,
    workers: int,
    batch_size: int,
    budget: TimeBudget,
    needed_ms: int,
    on_batch: Callable[[int], None],
) -> None:
    """Queue every message of the share's orders; the caller's transaction gives the snapshot.

    ``on_batch`` hears how many orders each batch held (progress). The time budget is checked
    before each batch, with ``needed_ms`` to wait for the last acknowledgements.
    """
    send, fast = producer.send, encode_row
    for batch in stream_open_stateful(conn, batch_size, slot, workers):
        budget.check("sending the next batch of orders", needed_ms=needed_ms)
        for row in batch:
            messages = fast(row)  # the C fast path; None: convert decides
            if messages is None:
                try:
                    messages = convert(row, encode_values)
                except InvalidOrder as exc:
                    tally.reject(row[0], exc)  # the id (a plain tuple: no attribute names)
                    continue
            key, place, update = messages
            send(key, place)
            if update is not None:
                send(key, update)
                tally.updates += 1
        tally.orders += len(batch)
        producer.poll()
        on_batch(len(batch))


def delivered(producer: AckedProducer, tally: Tally, timeout_s: float) -> Tally:
    """Wait for the broker's reports, then copy them into ``tally``."""
    stats = producer.flush(timeout_s)
    tally.produced, tally.delivered, tally.failed = stats.produced, stats.delivered, stats.failed
    tally.wrong_partition, tally.errors = stats.wrong_partition, list(stats.errors)
    return tally
