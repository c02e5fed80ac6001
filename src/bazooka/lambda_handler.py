"""The AWS Lambda entry point: ``bazooka.lambda_handler.handler``.

Accepts a direct ``BazookaEvent`` or an API Gateway proxy event whose ``body`` is that JSON.
Success returns ``{"statusCode": 200, "body": "<json>"}`` with ``"message": "success"`` and the
per-step report; invalid input, a refusal or a failed step raises, so the invocation is marked
failed. Logs are JSON lines on stdout.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from bazooka.budget import DEFAULT_RESERVE_MS, TimeBudget
from bazooka.errors import BazookaError
from bazooka.event import parse_event
from bazooka.logs import configure, emit
from bazooka.runner import run
from bazooka.settings import Settings

log = logging.getLogger("bazooka.lambda")
MAX_LOGGED_EVENT_CHARS = 4_096


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Run the invocation's event; raise on invalid input, refusal or failure."""
    configure(os.environ.get("LOG_LEVEL") or "info")
    emit(log, logging.INFO, "handler#run", f"Event: {_loggable(event)}")
    try:
        settings = Settings.from_env()
        bazooka_event = parse_event(event)
        report = run(bazooka_event, settings, budget=_budget(context))
    except BazookaError as exc:
        emit(log, logging.ERROR, "handler#run", str(exc), error=exc)
        _notify(exc)
        raise
    if report.failure is not None:
        _notify(report.failure, settings)
        raise report.failure
    return {
        "statusCode": 200,
        "body": json.dumps({"message": "success", "report": report.to_dict()}, default=str),
    }


def _budget(context: Any) -> TimeBudget | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    reserve = os.environ.get("BAZOOKA_LAMBDA_RESERVE_MS")
    return TimeBudget(
        remaining, int(reserve) if reserve and reserve.isdigit() else DEFAULT_RESERVE_MS
    )


def _loggable(event: Any) -> str:
    """The event as JSON; for a proxy event only its body (headers may carry credentials)."""
    if isinstance(event, dict) and "body" in event:
        event = {"body": event.get("body"), "isBase64Encoded": event.get("isBase64Encoded")}
    try:
        text = json.dumps(event, default=str)
    except (TypeError, ValueError):
        text = repr(event)
    return text[:MAX_LOGGED_EVENT_CHARS]


def _notify(exc: BaseException, settings: Settings | None = None) -> None:
    """Report to Bugsnag when BUGSNAG_KEY is set (and the optional package is installed)."""
    key = (
        settings.bugsnag_key.get_secret_value()
        if settings and settings.bugsnag_key
        else (os.environ.get("BUGSNAG_KEY") or None)
    )
    if not key:
        return
    try:
        import bugsnag  # noqa: PLC0415
    except ImportError:
        emit(
            log,
            logging.WARNING,
            "handler#notify",
            "BUGSNAG_KEY is set but the bugsnag package is not installed; error not reported",
        )
        return
    stage = (
        (settings.bugsnag_release_stage if settings else None)
        or os.environ.get("BUGSNAG_RELEASE_STAGE")
        or "development"
    )
    try:
        client = bugsnag.Client(
            api_key=key, release_stage=stage, asynchronous=False, app_type="bazooka"
        )
        client.notify(exc)
    except Exception as report_error:  # noqa: BLE001 - reporting must not mask the failure
        emit(
            log,
            logging.WARNING,
            "handler#notify",
            "Could not report the error to Bugsnag",
            error=report_error,
        )
