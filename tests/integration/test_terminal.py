"""On a terminal: the live progress, the log lines and a failure, as an operator sees them.

The command runs in a pseudo-terminal (stdout and stderr both on it, as in a shell), and the
screen's text is read back.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
READ_CHUNK = 65_536
WAIT_S = 120


def run_on_a_terminal(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    """Run ``bazooka`` with a pseudo-terminal as stdout and stderr; its exit code and lines."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bazooka", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**env, "COLUMNS": "160", "LINES": "50", "TERM": "xterm-256color"},
    )
    os.close(follower)
    captured = b""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, READ_CHUNK)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            captured += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    code = proc.wait(10)
    return code, visible_lines(captured.decode("utf-8", "replace"))


def visible_lines(output: str) -> list[str]:
    """The lines as the terminal shows them: a carriage return starts the line over (rich
    redraws its live lines with "\\r" and an erase), escape sequences are dropped. The
    terminal itself sends each newline as "\\r\\n"."""
    rows = output.replace("\r\n", "\n").split("\n")
    lines = (ANSI.sub("", row.rsplit("\r", 1)[-1]) for row in rows)
    return [line for line in lines if line.strip()]


def test_a_failure_on_a_terminal_keeps_logs_off_the_progress_lines_and_shows_the_error(
    scratch_db: dict[str, str],
) -> None:
    env = {**scratch_db, "DB_PASSWORD": "nope", "LOG_LEVEL": "info"}
    code, lines = run_on_a_terminal(env, "run", "--migrate", "--create-kafka-topics")
    assert code == 1, lines
    screen = "\n".join(lines)
    # Every log line stands alone: none is glued to a progress line or a table row.
    for line in lines:
        if '{"level"' in line:
            assert line.lstrip().startswith('{"level"'), f"log inside a display line: {line!r}"
    assert "Traceback" not in screen
    # The failed step shows its error, never a success text; the step that never ran says so.
    failed = [line for line in lines if "migrate" in line and "failed" in line]
    assert failed and all("up to date" not in line for line in failed), screen
    assert "password authentication failed" in screen
    not_run = [line for line in lines if "create_kafka_topics" in line]
    assert not_run and all("would" not in line and "topic(s)" not in line for line in not_run)


def test_a_successful_run_on_a_terminal_ends_with_its_summary(scratch_db: dict[str, str]) -> None:
    code, lines = run_on_a_terminal(scratch_db, "run", "--migrate")
    assert code == 0, lines
    assert any("migrate" in line and "succeeded" in line and "applied" in line for line in lines)
    assert not any('{"level"' in line for line in lines)  # quiet at the terminal's default level
