"""The Lambda handler's naming of a failed step (pure: no service is contacted)."""

from __future__ import annotations

from bazooka.errors import KafkaOperationError, OutOfTime
from bazooka.lambda_handler import LambdaContext, naming_the_step
from bazooka.outcome import Skipped
from bazooka.report import Report, StepOutcome, StepStatus
from tests.helpers import LambdaContextStub


def _failed_report(step: str) -> Report:
    outcome = StepOutcome(step, destructive=True, status=StepStatus.FAILED)
    return Report(event={}, steps=[outcome], dry_run=False)


def test_naming_the_failed_step_keeps_the_class_the_details_and_the_cause() -> None:
    details = Skipped("what the step had done before it failed")
    failure = KafkaOperationError("Clearing to-vulcan failed: timed out", details=details)
    named = naming_the_step(failure, _failed_report("clear_kafka_topics"))
    assert type(named) is KafkaOperationError
    assert str(named) == "Step clear_kafka_topics failed: Clearing to-vulcan failed: timed out"
    assert named.details is details
    assert named.__cause__ is failure


def test_a_stop_for_lack_of_time_is_not_renamed() -> None:
    stop = OutOfTime("Stopped cleanly: only 2000 ms of Lambda time left")
    assert naming_the_step(stop, _failed_report("migrate")) is stop


def test_the_test_context_is_a_lambda_context() -> None:
    context: LambdaContext = LambdaContextStub(remaining_ms=1234)
    assert context.get_remaining_time_in_millis() == 1234
    assert context.invoked_function_arn.endswith(":function:bazooka-test")
