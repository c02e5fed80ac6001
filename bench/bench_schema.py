"""Whole-process timings of the baseline migrate and of `bazooka verify`, beside `psql -f`.

    eval "$(python3 scripts/services.py env)"
    .venv/bin/python bench/bench_schema.py [--runs 9]

In the same run, interleaved round by round so that the machine's changing speed hits every
command alike:

* `psql -f tests/snapshots/schema.sql` into an empty schema (the final schema, the yardstick);
* `bazooka run --migrate` from empty, which loads the baseline in one transaction;
* the same with `--replay` (113 migrations step by step), for reference;
* `bazooka verify` and `bazooka verify --json` on the migrated database.

Each timed command is a whole process (interpreter start, imports, connection, work, exit);
resetting the schema happens outside the timing. Targets: baseline migrate <= 1.5 x psql
(medians), verify <= 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

import psycopg

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
from bench.bench_migrations import BAZOOKA, admin_dsn, bazooka, psql_schema, reset

CPU: dict[str, list[float]] = {}


def timed(cmd: list[str], env: dict[str, str], label: str = "") -> float:
    """Wall time of the whole process; its CPU time (user + system) is kept under ``label``.

    CPU time hardly moves with the machine's load, wall time does: both are printed.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    out, err = proc.communicate()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1) or (code == 1 and "verify" not in cmd):
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{out.decode()}\n{err.decode()}")
    if label:
        CPU.setdefault(label, []).append(usage.ru_utime + usage.ru_stime)
    return elapsed


def verify_cmd(*flags: str) -> list[str]:
    return [*BAZOOKA, "verify", *flags]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    base = dict(os.environ)
    name = f"bz_bench_schema_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn(base, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    env = {
        **base,
        "DB_NAME": name,
        "PGPASSWORD": base.get("DB_PASSWORD", "dydxserver123"),
        "LOG_LEVEL": "error",
    }
    samples: dict[str, list[float]] = {
        "psql": [],
        "baseline": [],
        "replay": [],
        "verify": [],
        "verify_json": [],
    }
    try:
        print(f"whole-process timings, {args.runs} rounds (database {name})", flush=True)
        for round_ in range(args.runs + 1):  # round 0 warms up and is discarded
            reset(env)
            psql = timed(psql_schema(env), env, "psql")
            reset(env)
            migrate = timed(bazooka(env, "--migrate"), env, "baseline")
            report = subprocess.run(
                [*BAZOOKA, "status", "--json"], env=env, capture_output=True, check=False
            )
            schema = json.loads(report.stdout)["postgres"]["schema"]
            if not schema["ok"]:
                raise SystemExit(f"baseline migrate did not verify clean: {schema['headline']}")
            verify = timed(verify_cmd(), env, "verify")
            verify_json = timed(verify_cmd("--json"), env, "verify_json")
            reset(env)
            replay = timed(bazooka(env, "--migrate", "--replay"), env, "replay")
            if round_ == 0:
                CPU.clear()
                continue
            for key, value in (
                ("psql", psql),
                ("baseline", migrate),
                ("replay", replay),
                ("verify", verify),
                ("verify_json", verify_json),
            ):
                samples[key].append(value)
            print(
                f"round {round_}: psql {psql:.3f}  baseline {migrate:.3f}  replay {replay:.3f}  "
                f"verify {verify:.3f}  verify --json {verify_json:.3f}",
                flush=True,
            )
    finally:
        with psycopg.connect(admin_dsn(base, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
    median = {key: statistics.median(values) for key, values in samples.items()}
    print()
    for key, values in samples.items():
        print(
            f"{key:<12} min {min(values):.3f}  median {median[key]:.3f}  max {max(values):.3f} s"
            f"   (process CPU median {statistics.median(CPU[key]):.3f} s)"
        )
    ratio = median["baseline"] / median["psql"]
    replay_ratio = median["replay"] / median["psql"]
    ratios = [b / p for b, p in zip(samples["baseline"], samples["psql"], strict=True)]
    print(
        f"\nbaseline migrate / psql (medians): {ratio:.2f}x   target <= 1.5x   "
        f"(per round: median {statistics.median(ratios):.2f}x, worst {max(ratios):.2f}x)"
    )
    print(f"replay migrate / psql (medians): {replay_ratio:.2f}x   (for reference)")
    print(
        f"verify median {median['verify']:.3f} s, --json {median['verify_json']:.3f} s   "
        "target <= 0.5 s"
    )
    met = ratio <= 1.5 and max(median["verify"], median["verify_json"]) <= 0.5
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
