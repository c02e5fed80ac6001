#!/usr/bin/env python3
"""Bazooka's Lambda container image on this machine: a stand-in for the AWS base image, the
project's ``Dockerfile`` built over it, and the image run as Lambda runs it.

    python3 scripts/lambda_image.py base             # the stand-in base (cached); prints its name
    python3 scripts/lambda_image.py build [--tag T]  # the Dockerfile over the stand-in base
    python3 scripts/lambda_image.py serve [--tag T] [--timeout S]  # with this shell's settings
    python3 scripts/lambda_image.py podman ARGS...   # podman on this checkout's image store

No container registry is reachable here, so the AWS base (``public.ecr.aws/lambda/python``)
cannot be pulled. ``base`` makes a **stand-in** from Debian packages (``mmdebstrap``, then
``podman import``) that honours the same contract as AWS's image:

- ``LAMBDA_TASK_ROOT=/var/task`` (the working directory), ``LAMBDA_RUNTIME_DIR=/var/runtime``,
  AWS's ``PATH``, ``LD_LIBRARY_PATH`` and ``TZ``;
- the entrypoint ``/lambda-entrypoint.sh HANDLER``: without ``AWS_LAMBDA_RUNTIME_API`` it
  starts the runtime interface emulator (built from its pinned Go module, as
  ``scripts/lambda_rie.py`` builds it), which runs ``/var/runtime/bootstrap``; with it (in
  Lambda), the bootstrap itself: ``python3 -m awslambdaric HANDLER``;
- ``python3`` and ``pip`` with the interpreter's headers, no C compiler, and a ``dnf`` that
  installs packages with apt-get (Amazon Linux's package manager, as the builder stage uses it).

What it cannot prove about AWS's image is in ``docs/operators.md`` (Python 3.11 here, 3.12
there; Debian's glibc and packages, not Amazon Linux 2023's; the real ``dnf``). Only
``BASE_IMAGE`` and ``PIP_CERT`` (this machine's CA bundle, mounted read-only into the build:
pip reaches PyPI through the host's network as this machine does) differ from the production
build.

Everything lives in the state directory (``$BAZOOKA_LOCAL_DIR``, by default ``.local/``): the
podman store (``podman/``: the stand-in base is cached there between runs, named after its
recipe) and podman's configuration (runc, cgroupfs, no default ulimits: what
works on this machine). Containers share the host's network (``--network host``) and reach the
local services on 127.0.0.1; the stand-in's entrypoint takes the emulator's addresses from
``STANDIN_RIE_ADDRESS`` and ``STANDIN_RUNTIME_API_ADDRESS`` (AWS's default ``0.0.0.0:8080``
would listen on every interface of this machine). podman, runc and mmdebstrap are installed
with apt-get when missing (as root), as ``scripts/services.py`` installs PostgreSQL.

:class:`LambdaContainer` runs the image as Lambda does, for the tests and the cold-start
benchmark: a read-only root file system with only ``/tmp`` writable, a non-root user, no
``/dev/shm``. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
HOST = "127.0.0.1"
IMAGE = "localhost/bazooka-lambda:latest"
STANDIN = "localhost/bazooka-lambda-standin"
STANDIN_SUITE = "bookworm"
STANDIN_PYTHON = "3.11"  # bookworm's python3
STANDIN_PACKAGES = ("python3", "python3-pip", "python3-dev", "ca-certificates")
TOOLS = {"podman": "podman", "runc": "runc", "mmdebstrap": "mmdebstrap"}  # command: package
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64")
# Lambda runs functions as this user (sbx_user1051); any non-root user would do.
LAMBDA_USER = "993:990"
TMP_SIZE = "512m"  # Lambda's default ephemeral storage
BUILD_CA = "/run/bazooka-build-ca.crt"

CONTAINERS_CONF = """\
# Written by scripts/lambda_image.py: what podman needs on this machine.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
"""

# The stand-in base's own files: AWS's entrypoint contract, the runtime's bootstrap, a dnf.
ENTRYPOINT = """\
#!/bin/sh
# Stand-in for the AWS Lambda base image's entrypoint (scripts/lambda_image.py).
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie \\
    ${STANDIN_RIE_ADDRESS:+--runtime-interface-emulator-address "$STANDIN_RIE_ADDRESS"} \\
    ${STANDIN_RUNTIME_API_ADDRESS:+--runtime-api-address "$STANDIN_RUNTIME_API_ADDRESS"} \\
    "$RUNTIME_ENTRYPOINT"
else
  exec "$RUNTIME_ENTRYPOINT"
