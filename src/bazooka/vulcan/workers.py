"""The send spread over processes: the step's process and workers, one share of orders each.

Translating and encoding a million orders is CPU work that one Python process does one core at
a time; Lambda gives up to 6 vCPUs. The step's process opens a REPEATABLE READ transaction,
exports its snapshot, starts ``workers - 1`` processes (``spawn``: librdkafka's threads must
not be forked) that import that snapshot, and sends share 0 itself. Every process reads the
same snapshot, each its own orders (:func:`.orders.orders_query`), with its own producer. The
step succeeds only when every process has reported, and every message has exactly one
delivery report saying it was acknowledged.

Processes talk through pipes only (Lambda has no ``/dev/shm`` for queues): a worker sends
``("batch", n)`` after each batch, then ``("done", tally)`` or
``("failed", kind, message, tally)``.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

import psycopg
from psycopg import sql

from bazooka.budget import TimeBudget, UnlimitedTime
from bazooka.errors import BazookaError, OutOfTime, VulcanSendError
from bazooka.kafka.producer import AckedProducer
from bazooka.kafka.topics import TO_VULCAN
from bazooka.postgres.connection import Connection, connect, one_line
from bazooka.progress import TaskProgress
from bazooka.settings import Settings
from bazooka.vulcan.share import Tally, delivered, send_share

# Below this many orders per process, starting one costs more than it saves. Measured with the
# C encoder, two cores, PostgreSQL and the broker on the same machine (direct runs on databases
# kept by bench/bench_vulcan.py, BAZOOKA_VULCAN_WORKERS=1 and 2 alternated): one process and two
# take the same time at 300,000 orders (3.3-3.75 s); at 125,000 one is faster (1.5-1.7 s
# against 2.1-2.2), at 1,000,000 two are (10.2 s against 11.9-13.4).
MIN_ORDERS_PER_WORKER = 150_000
# Lambda grants one vCPU per this much memory (up to 6 vCPUs at 10,240 MB).
LAMBDA_MB_PER_VCPU = 1_769
DRAIN_TIMEOUT_S = 10.0  # after a failure, for what was queued to reach the broker
FLUSH_GRACE_S = 5.0  # on top of the delivery timeout, for the last acknowledgements to arrive
JOIN_TIMEOUT_S = 30.0  # for a worker to exit once it has reported


@dataclass(frozen=True)
class Job:
    """What a worker needs: where to read, which share, where to send, until when."""

    settings: Settings
    snapshot: str
    slot: int
    workers: int
    partitions: int
    batch_size: int
    delivery_timeout_ms: int
    deadline: float | None  # time.monotonic() (system-wide) after which nothing starts
    reserve_ms: int


def worker_count(settings: Settings, orders: int) -> int:
    """``BAZOOKA_VULCAN_WORKERS``, or as many processes as the CPUs (Lambda: its memory
    size) and the number of orders make worthwhile."""
    if settings.vulcan_workers:
        return settings.vulcan_workers
    cpus = len(os.sched_getaffinity(0))
    memory_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory_mb.isdigit():
        cpus = min(cpus, max(1, math.ceil(int(memory_mb) / LAMBDA_MB_PER_VCPU)))
    return max(1, min(cpus, orders // MIN_ORDERS_PER_WORKER))


def send_in_processes(
    conn: Connection,
    settings: Settings,
    job_template: Job,
    progress: TaskProgress,
    budget: TimeBudget,
) -> tuple[Tally, list[str]]:
    """Send every share (share 0 here, the others in workers); the summed tally and what went
    wrong in which process. Raises :class:`OutOfTime` when the budget stopped a share."""
    out_of_time: OutOfTime | None = None
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        job = dataclasses.replace(
            job_template,
            snapshot=str(row[0]) if row else "",
            deadline=_deadline(budget) if job_template.workers > 1 else None,
        )
        workers = _Workers(job, progress)
        producer = AckedProducer(
            settings, TO_VULCAN, job.partitions, delivery_timeout_ms=job.delivery_timeout_ms
        )
        own = Tally()
        try:
            send_share(
                conn,
                producer,
                own,
                slot=0,
                workers=job.workers,
                batch_size=job.batch_size,
                budget=budget,
                needed_ms=job.delivery_timeout_ms,
                on_batch=workers.own_batch,
            )
        except OutOfTime as exc:
            out_of_time = exc
        except BaseException:
            delivered(producer, own, DRAIN_TIMEOUT_S)
            workers.stop()
            raise
        timeout_s = DRAIN_TIMEOUT_S if out_of_time else job.delivery_timeout_ms / 1000
        workers.total.add(delivered(producer, own, timeout_s + FLUSH_GRACE_S))
        while workers.running:
            workers.read(wait_s=None)
    if out_of_time is not None:
        raise out_of_time
    return workers.total, workers.problems


def _deadline(budget: TimeBudget) -> float | None:
    """The budget as a point in time every process can read (CLOCK_MONOTONIC is system-wide)."""
    if isinstance(budget, UnlimitedTime):
        return None
    return time.monotonic() + budget.remaining_ms() / 1000


class _Workers:
    """The worker processes of one send: started at once, read until each has reported and
    exited. A worker that exits without a final report (killed, out of memory) is a problem:
    what it produced is unconfirmed."""

    def __init__(self, job: Job, progress: TaskProgress) -> None:
        context = multiprocessing.get_context("spawn")
        self.progress = progress
        self.total = Tally()
        self.problems: list[str] = []
        self._running: dict[Pipe, BaseProcess] = {}
        self._reported: set[Pipe] = set()
        for slot in range(1, job.workers):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=worker_main,
                args=(sender, dataclasses.replace(job, slot=slot)),
                name=f"vulcan-share-{slot}",
                daemon=True,
            )
            process.start()
            sender.close()  # the child holds its end: EOF here once it exits
            self._running[receiver] = process

    def own_batch(self, orders: int) -> None:
        """The step's own share sent a batch: show it, and what the workers said meanwhile."""
        self.progress.advance(orders)
        self.read(wait_s=0)

    @property
    def running(self) -> bool:
        """Whether a worker has yet to exit."""
        return bool(self._running)

    def read(self, wait_s: float | None) -> None:
        """Handle what the workers said (waiting at most ``wait_s``; None: until one speaks)."""
        ready = wait(list(self._running), timeout=wait_s) if self._running else []
        for pipe in [p for p in self._running if p in ready]:
            try:
                self._handle(pipe, pipe.recv())
            except EOFError:
                self._ended(pipe)

    def stop(self) -> None:
        """Terminate every worker (the send failed here)."""
        for process in self._running.values():
            process.terminate()
        for process in self._running.values():
            process.join(JOIN_TIMEOUT_S)
        self._running.clear()

    def _handle(self, pipe: Pipe, message: object) -> None:
        match message:
            case ("batch", int(n)):
                self.progress.advance(n)
            case ("done", Tally() as tally):
                self.total.add(tally)
                self._reported.add(pipe)
            case ("failed", str(kind), str(reason), Tally() as tally):
                self.total.add(tally)
                self.problems.append(f"{kind}: {reason}")
                self._reported.add(pipe)
            case _:
                raise VulcanSendError(f"unexpected message from a worker: {message!r}")

    def _ended(self, pipe: Pipe) -> None:
        process = self._running.pop(pipe)
        process.join(JOIN_TIMEOUT_S)
        if pipe not in self._reported:
            self.problems.append(
                f"worker {process.name} ended without a report (exit code "
                f"{process.exitcode}): what it sent is unconfirmed"
            )


