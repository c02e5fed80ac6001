"""The documentation says what the code does: every step, flag and status is in it."""

from __future__ import annotations

import pytest

from bazooka.report import StepStatus
from bazooka.steps import STEPS
from tests.helpers import ROOT

README = (ROOT / "README.md").read_text()
OPERATORS = (ROOT / "docs" / "operators.md").read_text()


@pytest.mark.parametrize("step", [s.name for s in STEPS])
def test_the_readme_names_every_step_and_its_flag(step: str) -> None:
    assert f"`{step}`" in README
    assert f"`--{step.replace('_', '-')}`" in README


def test_the_readme_lists_the_steps_in_the_order_they_run() -> None:
    order = README.index("Steps always run in this order")
    positions = [README.index(f"`{s.name}`", order) for s in STEPS]
    assert positions == sorted(positions)


@pytest.mark.parametrize("status", [s.value for s in StepStatus])
def test_every_step_status_is_explained(status: str) -> None:
    assert f"`{status}`" in README and f"`{status}`" in OPERATORS
