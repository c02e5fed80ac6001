"""The managed Kafka topics and the pure plan from their actual to their desired state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Topic -> target partition count, as the original's KAFKA_TOPICS_TO_PARTITIONS (same order).
MANAGED_TOPICS: dict[str, int] = {
    "to-ender": 1,
    "to-vulcan": 210,
    "to-websockets-orderbooks": 1,
    "to-websockets-subaccounts": 3,
    "to-websockets-trades": 1,
    "to-websockets-markets": 1,
    "to-websockets-candles": 1,
    "to-websockets-block-height": 1,
}
TO_VULCAN = "to-vulcan"


@dataclass(frozen=True)
class TopicChange:
    """A managed topic whose partition count differs from its target."""

    topic: str
    partitions: int
    target: int


@dataclass(frozen=True)
class TopicPlan:
    """What ``create_kafka_topics`` must do, computed from the cluster's current topics."""

    create: dict[str, int] = field(default_factory=dict)
    grow: list[TopicChange] = field(default_factory=list)
    above_target: list[TopicChange] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        """True when topics must be created or grown."""
        return bool(self.create or self.grow)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "topics_to_create": list(self.create),
            "partitions_to_create": sum(self.create.values()),
            "topics_to_grow": {c.topic: {"from": c.partitions, "to": c.target} for c in self.grow},
            "topics_above_target": {
                c.topic: {"partitions": c.partitions, "target": c.target} for c in self.above_target
            },
            "topics_unchanged": self.unchanged,
        }


def plan_topics(
    existing: Mapping[str, int], desired: Mapping[str, int] = MANAGED_TOPICS
) -> TopicPlan:
    """Compare ``existing`` (topic -> partition count) with ``desired``.

    Missing topics are created (also on a cluster with no topics at all, where the original
    created nothing); topics below target are grown; topics above target are reported, never
    shrunk (Kafka cannot remove partitions).
    """
    plan = TopicPlan()
    for topic, target in desired.items():
        current = existing.get(topic)
        if current is None:
            plan.create[topic] = target
        elif current < target:
            plan.grow.append(TopicChange(topic, current, target))
        elif current > target:
            plan.above_target.append(TopicChange(topic, current, target))
        else:
            plan.unchanged.append(topic)
    return plan
