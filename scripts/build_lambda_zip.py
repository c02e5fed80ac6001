#!/usr/bin/env python3
"""Build the AWS Lambda deployment zip: Bazooka plus its runtime dependencies.

    python3 scripts/build_lambda_zip.py [--python-version 3.12] [--output dist/bazooka-lambda.zip]
    python3 scripts/build_lambda_zip.py --install-into /var/task    # what the Dockerfile runs

The zip holds the packages at its root (Lambda's layout); the handler is
``bazooka.lambda_handler.handler``. Binary wheels are taken for x86_64 Linux and the given
CPython version; confluent-kafka's wheels need glibc 2.28, so use a runtime on Amazon Linux 2023
(python3.12 or later; the default). ``v4-proto`` is installed without its gRPC dependencies
(grpcio, grpcio-tools: ~30 MB Bazooka never imports), and the optional ``bugsnag`` is included.
Needs pip and PyPI; nothing is installed into the running interpreter.

``--install-into DIR`` installs the same packages, chosen by the same requirements filter, into
DIR for the running interpreter and its platform, with bytecode, and builds no zip: the
container image is made that way, so the zip and the image cannot drift apart.

Bytecode: Lambda's task directory is read-only, so a zip without ``.pyc`` files makes every cold
start compile every module it imports (up to twice the cold-start time, see ``bench/README.md``).
The zip is compiled with an interpreter of the target version: this one if it matches, else
``python3.X`` from PATH. Hash-based, unchecked ``.pyc`` files are written, because the zip keeps
file times only to 2 seconds, which would make timestamp-checked ones look stale. Without such an
interpreter the zip is built without bytecode and the script says so.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64"]
WITHOUT_DEPENDENCIES = ("v4-proto",)  # its gRPC requirements are not used at runtime


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def compiler_for(python_version: str) -> str | None:
    """An interpreter of ``python_version`` to compile the bytecode with, if there is one."""
    if python_version == f"{sys.version_info.major}.{sys.version_info.minor}":
        return sys.executable
    candidate = shutil.which(f"python{python_version}")
    if candidate is None:
        return None
    # It must run and be that version (a pyenv shim exists even when the version is missing).
    probe = subprocess.run(
        [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return candidate if probe.returncode == 0 and probe.stdout.strip() == python_version else None


def compile_bytecode(target: Path, python: str) -> None:
    """Write unchecked hash-based .pyc files for everything in ``target`` with ``python``."""
    subprocess.run(
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(target),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def requirements() -> tuple[list[str], list[str]]:
    """(requirements installed with their dependencies, those installed alone)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["bugsnag"]]
    alone = [r for r in wanted if r.split(">")[0].split("=")[0].strip() in WITHOUT_DEPENDENCIES]
    return [r for r in wanted if r not in alone], alone


def install(target: Path, python_version: str | None) -> None:
    """Install Bazooka and its runtime packages into ``target`` (Lambda's layout), no bytecode.

    For ``python_version`` on x86_64 Linux (the zip, built anywhere), or for this interpreter
    and platform when it is None (the image, built on its own base image).
    """
    cross = (
        ["--implementation", "cp", "--python-version", python_version]
        + [f"--platform={p}" for p in PLATFORMS]
        if python_version is not None
        else []
    )
    common = [
        "install",
        "--quiet",
        "--no-compile",
        "--target",
        str(target),
        "--only-binary=:all:",
        *cross,
    ]
    with_deps, alone = requirements()
    pip(*common, *with_deps)
    pip(*common, "--no-deps", *alone)
    with tempfile.TemporaryDirectory(prefix="bazooka-wheel-") as wheels:
        pip("wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, str(ROOT))
        wheel = next(Path(wheels).glob("bazooka-*.whl"))
        pip(*common, "--no-deps", "--upgrade", str(wheel))
    for junk in target.glob("*.dist-info/RECORD"):
        junk.unlink()
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache)
    shutil.rmtree(target / "bin", ignore_errors=True)


def build(python_version: str, output: Path, compiler: str | None) -> Path:
    """Build the zip at ``output``; with bytecode compiled by ``compiler`` unless it is None."""
    with tempfile.TemporaryDirectory(prefix="bazooka-lambda-") as tmp:
        target = Path(tmp) / "package"
        install(target, python_version)
        if compiler is not None:
            compile_bytecode(target, compiler)
        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(target.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(target))
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--output", type=Path, default=ROOT / "dist" / "bazooka-lambda.zip")
    parser.add_argument(
        "--require-bytecode",
        action="store_true",
        help="fail, building nothing, when no interpreter of the target version is available",
    )
    parser.add_argument(
        "--install-into",
        type=Path,
        metavar="DIR",
        help="install for this interpreter into DIR (the container image's task root), no zip",
    )
    args = parser.parse_args()
    if args.install_into is not None:
        install(args.install_into, None)
        compile_bytecode(args.install_into, sys.executable)
        print(f"installed into {args.install_into}; handler: bazooka.lambda_handler.handler")
        return 0
    compiler = compiler_for(args.python_version)
    if args.require_bytecode and compiler is None:
        print(
            f"error: --require-bytecode: no python{args.python_version} on PATH to compile with",
            file=sys.stderr,
        )
        return 1
    path = build(args.python_version, args.output, compiler)
    size = path.stat().st_size / 2**20
    print(
        f"built {path} ({size:.1f} MiB) for CPython {args.python_version} x86_64; "
        "handler: bazooka.lambda_handler.handler; "
        + ("bytecode included" if compiler else "NO bytecode")
    )
    if compiler is None:
        print(
            f"warning: no python{args.python_version} here to compile the bytecode with, so every "
            "cold start will compile each module it imports (up to twice the cold-start time). "
            f"Build on a machine with python{args.python_version} on PATH, e.g. in the image "
            f"public.ecr.aws/sam/build-python{args.python_version}.",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
