"""How many processes share the Vulcan send (workers.worker_count)."""

from __future__ import annotations

import os

import pytest

from bazooka.settings import Settings
from bazooka.vulcan.workers import MIN_ORDERS_PER_WORKER, worker_count


@pytest.fixture
def six_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(6)))
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)


@pytest.mark.usefixtures("six_cpus")
@pytest.mark.parametrize(
    ("orders", "expected"),
    [
        (0, 1),
        (100_000, 1),  # one process sends 100k faster than two (bench/README.md)
        (MIN_ORDERS_PER_WORKER * 2 - 1, 1),
        (MIN_ORDERS_PER_WORKER * 2, 2),
        (1_000_000, 6),
        (10_000_000, 6),  # no more than the CPUs
    ],
)
def test_one_process_per_cpu_and_per_share_of_orders(orders: int, expected: int) -> None:
    assert worker_count(Settings.from_env({}), orders) == expected


@pytest.mark.usefixtures("six_cpus")
def test_lambda_memory_size_and_the_setting_decide_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3538")  # two vCPUs' worth
    assert worker_count(Settings.from_env({}), 10_000_000) == 2
    assert worker_count(Settings.from_env({"BAZOOKA_VULCAN_WORKERS": "3"}), 10) == 3
