"""The external systems Bazooka's steps read or change, and ``status`` reports on."""

from __future__ import annotations

from enum import StrEnum


class System(StrEnum):
    """An external system a step reads or changes (and ``status`` reports on)."""

    POSTGRES = "postgres"
    KAFKA = "kafka"
    REDIS = "redis"
