"""Log lines are JSON objects with at, message, error and context fields."""

from __future__ import annotations

import io
import json
import logging

from bazooka.logs import configure, emit


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
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["at"] == "index#handler" and first["message"] == "Event: {}"
    assert first["topic"] == "to-ender" and first["attempt"] == 2 and first["level"] == "info"
    assert second["error"]["name"] == "ValueError" and second["error"]["message"] == "boom"
    assert "Traceback" in second["error"]["stack"]


def test_plain_logging_calls_are_json_too() -> None:
    stream = io.StringIO()
    configure("debug", stream=stream)
    logging.getLogger("bazooka.other").warning("plain %s", "message")
    line = json.loads(stream.getvalue())
    assert line["message"] == "plain message" and line["level"] == "warning" and "at" in line


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
