"""Create all managed topics on an empty cluster, then clear them after 100,000 records.

    eval "$(python3 scripts/services.py env --cluster)"
    .venv/bin/python bench/bench_kafka.py [--runs 3] [--records 100000] [--brokers URLS]

Defaults to the three-broker cluster (KAFKA_CLUSTER_BROKER_URLS) with replication factor 3.
Each phase is timed as a whole `bazooka run` process (start, connect, work, exit); producing
the records happens between the phases, outside the timing. The report of each run is
checked: the clear must account for every record produced.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from bazooka.kafka.topics import MANAGED_TOPICS


def delete_topics(brokers: str) -> None:
    admin = AdminClient({"bootstrap.servers": brokers})
    existing = [t for t in MANAGED_TOPICS if t in admin.list_topics(timeout=10).topics]
    for future in admin.delete_topics(existing, operation_timeout=60).values() if existing else []:
        future.result()
    while set(MANAGED_TOPICS) & set(admin.list_topics(timeout=10).topics):
        time.sleep(0.2)


def produce(brokers: str, records: int) -> None:
    partitions = [(t, p) for t, n in MANAGED_TOPICS.items() for p in range(n)]
    producer = Producer({"bootstrap.servers": brokers, "acks": "all", "linger.ms": 20})
    for i in range(records):
        topic, partition = partitions[i % len(partitions)]
        while True:
            try:
                producer.produce(topic, value=b"x" * 100, partition=partition)
                break
            except BufferError:
                producer.poll(0.1)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120) != 0:
        raise SystemExit("records were not all acknowledged")


def run_phase(env: dict[str, str], *flags: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "bazooka"), "run", "--json", *flags],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"bazooka {' '.join(flags)} failed:\n{result.stdout}\n{result.stderr}")
    report = json.loads(result.stdout)
    return elapsed, report["steps"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--brokers", default=os.environ.get("KAFKA_CLUSTER_BROKER_URLS"))
    parser.add_argument("--replication-factor", default="3")
    args = parser.parse_args()
    if not args.brokers:
        raise SystemExit("no brokers: start the cluster or pass --brokers")
    env = {
        **os.environ,
        "KAFKA_BROKER_URLS": args.brokers,
        "KAFKA_REPLICATION_FACTOR": args.replication_factor,
        "LOG_LEVEL": "error",
    }
    creates, clears = [], []
    print(
        f"brokers {args.brokers}, replication factor {args.replication_factor}, "
        f"{sum(MANAGED_TOPICS.values())} partitions, {args.records:,} records",
        flush=True,
    )
    for run in range(1, args.runs + 1):
        delete_topics(args.brokers)
        create_s, create = run_phase(env, "--create-kafka-topics")
        produce(args.brokers, args.records)
        clear_s, clear = run_phase(env, "--clear-kafka-topics", "--force")
        removed = clear["details"]["total_records_removed"]  # type: ignore[index]
        if removed != args.records:
            raise SystemExit(f"clear removed {removed} records, {args.records} were produced")
        creates.append(create_s)
        clears.append(clear_s)
        print(
            f"run {run}: create {create_s:.3f} s (step {create['duration_s']} s), "
            f"clear {clear_s:.3f} s (step {clear['duration_s']} s, {removed:,} records)",
            flush=True,
        )
    print(
        f"create: median {statistics.median(creates):.3f} s (min {min(creates):.3f}, "
        f"max {max(creates):.3f})   target: well under 10 s"
    )
    print(
        f"clear:  median {statistics.median(clears):.3f} s (min {min(clears):.3f}, "
        f"max {max(clears):.3f})   target: well under 10 s"
    )


if __name__ == "__main__":
    main()
