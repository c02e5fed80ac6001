"""Structured logging: JSON lines with ``at``, ``message``, ``error`` and context fields.

Library modules log through ``logging.getLogger(__name__)`` with :func:`emit`; only the entry
points (CLI, Lambda handler) call :func:`configure`. The Lambda handler passes the invocation's
fields (request id, function name, cold start), which then appear on every line, as AWS Lambda
Powertools' logger adds them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

# The original logs with winston's syslog levels; map them onto the standard library's.
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "crit": logging.CRITICAL,
}
ROOT_LOGGER = "bazooka"
_HANDLER_NAME = "bazooka-json"
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


def emit(
    logger: logging.Logger,
    level: int,
    at: str,
    message: str,
    *,
    error: BaseException | str | None = None,
    **context: Any,
) -> None:
    """Log one structured line: ``at`` names the place, ``context`` adds fields."""
    if not logger.isEnabledFor(level):
        return
    logger.log(level, message, extra={"at": at, "error_value": error, "context": context})


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object: level, time, at, message, ``fields``, error, context.

    ``fields`` are added to every line (the Lambda invocation's request id, function name and
    cold start); a record's own context fields never replace them.
    """

    def __init__(self, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.fields = dict(fields or {})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname.lower(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "at": getattr(record, "at", f"{record.name}#{record.funcName}"),
            "message": record.getMessage(),
            **self.fields,
        }
        error = getattr(record, "error_value", None)
        if error is None and record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
        if error is not None:
            line["error"] = _render_error(error)
        context = getattr(record, "context", None)
        if isinstance(context, dict):
            for key, value in context.items():
                line.setdefault(key, value)
        else:
            for key, value in record.__dict__.items():
                if key not in _RESERVED and key not in ("at", "error_value"):
                    line.setdefault(key, value)
        return json.dumps(line, default=str, separators=(",", ":"))


def _render_error(error: BaseException | str) -> dict[str, Any] | str:
    """Name and message; the stack only for an unexpected error, or at ``debug``.

    An expected error (one Bazooka raised on purpose, such as a wrong password or an
    unreachable broker) says all there is to say in its message: its stack would only bury it.
    """
    if isinstance(error, str):
        return error
    rendered: dict[str, Any] = {"name": type(error).__name__, "message": str(error)}
    if _wants_stack(error):
        import traceback  # noqa: PLC0415 - 7 ms of start-up, needed only for a stack

        rendered["stack"] = "".join(traceback.format_exception(error)).rstrip()
    return rendered


def _wants_stack(error: BaseException) -> bool:
    from bazooka.errors import BazookaError, UnexpectedError  # noqa: PLC0415 - no import cycle

    if error.__traceback__ is None and error.__cause__ is None:
        return False
    expected = isinstance(error, BazookaError) and not isinstance(error, UnexpectedError)
    return not expected or logging.getLogger(ROOT_LOGGER).isEnabledFor(logging.DEBUG)


def configure(
    level: str = "info",
    stream: IO[str] | None = None,
    *,
    fields: Mapping[str, Any] | None = None,
) -> None:
    """Send every ``bazooka`` log record to ``stream`` (stdout by default) as JSON lines.

    Replaces the handler an earlier call installed (a warm Lambda process calls it once per
    invocation), so each record is written once, with this call's ``fields``.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter(fields))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger(ROOT_LOGGER)
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS.get(level, logging.INFO))
    root.propagate = False


@contextmanager
def writing_to(stream: IO[str]) -> Iterator[None]:
    """For a while, write the configured log lines to ``stream`` (e.g. a live display's)."""
    handlers = [
        h
        for h in logging.getLogger(ROOT_LOGGER).handlers
        if h.get_name() == _HANDLER_NAME and isinstance(h, logging.StreamHandler)
    ]
    previous = [_swap_stream(h, stream) for h in handlers]
    try:
        yield
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            _swap_stream(handler, old)


def _swap_stream(handler: logging.StreamHandler[IO[str]], stream: IO[str]) -> IO[str]:
    """Point ``handler`` at ``stream``; the stream it had. Unlike ``setStream``, the old stream
    is not flushed: it may be closed already (a test's captured output)."""
    handler.acquire()
    try:
        old, handler.stream = handler.stream, stream
    finally:
        handler.release()
    return old
