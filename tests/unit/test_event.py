"""The event is validated strictly at the edge; the force guard is exact."""

from __future__ import annotations

import base64
import json

import pytest

from bazooka.errors import ForceRequired, InvalidEvent
from bazooka.event import EVENT_FIELDS, BazookaEvent, parse_event, parse_event_json
from bazooka.schedule import FORCE_REQUIRED_MESSAGE, check_force
from bazooka.steps import DESTRUCTIVE as DESTRUCTIVE_FIELDS
from bazooka.steps import STEPS


def test_every_field_defaults_to_false() -> None:
    event = parse_event({})
    assert all(getattr(event, f) is False for f in EVENT_FIELDS)
    assert set(EVENT_FIELDS) == {
        "migrate",
        "rollback",
        "clear_db",
        "reset_db",
        "create_kafka_topics",
        "clear_kafka_topics",
        "clear_redis",
        "send_stateful_orders_to_vulcan",
        "verify_schema",  # ours
        "force",
    }


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"reset_db": "true"},
            "field 'reset_db' must be a JSON boolean (true or false), got string \"true\"",
        ),
        ({"reset_db": 1}, "field 'reset_db' must be a JSON boolean (true or false), got number 1"),
        (
            {"migrate": None},
            "field 'migrate' must be a JSON boolean (true or false), got null null",
        ),
        ({"migrate": True, "drop_everything": True}, "unknown field 'drop_everything'"),
        ([], "expected a JSON object, got array"),
        ("x", "expected a JSON object, got string"),
        (None, "expected a JSON object, got null"),
        (3, "expected a JSON object, got number"),
    ],
)
def test_invalid_events_name_the_problem(payload: object, expected: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_event(payload)
    assert expected in str(err.value)
    assert str(err.value).startswith("Invalid event: ")


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_event({"reset_db": "true", "force": "yes", "nuke": True})
    message = str(err.value)
    assert "'reset_db'" in message and "'force'" in message and "'nuke'" in message


def test_api_gateway_proxy_event_body_is_the_event() -> None:
    proxy = {
        "httpMethod": "POST",
        "headers": {"Authorization": "secret"},
        "body": json.dumps({"migrate": True}),
        "isBase64Encoded": False,
    }
    assert parse_event(proxy) == BazookaEvent(migrate=True)


def test_api_gateway_base64_body() -> None:
    body = base64.b64encode(b'{"clear_redis": true, "force": true}').decode()
    assert parse_event({"body": body, "isBase64Encoded": True}) == BazookaEvent(
        clear_redis=True, force=True
    )


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [
        ({"body": "{not json"}, "API Gateway body is not valid JSON"),
        ({"body": 42}, "API Gateway 'body' must be a JSON string, got number"),
        ({"body": "[1, 2]"}, "expected a JSON object, got array"),
        ({"body": '{"migrate": "true"}'}, "field 'migrate' must be a JSON boolean"),
        ({"body": "@@@", "isBase64Encoded": True}, "API Gateway body is not base64"),
    ],
)
def test_bad_api_gateway_bodies(proxy: dict[str, object], expected: str) -> None:
    with pytest.raises(InvalidEvent, match="Invalid event") as err:
        parse_event(proxy)
    assert expected in str(err.value)


def test_event_json_text() -> None:
    assert parse_event_json('{"migrate": true}') == BazookaEvent(migrate=True)
    with pytest.raises(InvalidEvent, match="not valid JSON"):
        parse_event_json("{")


@pytest.mark.parametrize("field", DESTRUCTIVE_FIELDS)
def test_force_guard_refuses_each_destructive_field(field: str) -> None:
    event = BazookaEvent(**{field: True})
    with pytest.raises(ForceRequired) as err:
        check_force(event, force_required=True)
    assert str(err.value) == 'Cannot run bazooka without force flag set to "true"'
    assert str(err.value) == FORCE_REQUIRED_MESSAGE


@pytest.mark.parametrize("field", DESTRUCTIVE_FIELDS)
def test_force_or_setting_lets_destructive_fields_through(field: str) -> None:
    check_force(BazookaEvent(**{field: True}, force=True), force_required=True)
    check_force(BazookaEvent(**{field: True}), force_required=False)


@pytest.mark.parametrize(
    "field", ["migrate", "create_kafka_topics", "send_stateful_orders_to_vulcan"]
)
def test_non_destructive_fields_need_no_force(field: str) -> None:
    check_force(BazookaEvent(**{field: True}), force_required=True)


def test_every_field_but_force_is_a_step_of_the_table() -> None:
    assert sorted(s.name for s in STEPS) == sorted(f for f in EVENT_FIELDS if f != "force")


def test_destructive_set_is_the_originals() -> None:
    assert set(DESTRUCTIVE_FIELDS) == {
        "rollback",
        "clear_db",
        "reset_db",
        "clear_kafka_topics",
        "clear_redis",
    }
