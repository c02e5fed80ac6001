"""Which broker of a cluster leads the most partitions of the managed topics: the one the
Kafka tests, the fault campaign and the leader-kill drill stop."""

from __future__ import annotations

from collections import Counter

from confluent_kafka.admin import AdminClient

from bazooka.kafka.topics import MANAGED_TOPICS


def busiest_leader(brokers: str) -> int:
    """The broker id leading the most partitions of the managed topics (the one to kill)."""
    admin = AdminClient({"bootstrap.servers": brokers, "broker.address.family": "v4"})
    metadata = admin.list_topics(timeout=10)
    leaders = Counter(
        partition.leader
        for name, topic in metadata.topics.items()
        if name in MANAGED_TOPICS
        for partition in topic.partitions.values()
        if partition.leader >= 0
    )
    return leaders.most_common(1)[0][0]
