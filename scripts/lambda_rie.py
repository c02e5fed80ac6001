#!/usr/bin/env python3
"""The AWS Lambda Runtime Interface Emulator (RIE): build it once, run a function under it.

    python3 scripts/lambda_rie.py build                 # go install the pinned version (cached)
    python3 scripts/lambda_rie.py path                  # the cached binary (exit 1 if not built)
    python3 scripts/lambda_rie.py serve TASK_DIR [--port N] [--timeout S] [--python PY]

The emulator is AWS's own (``github.com/aws/aws-lambda-runtime-interface-emulator``): it serves
the Lambda runtime API (next invocation, response, error) to the function's runtime process
and accepts invocations over HTTP on ``/2015-03-31/functions/function/invocations``, enforcing
``AWS_LAMBDA_FUNCTION_TIMEOUT`` (seconds) as the service does. It is built from the pinned Go
module version with ``go install`` into ``<state>/lambda-rie/`` (``GOPATH``, ``GOMODCACHE``,
``GOCACHE`` and ``GOBIN`` all there); a second ``build`` does nothing. The state directory is
``$BAZOOKA_LOCAL_DIR``, by default ``.local/`` in this checkout, as for ``scripts/services.py``.

``serve`` runs a function unpacked from the Lambda zip (TASK_DIR, Lambda's ``/var/task``) with
AWS's Python runtime interface client (``awslambdaric``, taken from ``--python``'s environment,
by default this checkout's ``.venv``, as the managed runtime provides it), listening on
127.0.0.1 only. The function sees this process's environment. Ctrl-C stops what it started.

A zip built by ``scripts/build_lambda_zip.py`` records its Python version
(``bazooka-lambda-build.json``): its binary wheels and bytecode work on that version only, so
``serve`` and :class:`Emulator` refuse to run it on an interpreter of another version (a 3.12
zip on the 3.11 ``.venv`` fails at the first Kafka import), naming both versions and
``--python-version``.

The :class:`Emulator` class does the same for the tests and the cold-start benchmark. Each
emulator listens on a free port found at run time (``BAZOOKA_RIE_PORT`` fixes it; the runtime
API then uses the next port), never on the emulator's default 8080, and is stopped by the
process group it was started in, never by name. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
MODULE = "github.com/aws/aws-lambda-runtime-interface-emulator"
# The Go module proxy here serves this pseudo-version (v1.23.0 is not served).
VERSION = "v0.0.0-20261030222936-bef5c4ba774d"
HOST = "127.0.0.1"
GO_FALLBACKS = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")  # when PATH lacks Go's bin
HANDLER = "bazooka.lambda_handler.handler"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
# The runtime interface client and the distributions it needs, as the managed runtime has them.
RUNTIME_CLIENT = "awslambdaric"
_LIST_RUNTIME_FILES = """
import importlib.metadata as md, json, re, sys
seen, todo, paths = set(), [sys.argv[1]], set()
while todo:
    name = todo.pop()
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen:
        continue
    seen.add(key)
    dist = md.distribution(name)
    for f in dist.files or ():
        top = f.parts[0]
        if top != ".." and not top.endswith(".dist-info") and top != "__pycache__":
            paths.add(str(dist.locate_file(top)))
    for req in dist.requires or ():
        if "extra ==" not in req:
            todo.append(re.match(r"[A-Za-z0-9._-]+", req).group(0))
print(json.dumps(sorted(paths)))
"""


class EmulatorError(RuntimeError):
    """The emulator could not be built or started."""


def state_dir() -> Path:
    """``$BAZOOKA_LOCAL_DIR``, else ``.local`` in this checkout (as ``scripts/services.py``)."""
    configured = os.environ.get("BAZOOKA_LOCAL_DIR")
    return Path(configured) if configured else ROOT / ".local"


def cache_dir() -> Path:
    return state_dir() / "lambda-rie"


def binary_path() -> Path:
    """Where the pinned version's binary is (or will be) cached."""
    return cache_dir() / VERSION / "aws-lambda-rie"


