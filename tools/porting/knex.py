"""Node: the pinned Knex, pg and TypeScript packages, and the Knex session that runs a
migration and captures every statement it sends."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import IO, Any

from tools.porting.base import KNEX_DIR, REPLY_PREFIX, ToolError
from tools.porting.sql import Statement


def ensure_node_packages(out: IO[str]) -> None:
    """``npm ci`` in scripts/knex when node_modules is missing or older than the lockfile."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise ToolError(f"{tool} not found on PATH: the port runs the migrations with Node")
    lock = KNEX_DIR / "package-lock.json"
    want = hashlib.sha256(lock.read_bytes()).hexdigest()
    stamp = KNEX_DIR / "node_modules" / ".bazooka-lock-sha256"
    with (KNEX_DIR / ".npm-ci.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # two runs at once must not both install
        if stamp.exists() and stamp.read_text().strip() == want:
            return
        out.write("Installing the pinned Knex, pg and TypeScript (npm ci) ...\n")
        out.flush()
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=KNEX_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise ToolError(f"npm ci failed in {KNEX_DIR}:\n{tail}")
        stamp.write_text(want + "\n")


class KnexSession:
    """The Node process of scripts/knex/port_runner.js: one JSON request, one JSON reply."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._closed = False
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by close()
        env = {
            **os.environ,
            "TZ": "UTC",  # as on AWS Lambda: Date bindings are rendered in UTC
            "NODE_PATH": str(KNEX_DIR / "node_modules"),  # for compiled files outside KNEX_DIR
        }
        self._process = subprocess.Popen(
            ["node", str(KNEX_DIR / "port_runner.js")],
            cwd=KNEX_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if line.startswith(REPLY_PREFIX):
                self._replies.put(line[len(REPLY_PREFIX) :])
            else:
                sys.stderr.write(line)  # something a migration printed
        self._replies.put(None)

    def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one request; its reply (ToolError if the process is gone or too slow)."""
        assert self._process.stdin is not None
        if self._closed:
            raise ToolError("the Knex runner was stopped")
        try:
            self._process.stdin.write(json.dumps(payload) + "\n")
            self._process.stdin.flush()
            line = self._replies.get(timeout=self.timeout)
        except queue.Empty:
            self.close()
            raise ToolError(
                f"Knex did not answer {payload['op']} within {self.timeout:.0f} s"
            ) from None
        except OSError as exc:
            line = None
            cause: Exception | None = exc
        else:
            cause = None
        if line is None:
            raise ToolError(f"the Knex runner stopped: {self.stderr_tail()}") from cause
        reply: dict[str, Any] = json.loads(line)
        return reply

    def stderr_tail(self, lines: int = 20) -> str:
        self._stderr.seek(0)
        return "\n".join(self._stderr.read().strip().splitlines()[-lines:])

    def close(self) -> None:
        """End the process: end of input, then a kill if it does not exit."""
        if self._closed:
            return
        self._closed = True
        if self._process.poll() is None:
            with contextlib.suppress(OSError):
                assert self._process.stdin is not None
                self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._stderr.close()


@dataclass
class KnexRun:
    """One ``latest`` (up) or ``rollback`` (down) of one migration by Knex."""

    ok: bool
    error: str | None
    statements: list[Statement]
    transaction: bool
    returned_promise: bool
    warnings: list[str]

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> KnexRun:
        return cls(
            ok=bool(reply.get("ok")),
            error=reply.get("error"),
            statements=[Statement.from_json(s) for s in reply.get("statements", [])],
            transaction=bool(reply.get("transaction", True)),
            returned_promise=bool(reply.get("returned_promise", True)),
            warnings=list(reply.get("warnings", [])),
        )
