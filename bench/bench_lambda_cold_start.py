"""Lambda cold start from the deployment zip, with and without the bytecode it now carries.

    eval "$(python3 scripts/services.py env)"
    .venv/bin/python bench/bench_lambda_cold_start.py [--runs 7]

Builds the zip with scripts/build_lambda_zip.py for this interpreter's version (so it holds
bytecode), unpacks it twice and strips every .pyc from the second copy: that copy is what a zip
built without bytecode gives. Each timed run is a new interpreter started with -S (no
site-packages: everything comes from the unpacked zip, as on Lambda) and
PYTHONDONTWRITEBYTECODE=1 (Lambda's task directory is read-only), which imports the handler
and handles one event against the local services: a cold start plus its first invocation.
The two copies are run alternately. The events run on a scratch database migrated beforehand,
so `migrate` has nothing to do and the figures are about start-up, not DDL.
"""

from __future__ import annotations

import argparse
import json
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

import psycopg

ROOT = Path(__file__).resolve().parent.parent
INVOKE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from bazooka.lambda_handler import handler

class Context:
    def get_remaining_time_in_millis(self):
        return 600_000

response = handler(json.loads(sys.argv[2]), Context())
assert response["statusCode"] == 200, response
"""
EVENTS = {
    "migrate": {"migrate": True},
    "migrate + create_kafka_topics + clear_redis": {
        "migrate": True,
        "create_kafka_topics": True,
        "clear_redis": True,
    },
}


def admin_dsn(env: dict[str, str]) -> str:
    return (
        f"host={env.get('DB_HOSTNAME', 'localhost')} port={env.get('DB_PORT', '5435')} "
        f"dbname=postgres user={env.get('DB_USERNAME', 'dydx_dev')} "
        f"password={env.get('DB_PASSWORD', 'dydxserver123')}"
    )


def cold_start(root: Path, event: dict[str, bool], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-S", "-c", INVOKE, str(root), json.dumps(event)],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base = dict(os.environ)
    name = f"bz_bench_cold_{uuid.uuid4().hex[:8]}"
    env = {
        **base,
        "DB_NAME": name,
        "LOG_LEVEL": "error",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE": "false",
    }
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory(prefix="bazooka-cold-") as tmp:
        work = Path(tmp)
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        build = [sys.executable, str(ROOT / "scripts" / "build_lambda_zip.py")]
        subprocess.run(
            [*build, "--python-version", version, "--output", str(work / "bazooka.zip")],
            check=True,
            capture_output=True,
        )
        with_pyc, without_pyc = work / "with-bytecode", work / "without-bytecode"
        with zipfile.ZipFile(work / "bazooka.zip") as archive:
            archive.extractall(with_pyc)
        shutil.copytree(with_pyc, without_pyc)
        for cache in list(without_pyc.rglob("__pycache__")):
            shutil.rmtree(cache)
        with psycopg.connect(admin_dsn(base), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        try:
            cold_start(with_pyc, {"migrate": True}, env)  # migrates the scratch database
            print(f"Lambda cold start + first invocation, {args.runs} runs each, CPython {version}")
            for label, event in EVENTS.items():
                samples: dict[str, list[float]] = {"with bytecode": [], "without bytecode": []}
                cold_start(without_pyc, event, env)  # warm-up, discarded
                for _ in range(args.runs):
                    samples["without bytecode"].append(cold_start(without_pyc, event, env))
                    samples["with bytecode"].append(cold_start(with_pyc, event, env))
                medians = {k: statistics.median(v) for k, v in samples.items()}
                for kind, values in samples.items():
                    print(
                        f"  {label:44s} {kind:17s} min {min(values):.3f}  "
                        f"median {medians[kind]:.3f}  max {max(values):.3f} s"
                    )
                saved = medians["without bytecode"] - medians["with bytecode"]
                print(f"  {label:44s} saved by the bytecode: {saved:.3f} s (median)")
        finally:
            with psycopg.connect(admin_dsn(base), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


if __name__ == "__main__":
    main()
