"""bench/bench_live_migrate.py's figures: percentiles, the longest stall, the attribution of
reader lock waits to the migration's statements, and the sizes a scale asks for."""

from __future__ import annotations

import pytest
from bench.bench_live_migrate import (
    SAMPLE_INTERVAL_S,
    Query,
    Sample,
    Sizes,
    blocked_by,
    latency_figures,
    lock_waits_of_queries,
    longest_gap,
    percentile,
    template_name,
)


def test_scale_1_has_at_least_the_issues_sizes() -> None:
    s = Sizes.at(1.0)
    assert s.orders >= 2_000_000 and s.fills >= 5_000_000 and s.oracle_prices >= 2_000_000
    assert s.markets > 1 and s.subaccounts >= 10_000
    assert s.events * 2 >= s.fills  # every fill has its event (a maker and a taker per event)


def test_a_small_scale_stays_small_and_a_bad_one_is_refused() -> None:
    s = Sizes.at(0.001)
    assert s.orders == 2_000 and s.fills == 5_000 and s.oracle_prices >= 2_000
    with pytest.raises(ValueError, match="--scale"):
        Sizes.at(0)


def test_template_names_are_one_per_scale() -> None:
    assert template_name(1.0) == "bz_bench_live_template_1"
    assert template_name(0.05) == "bz_bench_live_template_0_05"


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 99) == 3.0


def test_longest_gap_counts_the_window_edges() -> None:
    assert longest_gap([], 10.0, 12.0) == 2.0
    assert longest_gap([10.5, 11.0, 14.0], 10.0, 15.0) == 3.0  # 11.0 -> 14.0
    assert longest_gap([1.0, 10.2, 20.0], 10.0, 11.0) == pytest.approx(0.8)  # outside ignored


def test_latency_figures_count_what_exceeds_the_bound() -> None:
    queries = [Query("orders", float(i), 0.01) for i in range(98)]
    queries += [Query("orders", 100.0, 4.0), Query("fills", 101.0, 0.5, error="boom")]
    f = latency_figures(queries, bound_s=3.0)
    assert f is not None
    assert (f.queries, f.errors, f.over_bound) == (100, 1, 1)
    assert f.p50_ms == 10.0 and f.max_ms == 4000.0
    assert f.max_by_kind_ms == {"fills": 500.0, "orders": 4000.0}
    assert latency_figures([], 3.0) is None


def test_reader_lock_waits_are_charged_to_the_migrations_statement() -> None:
    alter = "alter table orders add column x text"
    samples = [
        Sample(1.0, alter, migration_waiting=True, waiting_readers=frozenset({1, 2, 3})),
        Sample(1.1, alter, migration_waiting=True, waiting_readers=frozenset({1, 2, 3, 4})),
        Sample(1.2, "create index i on t (c)", migration_waiting=False),
        Sample(1.3, None, migration_waiting=False, waiting_readers=frozenset({1, 2})),
        Sample(9.0, alter, migration_waiting=True, waiting_readers=frozenset({1, 2, 3})),
    ]  # the fourth: Bazooka not connected; the last: outside the window
    rows = blocked_by(samples, (0.5, 2.0))
    assert rows == [
        {
            "statement": alter,
            "seen_s": round(2 * SAMPLE_INTERVAL_S, 1),
            "waiting_for_lock_s": round(2 * SAMPLE_INTERVAL_S, 1),
            "reader_lock_wait_s": round(7 * SAMPLE_INTERVAL_S, 1),
        }
    ]


def test_a_queries_lock_wait_is_split_by_what_the_migration_was_doing() -> None:
    # Reader 7 waits 0.1-0.4 behind a waiting ALTER, then 0.5-0.6 behind it working.
    samples = [
        Sample(round(0.1 * i, 1), "alter", migration_waiting=i < 5, waiting_readers=frozenset({7}))
        for i in range(1, 7)
    ]
    readers = [(7, [Query("orders", 0.05, 0.6)]), (8, [Query("fills", 0.05, 0.6)])]
    assert lock_waits_of_queries(readers, samples, (0.0, 1.0)) == (
        round(4 * SAMPLE_INTERVAL_S, 1),
        round(2 * SAMPLE_INTERVAL_S, 1),
    )
    assert lock_waits_of_queries(readers, samples, (2.0, 3.0)) == (0, 0)  # outside the window