def worker_main(channel: Pipe, job: Job) -> None:
    """A worker process: its share of the orders, in the step's snapshot."""
    tally = Tally()
    try:
        _send_share(channel, job, tally)
    except OutOfTime as exc:
        channel.send(("failed", "out of time", str(exc), tally))
    except psycopg.Error as exc:
        channel.send(("failed", "reading open orders", one_line(exc), tally))
    except BazookaError as exc:
        channel.send(("failed", type(exc).__name__, str(exc), tally))
    except Exception as exc:  # noqa: BLE001 - reported to the step, which fails
        channel.send(("failed", "unexpected", f"{type(exc).__name__}: {exc}", tally))
    else:
        channel.send(("done", tally))
    finally:
        channel.close()


def _send_share(channel: Pipe, job: Job, tally: Tally) -> None:
    deadline = job.deadline
    budget = (
        TimeBudget(lambda: int((deadline - time.monotonic()) * 1000), job.reserve_ms)
        if deadline is not None
        else UnlimitedTime()
    )
    with connect(job.settings) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(job.snapshot)))
        producer = AckedProducer(
            job.settings, TO_VULCAN, job.partitions, delivery_timeout_ms=job.delivery_timeout_ms
        )
        try:
            send_share(
                conn,
                producer,
                tally,
                slot=job.slot,
                workers=job.workers,
                batch_size=job.batch_size,
                budget=budget,
                needed_ms=job.delivery_timeout_ms,
                on_batch=lambda n: channel.send(("batch", n)),
            )
        except BaseException:
            delivered(producer, tally, DRAIN_TIMEOUT_S)
            raise
        delivered(producer, tally, job.delivery_timeout_ms / 1000 + FLUSH_GRACE_S)
