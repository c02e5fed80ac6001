"""The AWS Lambda entry point: ``bazooka.lambda_handler.handler``.

Accepts a direct ``BazookaEvent`` or an API Gateway proxy event whose ``body`` is that JSON.
Success returns ``{"statusCode": 200, "body": "<json>"}`` with ``"message": "success"`` and the
per-step report and the invocation's ``request_id``; invalid input, a refusal or a failed step
raises, so the invocation is marked failed (the runtime reports the exception's class as
``errorType`` and its message, which names the failed step, as ``errorMessage``). Logs are JSON
lines on stdout, each with the invocation's ``aws_request_id``, ``function_name`` and
``cold_start``, as AWS Lambda Powertools' logger writes them.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from typing import Any, Protocol

from bazooka.budget import TimeBudget
from bazooka.errors import BazookaError, OutOfTime
from bazooka.event import parse_event
from bazooka.logs import configure, emit
from bazooka.report import Report
from bazooka.runner import run
from bazooka.settings import Settings

log = logging.getLogger("bazooka.lambda")
MAX_LOGGED_EVENT_CHARS = 4_096
# Invocations handled by this process: the first one is the cold start.
_invocations = itertools.count()


class LambdaContext(Protocol):
    """The Lambda context as the Python runtime passes it: what the handler reads (AWS Lambda
    Powertools' ``LambdaContext`` shape)."""

    @property
    def function_name(self) -> str:
        """The function's name."""

    @property
    def memory_limit_in_mb(self) -> int | str:
        """The function's memory (the runtime gives an int, the emulator's may be text)."""

    @property
    def invoked_function_arn(self) -> str:
        """The ARN the function was invoked with."""

    @property
    def aws_request_id(self) -> str:
        """This invocation's request id."""

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function times out."""


def handler(event: Any, context: LambdaContext | None) -> dict[str, Any]:
    """Run the invocation's event; raise on invalid input, refusal or failure."""
    fields = _invocation_fields(context)
    request_id = fields.get("aws_request_id")
    configure("info", fields=fields)
    emit(log, logging.INFO, "handler#run", f"Event: {_loggable(event)}")
    settings: Settings | None = None
    try:
        settings = Settings.from_env()
        configure(settings.log_level, fields=fields)
        bazooka_event = parse_event(event)
        report = run(bazooka_event, settings, budget=_budget(context, settings))
    except BazookaError as exc:
        emit(log, logging.ERROR, "handler#run", str(exc), error=exc)
        _notify(exc, settings)
        raise
    outcome = "success" if report.ok else "failed"
    reported = {**report.to_dict(), "request_id": request_id}
    emit(
        log,
        logging.INFO if report.ok else logging.ERROR,
        "handler#run",
        f"Bazooka {outcome}",
        report=reported,
    )
    if report.failure is not None:
        _notify(report.failure, settings)
        raise naming_the_step(report.failure, report)
    return {
        "statusCode": 200,
        "body": json.dumps({"message": "success", "report": reported}, default=str),
    }


def _invocation_fields(context: LambdaContext | None) -> dict[str, Any]:
    """What every log line of this invocation carries (the names Powertools' logger uses,
    with the request id under the context's own name, ``aws_request_id``); nothing of the
    context outside Lambda (None)."""
    fields: dict[str, Any] = {"cold_start": next(_invocations) == 0}
    if context is not None:
        fields |= {
            "function_name": context.function_name,
            "function_memory_size": context.memory_limit_in_mb,
            "function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
        }
    return fields


def naming_the_step(failure: BazookaError, report: Report) -> BazookaError:
    """The failure, its message prefixed with the failed step; its class (hence the Lambda
    ``errorType``), its ``details`` and its other attributes are kept. A stop for lack of time
    already says which steps ran."""
    step = report.failed_step
    if step is None or isinstance(failure, OutOfTime):
        return failure
    try:
        named = type(failure)(f"Step {step.name} failed: {failure}")
    except TypeError:  # an error class that takes other arguments: leave it as it is
        return failure
    named.__dict__.update(failure.__dict__)  # details, and whatever the class carries
    named.__cause__ = failure
    return named


def _budget(context: LambdaContext | None, settings: Settings) -> TimeBudget | None:
    """The invocation's deadline, from the Lambda context (None outside Lambda)."""
    if context is None:
        return None
    return TimeBudget(context.get_remaining_time_in_millis, settings.lambda_time_reserve_ms)


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
    """Report to Bugsnag when ``BUGSNAG_KEY`` is set (needs the optional ``bugsnag`` package).

    Without valid settings (a configuration error) the raw variables are used, so a broken
    deployment is reported too.
    """
    if settings is not None:
        key = settings.bugsnag_key.get_secret_value() if settings.bugsnag_key else None
        stage = settings.bugsnag_release_stage
        endpoint = settings.bugsnag_notify_endpoint
    else:
        key = os.environ.get("BUGSNAG_KEY") or None
        stage = os.environ.get("BUGSNAG_RELEASE_STAGE") or None
        endpoint = os.environ.get("BUGSNAG_NOTIFY_ENDPOINT") or None
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
    try:
        options: dict[str, Any] = {"endpoint": endpoint} if endpoint else {}
        client = bugsnag.Client(
            api_key=key,
            release_stage=stage or "development",
            app_type="bazooka",
            asynchronous=False,
            auto_capture_sessions=False,
            install_sys_hook=False,
            **options,
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
