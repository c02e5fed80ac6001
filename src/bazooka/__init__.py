"""Bazooka: deploy or reset a dYdX v4 Indexer environment in one invocation.

Python API (what the CLI and the Lambda handler use)::

    from bazooka import BazookaEvent, Settings, run
    report = run(BazookaEvent(migrate=True), Settings.from_env())
    assert report.ok, report.failure
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"  # the one place it is written (pyproject.toml reads it)
__all__ = ["BazookaEvent", "Report", "Settings", "__version__", "parse_event", "run"]

if TYPE_CHECKING:
    from bazooka.event import BazookaEvent, parse_event
    from bazooka.report import Report
    from bazooka.runner import run
    from bazooka.settings import Settings

# A library logs, and never decides where the lines go: without this, Python's last-resort
# handler would print warnings to stderr for an application that configured nothing.
logging.getLogger(__name__).addHandler(logging.NullHandler())

_EXPORTS = {
    "BazookaEvent": "bazooka.event",
    "parse_event": "bazooka.event",
    "Report": "bazooka.report",
    "run": "bazooka.runner",
    "Settings": "bazooka.settings",
}


def __getattr__(name: str) -> Any:
    """Import the public names lazily, so ``bazooka --help`` stays fast."""
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'bazooka' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    return getattr(importlib.import_module(module_name), name)
