"""Log lines are JSON objects with at, message, error and context fields."""

from __future__ import annotations

import io
import json
import logging

from bazooka.errors import PostgresError, UnexpectedError
from bazooka.logs import configure, emit, writing_to


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_at_message_error_and_context() -> None:
    stream = io.StringIO()
    configure("info", stream=stream)
    log = logging.getLogger("bazooka.test")
    emit(log, logging.INFO, "index#handler", "Event: {}", topic="to-ender", attempt=2)
    try:
        raise ValueError("boom")
    except ValueError as exc:
        emit(log, logging.ERROR, "x#y", "failed", error=exc)
    emit(log, logging.DEBUG, "x#y", "hidden")
    first, second = lines(stream)
    assert first["at"] == "index#handler" and first["message"] == "Event: {}"
    assert first["topic"] == "to-ender" and first["attempt"] == 2 and first["level"] == "info"
    error = second["error"]
    assert isinstance(error, dict)
    assert error["name"] == "ValueError" and error["message"] == "boom"
    assert "Traceback" in error["stack"]


def test_plain_logging_calls_are_json_too() -> None:
    stream = io.StringIO()
    configure("debug", stream=stream)
    logging.getLogger("bazooka.other").warning("plain %s", "message")
    (line,) = lines(stream)
    assert line["message"] == "plain message" and line["level"] == "warning" and "at" in line


def _raised(error: Exception) -> Exception:
    try:
        raise error
    except Exception as exc:  # noqa: BLE001 - the raised object, with its traceback
        return exc


def test_an_expected_error_carries_its_type_and_message_without_a_stack() -> None:
    stream = io.StringIO()
    configure("info", stream=stream)
    log = logging.getLogger("bazooka.test")
    emit(log, logging.ERROR, "x#y", "failed", error=_raised(PostgresError("wrong password")))
    emit(log, logging.ERROR, "x#y", "failed", error=UnexpectedError.wrapping(_raised(KeyError())))
    expected, unexpected = (line["error"] for line in lines(stream))
    assert expected == {"name": "PostgresError", "message": "wrong password"}
    assert isinstance(unexpected, dict) and "KeyError" in unexpected["stack"]


def test_at_debug_an_expected_error_keeps_its_stack() -> None:
    stream = io.StringIO()
    configure("debug", stream=stream)
    emit(logging.getLogger("bazooka.t"), logging.ERROR, "x", "m", error=_raised(PostgresError("p")))
    (line,) = lines(stream)
    assert isinstance(line["error"], dict) and "Traceback" in line["error"]["stack"]


def test_configuring_twice_writes_each_line_once_and_writing_to_redirects_for_a_while() -> None:
    first, second, elsewhere = io.StringIO(), io.StringIO(), io.StringIO()
    configure("info", stream=first)
    configure("info", stream=second)
    log = logging.getLogger("bazooka.test")
    emit(log, logging.INFO, "x", "one")
    with writing_to(elsewhere):
        emit(log, logging.INFO, "x", "two")
    emit(log, logging.INFO, "x", "three")
    assert first.getvalue() == ""
    assert [line["message"] for line in lines(second)] == ["one", "three"]
    assert [line["message"] for line in lines(elsewhere)] == ["two"]


def test_fields_are_on_every_line_and_a_new_configure_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure("info", stream=first, fields={"aws_request_id": "r-1", "cold_start": True})
    log = logging.getLogger("bazooka.test")
    emit(log, logging.INFO, "a#b", "one", aws_request_id="not this", topic="t")
    configure("info", stream=second, fields={"aws_request_id": "r-2", "cold_start": False})
    emit(log, logging.INFO, "a#b", "two")
    (line,) = (json.loads(text) for text in first.getvalue().splitlines())
    assert line["aws_request_id"] == "r-1" and line["cold_start"] is True  # not overridden
    assert line["topic"] == "t"
    (line,) = (json.loads(text) for text in second.getvalue().splitlines())  # written once
    assert line["aws_request_id"] == "r-2" and line["cold_start"] is False
    configure("info", stream=(plain := io.StringIO()))  # the CLI: no Lambda fields
    emit(log, logging.INFO, "a#b", "three")
    assert set(json.loads(plain.getvalue())) == {"level", "time", "at", "message"}