def build(*, quiet: bool = False) -> Path:
    """``go install`` the pinned emulator into the cache unless it is there; its path."""
    binary = binary_path()
    if binary.is_file():
        return binary
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    go = shutil.which("go") or next((g for g in GO_FALLBACKS if Path(g).is_file()), None)
    if go is None:
        raise EmulatorError(
            "go not found on PATH: the Lambda runtime interface emulator is built from its Go "
            f"module ({MODULE}@{VERSION}); install Go 1.22 or later"
        )
    with (cache / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs sharing a state directory
        if binary.is_file():
            return binary
        gopath = cache / "go"
        env = {
            **os.environ,
            "GOPATH": str(gopath),
            "GOMODCACHE": str(gopath / "pkg" / "mod"),
            "GOCACHE": str(cache / "go-build"),
            "GOTOOLCHAIN": "local",
            # Writable module cache, so the state directory can be deleted like any other.
            "GOFLAGS": f"{os.environ.get('GOFLAGS', '')} -modcacherw".strip(),
            "CGO_ENABLED": "0",
        }
        with tempfile.TemporaryDirectory(dir=cache, prefix="gobin-") as gobin:
            env["GOBIN"] = gobin
            if not quiet:
                print(f"building {MODULE}/cmd/aws-lambda-rie@{VERSION} with go", file=sys.stderr)
            result = subprocess.run(
                [go, "install", f"{MODULE}/cmd/aws-lambda-rie@{VERSION}"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise EmulatorError(
                    f"go install {MODULE}/cmd/aws-lambda-rie@{VERSION} failed:\n"
                    + (result.stderr or result.stdout).strip()
                )
            binary.parent.mkdir(parents=True, exist_ok=True)
            (Path(gobin) / "aws-lambda-rie").replace(binary)
    return binary


def tools_module(name: str) -> ModuleType:
    """``tools.<name>`` (scripts/services.py's code is ``tools.services``), with the checkout's
    root put on ``sys.path`` first: run as a file, this script sees only ``scripts/``."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"tools.{name}")


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody holds at the moment, below the ephemeral range (the
    choice of scripts/services.py)."""
    return int(tools_module("services.ports").free_ports(1))


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


BUILD_INFO = "bazooka-lambda-build.json"  # written at the zip's root by build_lambda_zip.py
RUNTIME_VERSION = "python-version"  # in the runtime directory: the version bootstrap runs


def python_version_of(python: str) -> str:
    """``3.11``: the version of the interpreter ``python``."""
    done = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise EmulatorError(f"cannot run {python}: {done.stderr.strip()}")
    return done.stdout.strip()


def zip_python_version(task_dir: Path) -> str:
    """The Python version the unpacked zip in ``task_dir`` was built for."""
    info = task_dir / BUILD_INFO
    try:
        return str(json.loads(info.read_text())["python_version"])
    except (OSError, ValueError, KeyError) as exc:
        raise EmulatorError(
            f"{task_dir} does not say which Python it was built for ({BUILD_INFO} missing or "
            f"unreadable: {exc}); rebuild it with scripts/build_lambda_zip.py --python-version "
            "X.Y, X.Y being the version of the interpreter that runs it"
        ) from None


def check_python_version(task_dir: Path, runtime: str, python: str) -> None:
    """Refuse to run a zip built for one Python version on an interpreter of another."""
    built_for = zip_python_version(task_dir)
    if built_for != runtime:
        raise EmulatorError(
            f"the function in {task_dir} was built for Python {built_for}, but the emulator "
            f"would run it on Python {runtime} ({python}): its binary wheels and bytecode only "
            f"work on {built_for}. Rebuild the zip with scripts/build_lambda_zip.py "
            f"--python-version {runtime}, or serve it with --python pointing at a Python "
            f"{built_for} that has {RUNTIME_CLIENT} installed."
        )


def prepare_runtime(directory: Path, python: str) -> Path:
    """Lay out a runtime directory (Lambda's ``/var/runtime``); return its ``bootstrap``.

    It holds links to ``awslambdaric`` and the distributions it requires, found in
    ``python``'s environment, and a ``bootstrap`` that starts the client with ``python -S``:
    the function then imports from the task directory (first on the path) and this directory
    only, never from that environment's other packages.
    """
    directory.mkdir(parents=True, exist_ok=True)
    listed = subprocess.run(
        [python, "-c", _LIST_RUNTIME_FILES, RUNTIME_CLIENT],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        raise EmulatorError(
            f"{RUNTIME_CLIENT} is not installed for {python} (it is in the dev extras: "
            f"scripts/setup.sh installs it):\n{listed.stderr.strip()}"
        )
    for source in json.loads(listed.stdout):
        link = directory / Path(source).name
        if not link.exists():
            link.symlink_to(source)
    bootstrap = directory / "bootstrap"
    bootstrap.write_text(
        "#!/bin/sh\n"
        "# Like Lambda's /var/runtime/bootstrap: the runtime interface client runs the handler.\n"
        f'exec "{python}" -S -m {RUNTIME_CLIENT} "$@"\n'
    )
    bootstrap.chmod(0o755)
    (directory / RUNTIME_VERSION).write_text(python_version_of(python) + "\n")
    return bootstrap


@dataclass
class Invocation:
    """One HTTP invocation: status, response body and the client-side wall time."""

    status: int
    body: bytes
    elapsed_s: float

    def json(self) -> Any:
        return json.loads(self.body)


def invoke(url: str, event: Any, *, request_id: str | None = None, timeout_s: float) -> Invocation:
    """POST ``event`` (JSON-encoded unless bytes) to an emulator's invocation ``url``; wait
    at most ``timeout_s`` for the answer."""
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if request_id is not None:
        headers["X-Amzn-RequestId"] = request_id
    # Always http://127.0.0.1:<port>/...: the scheme is ours, not input.
    request = urllib.request.Request(url, data=payload, headers=headers, method="POST")  # noqa: S310
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    return Invocation(status, body, time.monotonic() - started)


def json_lines(output: str) -> list[dict[str, Any]]:
    """The JSON lines of an emulator's output: the function's log (the emulator's own lines
    are not JSON)."""
    lines = []
    for line in output.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
    return lines


class Emulator:
    """One emulator process running one function; a context manager that stops it.

    ``env`` is the function's environment (the emulator passes its own environment on to the
    runtime); ``timeout_s`` becomes ``AWS_LAMBDA_FUNCTION_TIMEOUT``. Output of the emulator and
    of the function (the function's log lines) goes to ``log_path``.
    """

    def __init__(
        self,
        task_dir: Path,
        bootstrap: Path,
        env: Mapping[str, str],
        log_path: Path,
        *,
        timeout_s: int = 300,
        function_name: str = "bazooka",
        handler: str = HANDLER,
        binary: Path | None = None,
        port: int | None = None,
    ) -> None:
        runtime = bootstrap.parent / RUNTIME_VERSION
        if runtime.is_file():  # laid out by prepare_runtime: the version bootstrap runs
            check_python_version(task_dir, runtime.read_text().strip(), str(bootstrap))
        self.task_dir = task_dir
        self.bootstrap = bootstrap
        self.log_path = log_path
        self.timeout_s = timeout_s
        self.function_name = function_name
        self.handler = handler
        self.binary = binary or binary_path()
        fixed = os.environ.get("BAZOOKA_RIE_PORT")
        self.port = port or (int(fixed) if fixed else free_port())
        self.api_port = self.port + 1 if fixed and port is None else free_port()
        while self.api_port == self.port:
            self.api_port = free_port()
        self.env = {
            **env,
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_s),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
            "LAMBDA_TASK_ROOT": str(task_dir),
            "PYTHONPATH": f"{task_dir}{os.pathsep}{bootstrap.parent}",
            "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's task directory is read-only
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{INVOKE_PATH}"

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            "--log-level",
            "warn",  # its own LOG_LEVEL variable would otherwise be the function's
            "--runtime-interface-emulator-address",
            f"{HOST}:{self.port}",
            "--runtime-api-address",
            f"{HOST}:{self.api_port}",
            str(self.bootstrap),
            self.handler,
        ]

    def start(self, wait_s: float = 20.0) -> Emulator:
        """Start the emulator (in its own process group) and wait until it accepts requests."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv(),
            cwd=self.task_dir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise EmulatorError(
                    f"the emulator exited with status {self.process.returncode}:\n"
                    + self.log_path.read_text(errors="replace")[-2000:]
                )
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.2)
                answered = sock.connect_ex((HOST, self.port)) == 0
            time.sleep(0.05)
            # Listening, and still alive: not another program that took the port meanwhile.
            if answered and self.process.poll() is None:
                return self
        self.stop()
        raise EmulatorError(f"the emulator did not listen on {HOST}:{self.port} in {wait_s} s")

    def invoke(
        self, event: Any, *, request_id: str | None = None, timeout_s: float | None = None
    ) -> Invocation:
        """POST ``event`` (JSON-encoded unless bytes) as one invocation; wait for the answer."""
        limit = timeout_s if timeout_s is not None else self.timeout_s + 30
        return invoke(self.url, event, request_id=request_id, timeout_s=limit)

    def output(self) -> str:
        """Everything the emulator and the function wrote so far."""
        return self.log_path.read_text(errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        """The function's JSON log lines so far (the emulator's own lines are not JSON)."""
        return json_lines(self.output())

    def stop(self) -> None:
        """Stop the emulator and the runtime it started, by their process ids.

        The emulator kills its runtime when it is terminated; the runtime runs in a process
        group of its own, so it is looked up first and killed too if it outlives the emulator.
        """
        process = self.process
        if process is not None and process.poll() is None:
            runtimes = _children(process.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            for pid in runtimes:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Emulator:
        return self.start() if self.process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def serving(
    task_dir: Path, env: Mapping[str, str], *, python: str, timeout_s: int, port: int | None
) -> Iterator[Emulator]:
    """An emulator running the function in ``task_dir`` until the block ends."""
    with tempfile.TemporaryDirectory(prefix="bazooka-rie-") as tmp:
        bootstrap = prepare_runtime(Path(tmp) / "runtime", python)
        emulator = Emulator(
            task_dir, bootstrap, env, Path(tmp) / "emulator.log", timeout_s=timeout_s, port=port
        )
        with emulator:
            yield emulator


def _serve(args: argparse.Namespace) -> int:
    task_dir = Path(args.task_dir).resolve()
    if not (task_dir / "bazooka" / "lambda_handler.py").is_file():
        print(f"error: {task_dir} is not an unpacked Lambda zip", file=sys.stderr)
        return 2
    check_python_version(task_dir, python_version_of(args.python), args.python)
    build()
    with serving(
        task_dir, os.environ, python=args.python, timeout_s=args.timeout, port=args.port
    ) as emulator:
        print(f"invoke: curl -XPOST {emulator.url} -d '{{\"migrate\": true}}'", file=sys.stderr)
        print(f"log: {emulator.log_path} (Ctrl-C stops the emulator)", file=sys.stderr)
        with emulator.log_path.open() as log:
            follow(
                log.read, lambda: emulator.process is not None and emulator.process.poll() is None
            )
    return 0


def follow(read_new: Callable[[], str], alive: Callable[[], bool]) -> None:
    """Copy what ``read_new`` gives to stdout while ``alive()``, until SIGTERM or Ctrl-C."""
    stop = {"now": False}

    def _stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop["now"] and alive():
            chunk = read_new()
            if chunk:
                sys.stdout.write(chunk)
                sys.stdout.flush()
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="go install the pinned emulator into the cache")
    commands.add_parser("path", help="print the cached emulator's path")
    serve = commands.add_parser(
        "serve", help="run an unpacked Lambda zip under the emulator", allow_abbrev=False
    )
    serve.add_argument("task_dir")
    serve.add_argument("--port", type=int, default=None, help="default: a free port")
    serve.add_argument("--timeout", type=int, default=900, help="function timeout, seconds")
    serve.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(build())
        elif args.command == "path":
            if not binary_path().is_file():
                print(f"not built: {binary_path()} (run: {sys.argv[0]} build)", file=sys.stderr)
                return 1
            print(binary_path())
        else:
            return _serve(args)
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
