"""Fixtures of the Lambda zip under AWS's runtime interface emulator (shared by the zip's and
the container image's tests)."""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.lambda_support import FUNCTION, PASSED_ON
from tools.scripts import load_script

rie = load_script("lambda_rie")


@pytest.fixture(scope="module")
def emulator_binary() -> Path:
    """The emulator, built from its pinned Go module into the state directory (cached)."""
    try:
        return Path(rie.build(quiet=True))
    except rie.EmulatorError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def task_dir(lambda_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip unpacked as Lambda unpacks it into /var/task."""
    task = tmp_path_factory.mktemp("lambda") / "task"
    with zipfile.ZipFile(lambda_zip) as archive:
        archive.extractall(task)
    return task


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime directory (Lambda's /var/runtime): awslambdaric from this environment."""
    return Path(rie.prepare_runtime(tmp_path_factory.mktemp("runtime"), sys.executable))


StartEmulator = Callable[..., Any]


@pytest.fixture
def start_emulator(
    emulator_binary: Path, task_dir: Path, bootstrap: Path, tmp_path: Path
) -> Iterator[StartEmulator]:
    """Start a fresh emulator (a new runtime process) for ``env``; all stopped afterwards."""
    started: list[Any] = []

    def start(env: dict[str, str], *, timeout_s: int = 120, **extra: str) -> Any:
        function_env = {k: v for k, v in env.items() if k.startswith(PASSED_ON)}
        function_env["PATH"] = env.get("PATH", "/usr/bin:/bin")
        function_env.update(extra)
        emulator = rie.Emulator(
            task_dir,
            bootstrap,
            function_env,
            tmp_path / f"emulator-{len(started)}.log",
            timeout_s=timeout_s,
            function_name=FUNCTION,
            binary=emulator_binary,
        )
        started.append(emulator)
        return emulator.start()

    yield start
    for emulator in started:
        emulator.stop()
