"""Topic planning (desired vs actual) and the Java default partitioner."""

from __future__ import annotations

import pytest

from bazooka.kafka.clear import ClearResult, TopicCleared
from bazooka.kafka.partitioner import java_partition, murmur2
from bazooka.kafka.topics import MANAGED_TOPICS, TopicChange, plan_topics


def test_managed_topics_and_partitions_are_the_originals() -> None:
    assert MANAGED_TOPICS == {
        "to-ender": 1,
        "to-vulcan": 210,
        "to-websockets-orderbooks": 1,
        "to-websockets-subaccounts": 3,
        "to-websockets-trades": 1,
        "to-websockets-markets": 1,
        "to-websockets-candles": 1,
        "to-websockets-block-height": 1,
    }
    assert sum(MANAGED_TOPICS.values()) == 219


def test_empty_cluster_creates_everything() -> None:
    # The original creates nothing on a cluster without topics; we create all eight.
    plan = plan_topics({})
    assert plan.create == MANAGED_TOPICS and plan.changes_anything


def test_partial_cluster_creates_exactly_the_missing_topics() -> None:
    plan = plan_topics({"to-ender": 1, "to-vulcan": 210, "unrelated": 7})
    assert set(plan.create) == set(MANAGED_TOPICS) - {"to-ender", "to-vulcan"}
    assert plan.unchanged == ["to-ender", "to-vulcan"]


def test_grow_below_target_and_report_above_target() -> None:
    existing = dict(MANAGED_TOPICS, **{"to-vulcan": 100, "to-websockets-subaccounts": 6})
    plan = plan_topics(existing)
    assert plan.create == {}
    assert plan.grow == [TopicChange("to-vulcan", 100, 210)]
    assert plan.above_target == [TopicChange("to-websockets-subaccounts", 6, 3)]
    assert plan.changes_anything


def test_nothing_to_do_when_at_target() -> None:
    plan = plan_topics(dict(MANAGED_TOPICS))
    assert not plan.changes_anything and len(plan.unchanged) == 8


# Vectors from Apache Kafka's UtilsTest.testMurmur2 (signed 32-bit results).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "signed"), JAVA_MURMUR2.items())
def test_murmur2_matches_kafka_java(data: bytes, signed: int) -> None:
    assert murmur2(data) == signed & 0xFFFFFFFF


def test_java_partition_is_positive_modulo() -> None:
    # toPositive(-973932308) % 210
    assert java_partition(b"21", 210) == (-973932308 & 0x7FFFFFFF) % 210
    assert all(0 <= java_partition(bytes([i]) * 32, 210) < 210 for i in range(256))
    with pytest.raises(ValueError):
        java_partition(b"x", 0)


def test_clear_headline_counts_records_exactly() -> None:
    known = ClearResult(
        {"to-ender": TopicCleared(1, 5, 1), "to-vulcan": TopicCleared(210, 7, 2)}, ()
    )
    assert known.headline() == "deleted 12 record(s) from 2 topic(s)"
    assert known.to_dict()["total_records_removed"] == 12
    assert "partitions_unknown" not in known.to_dict()


def test_clear_with_unknown_partitions_gives_the_known_total_and_names_them() -> None:
    result = ClearResult(
        {"to-ender": TopicCleared(1, 2_000, 1)},
        (),
        {"to-vulcan": "failed after 3 attempt(s)", "to-websockets-trades": "failed"},
        partial={
            "to-vulcan": TopicCleared(208, 12_000, 3, unknown=(3, 7)),
            "to-websockets-trades": TopicCleared(0, 0, 3, not_cleared=(0,)),
        },
    )
    assert result.headline() == (
        "removed at least 14000 record(s); 2 partition(s) unknown: to-vulcan[3], to-vulcan[7]"
    )
    details = result.to_dict()
    assert details["total_records_removed"] == (
        "unknown: at least 14000 record(s); 2 partition(s) unknown: to-vulcan[3], to-vulcan[7]"
    )
    assert details["records_removed"] == {
        "to-ender": 2_000,
        "to-vulcan": "unknown: at least 12000 record(s); partition(s) 3, 7 unknown",
        "to-websockets-trades": 0,
    }
    assert details["partitions_unknown"] == {"to-vulcan": [3, 7]}
    assert details["partitions_not_cleared"] == {"to-websockets-trades": [0]}
    assert details["partitions_cleared"] == 209


def test_clear_removals_are_exact_when_no_partition_is_unknown() -> None:
    result = ClearResult(
        {}, (), {"to-ender": "failed"}, partial={"to-ender": TopicCleared(0, 0, 3, (), (0,))}
    )
    assert result.removals() == "removed 0 record(s)"
    assert result.to_dict()["total_records_removed"] == 0
