"""Lambda cold start and warm invocation through the runtime interface emulator, from the zip,
with and without the bytecode it carries; with ``--image``, the container image against the zip.

    eval "$(python3 scripts/services.py env)"
    .venv/bin/python bench/bench_lambda_cold_start.py [--runs 7]
    .venv/bin/python bench/bench_lambda_cold_start.py --image [--runs 7]   # as root (podman)

Builds the zip with scripts/build_lambda_zip.py for this interpreter's version (so it holds
bytecode), unpacks it twice and strips every .pyc from the second copy: that copy is what a zip
built without bytecode gives. Each run starts a fresh emulator (AWS's runtime interface
emulator, built by scripts/lambda_rie.py; it needs Go the first time) on one copy, as a task
directory run by awslambdaric with ``python -S`` and ``PYTHONDONTWRITEBYTECODE=1`` (Lambda's
task directory is read-only), and times two HTTP invocations of the same event:

- cold: the first, which starts the runtime process, imports the handler and handles the
  event (what a caller waits for on a cold start);
- warm: the second, handled by the same process.

The two copies alternate. The events run on a scratch database migrated beforehand, so
`migrate` has nothing to do and the figures are about start-up, not DDL.

``--image`` builds the image from the Dockerfile over the stand-in base
(``scripts/lambda_image.py``) and alternates two starts, each timed from the moment it is
asked for to the first invocation's answer: the zip's (a fresh emulator on the task directory)
and the image's (``podman run`` of a read-only container as Lambda's user, whose entrypoint
starts the same emulator). Both run the same interpreter version with bytecode.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools.scripts import load_script  # noqa: E402  (scripts/lambda_rie.py, loaded once)

EVENTS: dict[str, dict[str, bool]] = {
    "migrate": {"migrate": True},
    "migrate + create_kafka_topics + clear_redis": {
        "migrate": True,
        "create_kafka_topics": True,
        "clear_redis": True,
    },
}
PASSED_ON = ("DB_", "REDIS_", "KAFKA_")


def admin_dsn(env: dict[str, str]) -> str:
    return (
        f"host={env.get('DB_HOSTNAME', 'localhost')} port={env.get('DB_PORT', '5435')} "
        f"dbname=postgres user={env.get('DB_USERNAME', 'dydx_dev')} "
        f"password={env.get('DB_PASSWORD', 'dydxserver123')}"
    )


def cold_and_warm(
    rie: ModuleType, task: Path, bootstrap: Path, env: dict[str, str], event: dict[str, bool]
) -> tuple[float, float]:
    """A fresh emulator on ``task``: the first invocation's and the second's wall time."""
    log = bootstrap.parent.parent / "emulator.log"
    with rie.Emulator(task, bootstrap, env, log, timeout_s=300) as emulator:
        times = []
        for _ in range(2):
            invocation = emulator.invoke(event)
            response: Any = invocation.json()
            if invocation.status != 200 or response.get("statusCode") != 200:
                raise SystemExit(f"invocation failed: {invocation.body[:2000]!r}")
            times.append(invocation.elapsed_s)
    return times[0], times[1]


def started_and_first(start: Any, event: dict[str, bool]) -> tuple[float, float]:
    """``start()`` gives a started emulator or container (a context manager): the time from
    asking for it to the first invocation's answer, and the second invocation's time."""
    began = time.monotonic()
    with start() as function:
        first = function.invoke(event)
        cold = time.monotonic() - began
        second = function.invoke(event)
    for invocation in (first, second):
        if invocation.status != 200 or invocation.json().get("statusCode") != 200:
            raise SystemExit(f"invocation failed: {invocation.body[:2000]!r}")
    return cold, second.elapsed_s


def image_against_zip(
    rie: ModuleType, task: Path, bootstrap: Path, env: dict[str, str], runs: int
) -> None:
    """The image's start + first invocation against the zip's, alternated."""
    image = load_script("lambda_image")
    tag = image.build_image()
    deployment = {k: v for k, v in env.items() if k != "PATH"}
    log = bootstrap.parent.parent / "emulator.log"
    starts: dict[str, Any] = {
        "zip": lambda: rie.Emulator(task, bootstrap, env, log, timeout_s=300),
        "image": lambda: image.LambdaContainer(deployment, image=tag, timeout_s=300),
    }
    event = {"migrate": True}
    for start in starts.values():  # one discarded warm-up each
        started_and_first(start, event)
    cold: dict[str, list[float]] = {kind: [] for kind in starts}
    warm: dict[str, list[float]] = {kind: [] for kind in starts}
    for _ in range(runs):
        for kind, start in starts.items():
            first, second = started_and_first(start, event)
            cold[kind].append(first)
            warm[kind].append(second)
    print(
        f"Image against zip, {runs} runs each (alternated), event {event}; "
        f"image {tag}, {image.image_size(tag) / 1e6:.0f} MB"
    )
    for what, samples in (("start + first invocation", cold), ("warm invocation", warm)):
        for kind, values in samples.items():
            print(
                f"  {what:26s} {kind:5s} min {min(values):.3f}  "
                f"median {statistics.median(values):.3f}  max {max(values):.3f} s"
            )
    ratios = sorted(i / z for i, z in zip(cold["image"], cold["zip"], strict=True))
    print(
        "  start + first invocation, image / zip pair by pair: "
        f"median {statistics.median(ratios):.2f} (min {ratios[0]:.2f}, max {ratios[-1]:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--image", action="store_true", help="the container image against the zip")
    args = parser.parse_args()
    rie = load_script("lambda_rie")
    rie.build()
    base = dict(os.environ)
    name = f"bz_bench_cold_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in base.items() if k.startswith(PASSED_ON)}
    env |= {
        "PATH": base.get("PATH", "/usr/bin:/bin"),
        "DB_NAME": name,
        "LOG_LEVEL": "error",
        "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE": "false",
    }
    with tempfile.TemporaryDirectory(prefix="bazooka-cold-") as tmp:
        work = Path(tmp)
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        build = [sys.executable, str(ROOT / "scripts" / "build_lambda_zip.py")]
        subprocess.run(
            [*build, "--python-version", version, "--output", str(work / "bazooka.zip")],
            check=True,
            capture_output=True,
        )
        copies = {"with bytecode": work / "with-bytecode", "without bytecode": work / "without"}
        with zipfile.ZipFile(work / "bazooka.zip") as archive:
            archive.extractall(copies["with bytecode"])
        shutil.copytree(copies["with bytecode"], copies["without bytecode"])
        for cache in list(copies["without bytecode"].rglob("__pycache__")):
            shutil.rmtree(cache)
        bootstrap = rie.prepare_runtime(work / "runtime", sys.executable)
        with psycopg.connect(admin_dsn(base), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        try:
            # Migrates the scratch database; then one discarded warm-up of each copy.
            cold_and_warm(rie, copies["with bytecode"], bootstrap, env, {"migrate": True})
            if args.image:
                image_against_zip(rie, copies["with bytecode"], bootstrap, env, args.runs)
                return
            print(
                f"Lambda through the runtime interface emulator, {args.runs} runs each, "
                f"CPython {version}; cold = start + first invocation, warm = the second"
            )
            for label, event in EVENTS.items():
                cold: dict[str, list[float]] = {kind: [] for kind in copies}
                warm: dict[str, list[float]] = {kind: [] for kind in copies}
                for task in copies.values():
                    cold_and_warm(rie, task, bootstrap, env, event)
                for _ in range(args.runs):
                    for kind, task in copies.items():
                        first, second = cold_and_warm(rie, task, bootstrap, env, event)
                        cold[kind].append(first)
                        warm[kind].append(second)
                for what, samples in (("cold", cold), ("warm", warm)):
                    for kind, values in samples.items():
                        print(
                            f"  {label:44s} {what} {kind:17s} min {min(values):.3f}  "
                            f"median {statistics.median(values):.3f}  max {max(values):.3f} s"
                        )
                saved = statistics.median(cold["without bytecode"]) - statistics.median(
                    cold["with bytecode"]
                )
                print(f"  {label:44s} cold start saved by the bytecode: {saved:.3f} s (median)")
        finally:
            with psycopg.connect(admin_dsn(base), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


if __name__ == "__main__":
    main()
