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
import traceback
from collections.abc import Mapping
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
    if isinstance(error, str):
        return error
    rendered: dict[str, Any] = {"name": type(error).__name__, "message": str(error)}
    if error.__traceback__ is not None:
        rendered["stack"] = "".join(traceback.format_exception(error)).rstrip()
    return rendered


def configure(
    level: str = "info",
    stream: IO[str] | None = None,
    *,
    fields: Mapping[str, Any] | None = None,
) -> None:
    """Send every ``bazooka`` log record to ``stream`` (stdout by default) as JSON lines.

    Replaces the handler a previous call installed (a warm Lambda process calls it once per
    invocation), so each record is written once, with this call's ``fields``.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter(fields))
    root = logging.getLogger("bazooka")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS.get(level, logging.INFO))
    root.propagate = False