fi
"""
BOOTSTRAP = """\
#!/bin/sh
# Stand-in for the Python runtime's bootstrap: the runtime interface client runs the handler,
# importing the function from the task root first.
cd "$LAMBDA_TASK_ROOT" || exit 1
export PYTHONPATH="$LAMBDA_TASK_ROOT:$LAMBDA_RUNTIME_DIR"
exec python3 -m awslambdaric "$_HANDLER"
"""
DNF = """\
#!/bin/sh
# Stand-in for Amazon Linux's dnf on Debian: `dnf install [-y] PACKAGE...` and `dnf clean all`.
set -e
command="$1"
[ $# -gt 0 ] && shift
case "$command" in
  install)
    packages=""
    for argument in "$@"; do
      case "$argument" in -*) ;; *) packages="$packages $argument" ;; esac
    done
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages
    ;;
  clean)
    apt-get clean
    rm -rf /var/lib/apt/lists/*
    ;;
  *)
    echo "dnf (stand-in on apt-get): only install and clean are known, not '$command'" >&2
    exit 1
    ;;
esac
"""
STANDIN_ENV = {
    "LANG": "C.UTF-8",
    "TZ": ":/etc/localtime",
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LD_LIBRARY_PATH": (
        "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:"
        "/var/task/lib:/opt/lib"
    ),
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
}


class ImageError(RuntimeError):
    """The stand-in base, the image or a container could not be made or run."""


def _sibling(name: str) -> ModuleType:
    """``scripts/<name>.py``, loaded once (shared with the tests' ``load_script``)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def state_dir() -> Path:
    return Path(_sibling("lambda_rie").state_dir()).resolve()


def work_dir() -> Path:
    path = state_dir() / "lambda-image"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- podman -------------------------------------------------------------------------------------


def ensure_tools() -> None:
    """podman, runc and mmdebstrap, installed with apt-get when missing (as root)."""
    missing = [package for command, package in TOOLS.items() if shutil.which(command) is None]
    if missing:
        try:
            _sibling("lambda_rie").tools_module("services.process").apt_install(missing)
        except Exception as exc:  # ServiceError (tools.services): its message says what to do
            raise ImageError(str(exc)) from exc


def podman_env() -> dict[str, str]:
    conf = work_dir() / "containers.conf"
    if not conf.is_file() or conf.read_text() != CONTAINERS_CONF:
        conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman_argv(*args: str) -> list[str]:
    """podman with this checkout's own store (two checkouts never share images or containers)."""
    store = state_dir() / "podman"
    return [
        "podman",
        "--root",
        str(store / "storage"),
        "--runroot",
        str(store / "run"),
        "--storage-driver",
        "overlay",
        *args,
    ]


def podman(*args: str, capture: bool = True) -> subprocess.CompletedProcess[str]:
    """Run podman; raise :class:`ImageError` with its output when it fails."""
    result = subprocess.run(
        podman_argv(*args),
        env=podman_env(),
        capture_output=capture,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stderr or "") + (result.stdout or "") if capture else ""
        raise ImageError(f"podman {' '.join(args[:2])} failed ({result.returncode}):\n{output}")
    return result


def image_exists(name: str) -> bool:
    exists = subprocess.run(podman_argv("image", "exists", name), env=podman_env(), check=False)
    return exists.returncode == 0


# --- pip ----------------------------------------------------------------------------------------


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def runtime_client_requirement() -> str:
    """awslambdaric as the project pins it (dev extras), for the stand-in's /var/runtime."""
    dev: list[str] = _pyproject()["project"]["optional-dependencies"]["dev"]
    return next(r for r in dev if r.startswith("awslambdaric"))


def ca_bundle() -> Path:
    """The certificates this machine's pip trusts (``PIP_CERT``, else the system's bundle):
    a build reaches PyPI as this machine does, whatever stands between."""
    configured = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    path = Path(configured or ssl.get_default_verify_paths().cafile or "")
    if not path.is_file():
        raise ImageError(f"no CA bundle for pip at {path} (set PIP_CERT)")
    return path


# --- the stand-in base --------------------------------------------------------------------------


def standin_name() -> str:
    """The stand-in's name: its recipe's digest, so a changed recipe makes a new base."""
    rie = _sibling("lambda_rie")
    recipe = json.dumps(
        [
            STANDIN_SUITE,
            STANDIN_PYTHON,
            STANDIN_PACKAGES,
            ENTRYPOINT,
            BOOTSTRAP,
            DNF,
            STANDIN_ENV,
            rie.VERSION,
            runtime_client_requirement(),
        ]
    )
    return f"{STANDIN}:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def _apt_sources() -> list[str]:
    """This machine's apt sources, so the stand-in uses the same Debian mirrors."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    return [str(p) for p in sources if p.is_file() and p.suffix in (".list", ".sources")]


def _stage_files(staging: Path) -> None:
    """The files the stand-in adds to Debian's: entrypoint, runtime, emulator, dnf."""
    rie = _sibling("lambda_rie")
    for relative, text in (
        ("lambda-entrypoint.sh", ENTRYPOINT),
        ("var/runtime/bootstrap", BOOTSTRAP),
        ("usr/bin/dnf", DNF),
    ):
        path = staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    emulator = staging / "usr/local/bin/aws-lambda-rie"
    emulator.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(rie.build(quiet=True), emulator)
    emulator.chmod(0o755)
    (staging / "var/task").mkdir(parents=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--target",
            str(staging / "var/runtime"),
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            STANDIN_PYTHON,
            *(f"--platform={p}" for p in WHEEL_PLATFORMS),
            runtime_client_requirement(),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ImageError(f"installing the runtime interface client failed:\n{result.stderr}")
    shutil.rmtree(staging / "var/runtime/bin", ignore_errors=True)


def standin_base(*, quiet: bool = False) -> str:
    """The stand-in base image's name, made (about a minute) unless this store has it."""
    ensure_tools()
    name = standin_name()
    if image_exists(name):
        return name
    with tempfile.TemporaryDirectory(dir=work_dir(), prefix="standin-") as tmp:
        staging, rootfs = Path(tmp) / "files", Path(tmp) / "rootfs.tar"
        _stage_files(staging)
        if not quiet:
            print(f"making the stand-in base {name} (mmdebstrap {STANDIN_SUITE})", file=sys.stderr)
        version = tuple(map(int, STANDIN_PYTHON.split(".")))
        check = f"import sys; assert sys.version_info[:2] == {version}"
        hooks = [
            f'sync-in "{staging}" /',
            'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',  # as AWS's: pip may install
            'ln -sf python3 "$1"/usr/bin/python',
            f'chroot "$1" python3 -c "{check}"',
            'chroot "$1" sh -c "! command -v gcc && ! command -v cc"',  # no compiler
        ]
        result = subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=apt",
                f"--include={','.join(STANDIN_PACKAGES)}",
                *(f"--customize-hook={hook}" for hook in hooks),
                STANDIN_SUITE,
                str(rootfs),
                *_apt_sources(),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ImageError(f"mmdebstrap failed ({result.returncode}):\n{result.stderr[-3000:]}")
        changes = [f"ENV {key}={value}" for key, value in STANDIN_ENV.items()]
        changes += ["WORKDIR /var/task", 'ENTRYPOINT ["/lambda-entrypoint.sh"]']
        podman("import", *(f"--change={c}" for c in changes), str(rootfs), name)
    return name


# --- the image ----------------------------------------------------------------------------------


def build_image(tag: str = IMAGE, *, quiet: bool = True) -> str:
    """Build the project's Dockerfile over the stand-in base; return the image's name.

    The build reaches Debian's mirrors (the builder's dnf) and PyPI (pip) through the host's
    network, pip trusting this machine's CA bundle (``PIP_CERT``, mounted read-only)."""
    base = standin_base(quiet=quiet)
    podman(
        "build",
        "--network",
        "host",
        "--volume",
        f"{ca_bundle()}:{BUILD_CA}:ro",
        "--build-arg",
        f"BASE_IMAGE={base}",
        "--build-arg",
        f"PIP_CERT={BUILD_CA}",
        "--file",
        str(ROOT / "Dockerfile"),
        "--tag",
        tag,
        str(ROOT),
        capture=quiet,
    )
    return tag


def image_size(tag: str = IMAGE) -> int:
    """The image's size in bytes, as podman counts it (all layers, uncompressed)."""
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def free_port() -> int:
    return int(_sibling("lambda_rie").free_port())


class LambdaContainer:
    """The image run as Lambda runs it, under the emulator in its entrypoint; a context
    manager that removes the container.

    Read-only root file system with a writable ``/tmp`` only, a non-root user, no
    ``/dev/shm``, the host's network. ``env`` is the function's configuration: nothing else
    reaches it (its values go to podman through its environment, never its command line).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        image: str = IMAGE,
        timeout_s: int = 300,
        function_name: str = "bazooka",
        memory_mb: int = 1769,
    ) -> None:
        self.image = image
        self.name = f"bazooka-lambda-{uuid.uuid4().hex[:10]}"
        self.timeout_s = timeout_s
        self.port = free_port()
        self.api_port = free_port()
        while self.api_port == self.port:
            self.api_port = free_port()
        self.env = {
            **env,
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_s),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "STANDIN_RIE_ADDRESS": f"{HOST}:{self.port}",
            "STANDIN_RUNTIME_API_ADDRESS": f"{HOST}:{self.api_port}",
        }
        self.started = False

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{_sibling('lambda_rie').INVOKE_PATH}"

    def argv(self) -> list[str]:
        return podman_argv(
            "run",
            "--detach",
            "--name",
            self.name,
            "--network",
            "host",
            "--read-only",
            "--read-only-tmpfs=false",
            "--tmpfs",
            f"/tmp:rw,mode=1777,size={TMP_SIZE}",
            "--ipc",
            "none",
            "--user",
            LAMBDA_USER,
            *(f"--env={name}" for name in sorted(self.env)),
            self.image,
        )

    def start(self, wait_s: float = 30.0) -> LambdaContainer:
        """Start the container and wait until its emulator accepts invocations."""
        result = subprocess.run(
            self.argv(),
            env={**podman_env(), **self.env},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ImageError(f"podman run failed ({result.returncode}):\n{result.stderr}")
        self.started = True
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not self.running():
                output = self.output()
                self.stop()
                raise ImageError(f"the container exited:\n{output[-2000:]}")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.2)
                if sock.connect_ex((HOST, self.port)) == 0:
                    return self
            time.sleep(0.02)
        self.stop()
        raise ImageError(f"the container's emulator did not listen on {HOST}:{self.port}")

    def running(self) -> bool:
        state = subprocess.run(
            podman_argv("container", "inspect", "--format", "{{.State.Running}}", self.name),
            env=podman_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        return state.stdout.strip() == "true"

    def invoke(
        self, event: Any, *, request_id: str | None = None, timeout_s: float | None = None
    ) -> Any:
        """POST ``event`` (JSON-encoded unless bytes) as one invocation; wait for the answer."""
        limit = timeout_s if timeout_s is not None else self.timeout_s + 30
        return _sibling("lambda_rie").invoke(
            self.url, event, request_id=request_id, timeout_s=limit
        )

    def output(self) -> str:
        """Everything the emulator and the function wrote so far."""
        result = subprocess.run(
            podman_argv("logs", self.name),
            env=podman_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout + result.stderr

    def log_lines(self) -> list[dict[str, Any]]:
        """The function's JSON log lines so far."""
        return list(_sibling("lambda_rie").json_lines(self.output()))

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                podman_argv("rm", "--force", "--time", "0", self.name),
                env=podman_env(),
                capture_output=True,
                check=False,
            )
            self.started = False

    def __enter__(self) -> LambdaContainer:
        return self if self.started else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# The function's configuration `serve` passes on from this shell: Bazooka's variables.
PASSED_ON = ("DB_", "PG_", "KAFKA_", "REDIS_", "CLEAR_KAFKA_", "BUGSNAG_", "BAZOOKA_")
PASSED_ON_NAMES = ("SERVICE_NAME", "LOG_LEVEL", "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE")
NOT_PASSED_ON = ("BAZOOKA_LOCAL_DIR", "BAZOOKA_RIE_PORT")


def function_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Bazooka's variables of ``environ`` (the function's configuration), nothing else."""
    return {
        key: value
        for key, value in environ.items()
        if (key.startswith(PASSED_ON) or key in PASSED_ON_NAMES)
        and key not in NOT_PASSED_ON
        and not key.endswith("_PORT")  # services.py's BAZOOKA_*_PORT
    }


def _serve(args: argparse.Namespace) -> int:
    if not image_exists(args.tag):
        print(f"error: no image {args.tag} here (run: {sys.argv[0]} build)", file=sys.stderr)
        return 2
    env = function_env(os.environ)
    with LambdaContainer(env, image=args.tag, timeout_s=args.timeout) as container:
        print(f"invoke: curl -XPOST {container.url} -d '{{\"migrate\":true}}'", file=sys.stderr)
        print(f"container {container.name} (Ctrl-C stops it)", file=sys.stderr)
        shown = 0

        def read_new() -> str:
            nonlocal shown
            output = container.output()
            new, shown = output[shown:], len(output)
            return new

        _sibling("lambda_rie").follow(read_new, container.running)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("base", help="make the stand-in base image (cached)")
    build = commands.add_parser("build", help="build the Dockerfile over the stand-in base")
    build.add_argument("--tag", default=IMAGE)
    serve = commands.add_parser("serve", help="run the image read-only under its emulator")
    serve.add_argument("--tag", default=IMAGE)
    serve.add_argument("--timeout", type=int, default=900, help="function timeout, seconds")
    run = commands.add_parser("podman", help="podman on this checkout's store")
    run.add_argument("arguments", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "base":
            print(standin_base())
        elif args.command == "build":
            tag = build_image(args.tag, quiet=False)
            print(f"built {tag} ({image_size(tag) / 1e6:.0f} MB)")
        elif args.command == "serve":
            return _serve(args)
        else:
            ensure_tools()
            return subprocess.run(
                podman_argv(*args.arguments), env=podman_env(), check=False
            ).returncode
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
