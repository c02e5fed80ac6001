"""The lock-wait policy's pure parts: settings, the SET statement, the backoff, the texts."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazooka.errors import ConfigError
from bazooka.postgres.lock_wait import (
    FIRST_BACKOFF_MS,
    MAX_BACKOFF_MS,
    WAIT_FOREVER,
    Blocker,
    LockPolicy,
    blocks_no_one_while_waiting,
    describe_blockers,
)
from bazooka.settings import Settings


def test_the_settings_give_the_policy_and_its_defaults() -> None:
    assert LockPolicy.of(Settings.from_env({})) == LockPolicy(2_000, 180_000)
    policy = LockPolicy.of(
        Settings.from_env(
            {
                "BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS": "0",
                "BAZOOKA_MIGRATION_LOCK_RETRY_BUDGET_MS": "5000",
            }
        )
    )
    assert policy == LockPolicy(0, 5_000)
    assert not policy.bounded and LockPolicy().bounded and not WAIT_FOREVER.bounded


@pytest.mark.parametrize(
    "variable", ["BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS", "BAZOOKA_MIGRATION_LOCK_RETRY_BUDGET_MS"]
)
@pytest.mark.parametrize("value", ["-1", "2s", "1.5"])
def test_a_bad_value_is_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_the_statement_sets_the_timeout_in_milliseconds() -> None:
    assert LockPolicy(1_500).set_timeout(local=True) == b"SET LOCAL lock_timeout = '1500ms'"
    assert WAIT_FOREVER.set_timeout(local=False) == b"SET lock_timeout = '0ms'"


@given(st.integers(min_value=1, max_value=1_000), st.integers(min_value=0, max_value=2**32))
def test_the_backoff_grows_is_capped_and_jittered_within_half(failed: int, seed: int) -> None:
    full = min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (failed - 1))
    wait = LockPolicy().backoff_ms(failed, random.Random(seed))  # noqa: S311
    assert full // 2 <= wait <= full


def test_the_backoff_is_not_the_same_for_two_runs() -> None:
    waits = {LockPolicy().backoff_ms(3, random.Random(seed)) for seed in range(20)}  # noqa: S311
    assert len(waits) > 5


def test_a_blocker_is_named_with_what_it_holds_and_its_query_shortened() -> None:
    blocker = Blocker(
        4242,
        "comlink",
        "idle in transaction",
        timedelta(seconds=12.34),
        "SELECT *\n  FROM orders WHERE " + "x = 1 AND " * 30,
        "orders (AccessExclusiveLock)",
    )
    text = describe_blockers((blocker,))
    assert text.startswith("orders (AccessExclusiveLock) held by pid 4242 (application_name ")
    assert "'comlink', idle in transaction for 12.3 s, query: 'SELECT * FROM orders WHERE" in text
    assert text.endswith("...')")
    assert describe_blockers(()) == "no blocking session was seen (it may have ended just then)"


@pytest.mark.parametrize(
    ("statement", "concurrent"),
    [
        ("create index concurrently if not exists x on fills (a);", True),
        ("-- a comment\nCREATE UNIQUE INDEX CONCURRENTLY x ON t (a)", True),
        ('drop index concurrently if exists "x";', True),
        ("REINDEX INDEX CONCURRENTLY x", True),
        ('create index x on "oracle_prices" ("marketId")', False),
        ("alter table orders add column c int -- concurrently", False),
        ("select 'create index concurrently'", False),
    ],
)
def test_a_concurrent_index_statement_is_told_apart(statement: str, concurrent: bool) -> None:
    assert blocks_no_one_while_waiting(statement) is concurrent
