"""The leader-kill drill of issue 24: clear the topics right after the busiest leader died.

    python3 scripts/services.py start --cluster
    eval "$(python3 scripts/services.py env --cluster)"
    .venv/bin/python bench/drill_clear_leader_kill.py [--runs 3] [--records 2000]

Each run, on the three-broker cluster (replication factor 3): every broker up and every
partition's replicas in sync; the managed topics created if missing and emptied; ``--records``
records produced into each of the 8 topics (``acks=all``); the broker leading the most of their
partitions SIGKILLed; then ``bazooka run --clear-kafka-topics --force --json`` timed as a whole
process. Beside it, a thread polls the metadata until every partition has a leader again: the
election wait. Checked: the run succeeded, the report's total is exactly what was produced
(``--records`` x 8) and each topic's figure its own, and every partition is empty. The killed
broker is started again before the next run. Uses this checkout's own services only (through
``scripts/services.py``). Exit status 0 when every run passed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from bazooka.kafka.topics import MANAGED_TOPICS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.faults import (  # noqa: E402
    cluster_brokers,
    produce_per_topic,
    records_per_topic,
    services,
    wait_for_leaders,
    wait_in_sync,
)

from tools.kafka_leaders import busiest_leader  # noqa: E402

BAZOOKA = [sys.executable, "-m", "bazooka"]
RUN_TIMEOUT_S = 300.0


def _admin(brokers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": brokers, "broker.address.family": "v4"})


def _partitions(brokers: str) -> list[Any]:
    metadata = _admin(brokers).list_topics(timeout=10)
    return [
        p
        for name, t in metadata.topics.items()
        if name in MANAGED_TOPICS
        for p in t.partitions.values()
    ]


def bazooka(env: dict[str, str], *flags: str) -> tuple[int, dict[str, Any] | None, str]:
    done = subprocess.run(
        [*BAZOOKA, "run", "--json", *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    try:
        report = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        report = None
    return done.returncode, report, done.stderr


class ElectionWatch(threading.Thread):
    """Polls the metadata until every managed partition has a live leader again."""

    def __init__(self, brokers: str, dead: int) -> None:
        super().__init__(daemon=True)
        self.brokers, self.dead = brokers, dead
        self.started_at = time.monotonic()
        self.elected_s: float | None = None

    def run(self) -> None:
        while time.monotonic() - self.started_at < RUN_TIMEOUT_S:
            try:
                parts = _partitions(self.brokers)
            except Exception:  # noqa: BLE001 - the metadata may be unreadable for a moment
                parts = []
            if parts and all(p.leader >= 0 and p.leader != self.dead for p in parts):
                self.elected_s = time.monotonic() - self.started_at
                return
            time.sleep(0.1)


def drill(
    env: dict[str, str], brokers: str, records: int, logs: Path | None = None
) -> dict[str, Any]:
    services("start", "--only", "cluster")  # a broker killed by the previous run comes back
    code, _, err = bazooka(env, "--create-kafka-topics")
    if code != 0:
        raise SystemExit(f"could not create the topics: {err[-500:]}")
    wait_in_sync(brokers)
    code, _, err = bazooka(env, "--clear-kafka-topics", "--force")
    if code != 0:
        raise SystemExit(f"could not empty the topics first: {err[-500:]}")
    produce_per_topic(brokers, records)
    truth = records_per_topic(brokers)
    if truth != dict.fromkeys(MANAGED_TOPICS, records):
        raise SystemExit(f"the topics do not hold what was produced: {truth}")
    victim = busiest_leader(brokers)
    services("kill-broker", str(victim))
    watch = ElectionWatch(brokers, victim)
    watch.start()
    started = time.perf_counter()
    code, report, err = bazooka(env, "--clear-kafka-topics", "--force")
    clear_s = time.perf_counter() - started
    if logs is not None:
        logs.write_text(err)
    watch.join()
    step: dict[str, Any] = next(iter((report or {}).get("steps", [])), {})  # the only step
    details: dict[str, Any] = step.get("details") or {}
    wait_for_leaders(brokers)
    left = records_per_topic(brokers)
    expected = records * len(MANAGED_TOPICS)
    problems = []
    if code != 0:
        problems.append(f"exit {code}: {(report or {}).get('error') or err[-300:]}")
    if details.get("total_records_removed") != expected:
        problems.append(f"reported {details.get('total_records_removed')!r}, produced {expected}")
    wrong = {
        t: f for t, f in (details.get("records_removed") or {}).items() if f != (truth or {}).get(t)
    }
    if wrong:
        problems.append(f"topics reported wrong: {wrong}")
    if left is None or any(left.values()):
        problems.append(f"records left: {left}")
    return {
        "killed_broker": victim,
        "clear_s": round(clear_s, 2),
        "election_s": None if watch.elected_s is None else round(watch.elected_s, 2),
        "exit": code,
        "total_records_removed": details.get("total_records_removed"),
        "attempts": details.get("attempts"),
        "step_s": step.get("duration_s"),
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=2_000, help="records per topic")
    parser.add_argument("--logs", type=Path, help="keep each clear's log lines in DIR/run-N.log")
    args = parser.parse_args(argv)
    brokers = cluster_brokers()
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_ENV", "LOG_LEVEL")}
    env["KAFKA_BROKER_URLS"] = brokers
    env.pop("KAFKA_REPLICATION_FACTOR", None)  # the default, 3
    results = []
    try:
        for i in range(args.runs):
            logs = args.logs / f"run-{i + 1}.log" if args.logs else None
            if logs is not None:
                logs.parent.mkdir(parents=True, exist_ok=True)
            result = drill(env, brokers, args.records, logs)
            results.append(result)
            print(f"run {i + 1}: {json.dumps(result)}", flush=True)
    finally:
        services("start", "--only", "cluster")
    clears = [r["clear_s"] for r in results]
    elections = [r["election_s"] for r in results if r["election_s"] is not None]
    print(
        f"clear wall time: median {statistics.median(clears):.2f} s "
        f"(min {min(clears):.2f}, max {max(clears):.2f}); "
        f"election after the kill: median "
        f"{statistics.median(elections) if elections else float('nan'):.2f} s; "
        f"reported totals: {[r['total_records_removed'] for r in results]}; "
        f"runs with problems: {sum(1 for r in results if r['problems'])}"
    )
    return 1 if any(r["problems"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
