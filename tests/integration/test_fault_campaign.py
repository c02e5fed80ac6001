"""The fault campaign's short form (bench/faults.py --short): one or two faults in each
scenario, on this checkout's own services, with 0 invariant violations and every rerun
recovering without a person. The full campaign (>= 200 faults) is run by hand:
bench/README.md."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT, service_env


@pytest.mark.cluster
def test_the_short_fault_campaign_recovers_from_every_fault() -> None:
    env = service_env()
    if not env.get("KAFKA_CLUSTER_BROKER_URLS"):
        pytest.fail("KAFKA_CLUSTER_BROKER_URLS not set: start the cluster (scripts/test.sh)")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "faults.py"), "--short", "--seed", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    table = done.stdout
    assert done.returncode == 0, table + done.stderr[-5000:]
    total = next(line for line in table.splitlines() if line.startswith("total"))
    faults, recovered, violations = (int(x) for x in total.split()[1:4])
    assert faults >= 10 and recovered == faults and violations == 0, table
