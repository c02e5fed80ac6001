"""Processes this script starts and stops: pid files checked against the process they name,
commands run (as the ``postgres`` user when root), packages installed with apt-get."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.services.state import ServiceError, is_root, say

IsOurs = Callable[[int, list[str]], bool]
"""Whether a process (pid, argv) is the service this script started from this checkout."""


def cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


def wait_for(what: str, check: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.25)
    tail = ""
    if log is not None and log.exists():
        tail = (
            "\n--- last lines of "
            + str(log)
            + " ---\n"
            + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        )
    raise ServiceError(f"{what} did not answer within {timeout:.0f}s{tail}")


def pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def same_path(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def own_pid(pid_file: Path, is_ours: IsOurs) -> int | None:
    """The pid in ``pid_file`` if that process is alive *and* is the service this state
    directory started (``is_ours(pid, argv)``). A pid file outliving its process, e.g. across
    a reboot, may name an unrelated process by now: that one is never adopted or stopped."""
    pid = pid_alive(pid_file)
    if pid is None:
        return None
    argv = cmdline(pid)
    return pid if argv is not None and is_ours(pid, argv) else None


def run(
    cmd: list[str], *, as_user: str | None = None, check: bool = True, **kw: Any
) -> subprocess.CompletedProcess[str]:
    if as_user and is_root():
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if check and result.returncode != 0:
        raise ServiceError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr}{result.stdout}"
        )
    return result


def apt_install(packages: list[str]) -> None:
    if not is_root():
        raise ServiceError(
            f"missing {', '.join(packages)}; install them (apt-get install {' '.join(packages)})"
        )
    say(f"installing {', '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = run(
        ["apt-get", "install", "-y", "--no-install-recommends", *packages], check=False, env=env
    )
    if result.returncode != 0:
        run(["apt-get", "update"], env=env)
        run(["apt-get", "install", "-y", "--no-install-recommends", *packages], env=env)


def ensure_dir(path: Path, owner: str | None = None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if owner and is_root():
        shutil.chown(path, owner, owner)


def stop_pid(
    pid_file: Path, label: str, is_ours: IsOurs, timeout: float = 20, sig: int = signal.SIGTERM
) -> None:
    pid = own_pid(pid_file, is_ours)
    if pid is None:
        if pid_file.exists() and pid_alive(pid_file) is not None:
            say(f"{label}: {pid_file} names a process this script did not start; left alone")
        pid_file.unlink(missing_ok=True)
        return
    say(f"stopping {label} (pid {pid})")
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid_file):
        time.sleep(0.2)
    if pid_alive(pid_file):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    pid_file.unlink(missing_ok=True)
