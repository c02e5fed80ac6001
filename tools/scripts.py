"""``scripts/<name>.py`` loaded as a module, for the tests and benchmarks that drive them."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a module, loaded once (the scripts run as files and are not
    part of the installed package; ``scripts/lambda_image.py`` shares this module cache)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
