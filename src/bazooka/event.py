"""The invocation event, validated strictly at the edge (the force guard: :mod:`bazooka.schedule`).

Every field is a JSON boolean defaulting to false. Unlike the original (which compares
``=== true`` in its guard but executes on truthiness, so ``"true"`` strings slip past the
guard), a non-boolean value or an unknown field is rejected before anything is touched.
Each field but ``force`` names a step of :data:`bazooka.steps.STEPS` (a test keeps them equal).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bazooka.errors import InvalidEvent


@dataclass(frozen=True)
class BazookaEvent:
    """What one invocation asks Bazooka to do."""

    migrate: bool = False
    rollback: bool = False
    clear_db: bool = False
    reset_db: bool = False
    create_kafka_topics: bool = False
    clear_kafka_topics: bool = False
    clear_redis: bool = False
    send_stateful_orders_to_vulcan: bool = False
    verify_schema: bool = False  # ours: the drift check of `bazooka verify`, read-only
    force: bool = False

    def __post_init__(self) -> None:
        problems = [_not_boolean(f, getattr(self, f)) for f in EVENT_FIELDS]
        if any(problems):
            raise InvalidEvent("Invalid event: " + "; ".join(p for p in problems if p))

    def as_dict(self) -> dict[str, bool]:
        """Every field with its value (for reports and logs)."""
        return dataclasses.asdict(self)


EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(BazookaEvent))


def parse_event(payload: Any) -> BazookaEvent:
    """Validate a decoded JSON value (a direct Lambda event or an API Gateway proxy event).

    An object with a ``body`` key is treated as an API Gateway proxy event whose body is the
    event's JSON text (base64-decoded first when ``isBase64Encoded`` is true).
    """
    if isinstance(payload, Mapping) and "body" in payload:
        payload = _decode_proxy_body(payload)
    if not isinstance(payload, Mapping):
        raise InvalidEvent(f"Invalid event: expected a JSON object, got {_json_kind(payload)}")
    problems = [
        f"unknown field {key!r} (allowed: {', '.join(EVENT_FIELDS)})"
        for key in payload
        if key not in EVENT_FIELDS
    ]
    problems += [
        p for p in (_not_boolean(k, v) for k, v in payload.items() if k in EVENT_FIELDS) if p
    ]
    if problems:
        raise InvalidEvent("Invalid event: " + "; ".join(problems))
    return BazookaEvent(**dict(payload))


def parse_event_json(text: str | bytes) -> BazookaEvent:
    """Parse and validate event JSON text (``--event FILE``, API Gateway bodies)."""
    try:
        payload = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"Invalid event: not valid JSON ({exc})") from None
    return parse_event(payload)


def _not_boolean(field: str, value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    return (
        f"field {field!r} must be a JSON boolean (true or false), "
        f"got {_json_kind(value)} {json.dumps(value, default=str)}"
    )


def _decode_proxy_body(proxy: Mapping[str, Any]) -> Any:
    body = proxy["body"]
    if body is None:
        return {}
    if not isinstance(body, str):
        raise InvalidEvent(
            f"Invalid event: API Gateway 'body' must be a JSON string, got {_json_kind(body)}"
        )
    if proxy.get("isBase64Encoded") is True:
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidEvent(f"Invalid event: API Gateway body is not base64 ({exc})") from None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidEvent(f"Invalid event: API Gateway body is not valid JSON ({exc})") from None


# JSON's names for the Python types json.loads produces (bool before int: a bool is an int).
_JSON_KINDS: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("null", type(None)),
    ("boolean", bool),
    ("number", (int, float)),
    ("string", str),
    ("array", (list, tuple)),
    ("object", Mapping),
)


def _json_kind(value: Any) -> str:
    """What JSON calls the kind of ``value`` (for messages)."""
    return next(
        (kind for kind, types in _JSON_KINDS if isinstance(value, types)), type(value).__name__
    )
