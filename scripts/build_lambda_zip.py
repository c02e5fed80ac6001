#!/usr/bin/env python3
"""Build the AWS Lambda deployment zip: Bazooka plus its runtime dependencies.

    python3 scripts/build_lambda_zip.py [--python-version 3.12] [--output dist/bazooka-lambda.zip]
    python3 scripts/build_lambda_zip.py --install-into DIR --require-c-encoder   # the Dockerfile

The zip holds the packages at its root (Lambda's layout); the handler is
``bazooka.lambda_handler.handler``. Binary wheels are taken for x86_64 Linux and the given
CPython version; confluent-kafka's wheels need glibc 2.28, so use a runtime on Amazon Linux 2023
(python3.12 or later; the default). ``v4-proto`` is installed without its gRPC dependencies
(grpcio, grpcio-tools: ~30 MB Bazooka never imports), and the optional ``bugsnag`` is included;
the C and Cython sources some wheels ship beside their compiled extensions are left out.
Needs pip and PyPI; nothing is installed into the running interpreter.

``--install-into DIR`` installs the same packages, chosen by the same requirements filter, into
DIR for the running interpreter and its platform, with bytecode, and builds no zip: the
container image is made that way, so the zip and the image cannot drift apart.

The Vulcan send's C encoder (``bazooka/vulcan/_wire*.so``): Bazooka's own wheel is built by
that same interpreter of the target version, so the extension matches it (a C compiler is
needed too). Without such an interpreter or compiler, or on a machine that is not x86_64 Linux,
the zip is built without it and the script says so: the send then encodes in Python and takes
about 1.7 times as long. Its report's ``encoder`` says which.

Bytecode: Lambda's task directory is read-only, so a zip without ``.pyc`` files makes every cold
start compile every module it imports (up to twice the cold-start time, see ``bench/README.md``).
The zip is compiled with an interpreter of the target version: this one if it matches, else
``python3.X`` from PATH. Hash-based, unchecked ``.pyc`` files are written, because the zip keeps
file times only to 2 seconds, which would make timestamp-checked ones look stale. Without such an
interpreter the zip is built without bytecode and the script says so.

The zip records what it was built for in ``bazooka-lambda-build.json`` at its root (the Python
version, the platform, whether it has bytecode and the C encoder): its binary wheels and
bytecode only work on that Python, and ``scripts/lambda_rie.py serve`` refuses to run it on
another.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64"]
BUILD_FILES = ("pyproject.toml", "setup.py", "README.md")  # with src/: what a wheel is built from
WITHOUT_DEPENDENCIES = ("v4-proto",)  # its gRPC requirements are not used at runtime
BUILD_INFO = "bazooka-lambda-build.json"  # at the zip's root: what it was built for
# Sources of compiled extensions some wheels ship beside them (pglast: its parser's C and Cython
# files, 3.7 MB), never read at run time.
EXTENSION_SOURCES = ("*.c", "*.pyx", "*.pxd")


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


def install_own_wheel(target: Path, python: str) -> None:
    """Bazooka itself, from a wheel that ``python`` builds (its C encoder, when built, is for
    that interpreter), unpacked into ``target``: pip's cross-platform install would refuse the
    wheel's tag, which names the local platform."""
    with tempfile.TemporaryDirectory(prefix="bazooka-wheel-") as tmp:
        # From a clean copy of the sources: the checkout's build/ (left by any earlier build,
        # perhaps for another interpreter) and its in-place extension must not leak in.
        source, wheels = Path(tmp) / "source", Path(tmp) / "wheels"
        source.mkdir()
        for name in BUILD_FILES:
            shutil.copy2(ROOT / name, source / name)
        shutil.copytree(
            ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.so")
        )
        subprocess.run(
            [python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, source],
            check=True,
        )
        with zipfile.ZipFile(next(wheels.glob("bazooka-*.whl"))) as wheel:
            wheel.extractall(target)


def c_encoders(target: Path) -> list[Path]:
    """The C encoder's files installed in ``target``."""
    return sorted((target / "bazooka" / "vulcan").glob("_wire*.so"))


def install(target: Path, python_version: str | None, builder: str | None = None) -> None:
    """Install Bazooka and its runtime packages into ``target`` (Lambda's layout), no bytecode.

    For ``python_version`` on x86_64 Linux (the zip, built anywhere), or for this interpreter
    and platform when it is None (the image, built on its own base image). Bazooka's own wheel
    is built by ``builder``, an interpreter of ``python_version`` (this one when None). For the
    zip, its C encoder is left out when it cannot load in Lambda: built on a machine that is
    not x86_64 Linux, or by this interpreter for another version.
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
    install_own_wheel(target, builder or sys.executable)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    native_here = sys.platform == "linux" and platform.machine() == "x86_64"
    if python_version is not None and (
        not native_here or (builder is None and python_version != here)
    ):
        for path in c_encoders(target):  # built for this machine: cannot load in Lambda
            path.unlink()
    for junk in target.glob("*.dist-info/RECORD"):
        junk.unlink()
    for pattern in EXTENSION_SOURCES:
        for source in target.rglob(pattern):
            source.unlink()
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache)
    shutil.rmtree(target / "bin", ignore_errors=True)


def write_build_info(
    target: Path, python_version: str, *, bytecode: bool, native: bool, machine: str = "x86_64"
) -> None:
    """Record what the packages in ``target`` were built for (``bazooka-lambda-build.json``)."""
    info = {
        "python_version": python_version,
        "platform": f"{machine} Linux",
        "bytecode": bytecode,
        "c_encoder": native,
        "built_by": "scripts/build_lambda_zip.py",
    }
    (target / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")


def build(python_version: str, output: Path, compiler: str | None) -> tuple[Path, bool]:
    """Build the zip at ``output``; with bytecode compiled by ``compiler`` unless it is None.
    Returns the zip and whether it holds the C encoder."""
    with tempfile.TemporaryDirectory(prefix="bazooka-lambda-") as tmp:
        target = Path(tmp) / "package"
        install(target, python_version, compiler)
        native = bool(c_encoders(target))
        if compiler is not None:
            compile_bytecode(target, compiler)
        write_build_info(target, python_version, bytecode=compiler is not None, native=native)
        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(target.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(target))
    return output, native


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--output", type=Path, default=ROOT / "dist" / "bazooka-lambda.zip")
    parser.add_argument(
        "--require-bytecode",
        action="store_true",
        help="fail, building nothing, when no interpreter of the target version is available",
    )
    parser.add_argument(
        "--require-c-encoder",
        action="store_true",
        help="fail when the Vulcan send's C encoder cannot be built (the container image)",
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
        if not c_encoders(args.install_into):
            if args.require_c_encoder:
                print(
                    "error: --require-c-encoder: the C encoder was not built (is a C compiler "
                    "installed, and are the interpreter's headers, Python.h, there?)",
                    file=sys.stderr,
                )
                return 1
            print(
                "warning: no C encoder built (no C compiler?): the send encodes in Python",
                file=sys.stderr,
            )
        compile_bytecode(args.install_into, sys.executable)
        here = f"{sys.version_info.major}.{sys.version_info.minor}"
        write_build_info(
            args.install_into,
            here,
            bytecode=True,
            native=bool(c_encoders(args.install_into)),
            machine=platform.machine(),
        )
        print(f"installed into {args.install_into}; handler: bazooka.lambda_handler.handler")
        return 0
    compiler = compiler_for(args.python_version)
    if args.require_bytecode and compiler is None:
        print(
            f"error: --require-bytecode: no python{args.python_version} on PATH to compile with",
            file=sys.stderr,
        )
        return 1
    path, native = build(args.python_version, args.output, compiler)
    if args.require_c_encoder and not native:
        path.unlink()
        print(
            f"error: --require-c-encoder: no C encoder for python{args.python_version} (it "
            "needs that interpreter on x86_64 Linux with a C compiler); no zip written",
            file=sys.stderr,
        )
        return 1
    size = path.stat().st_size / 2**20
    print(
        f"built {path} ({size:.1f} MiB) for CPython {args.python_version} x86_64; "
        "handler: bazooka.lambda_handler.handler; "
        + ("bytecode included" if compiler else "NO bytecode")
        + ("; C encoder included" if native else "; NO C encoder")
    )
    if not native:
        print(
            "warning: the zip has no C encoder for the Vulcan send (it needs "
            f"python{args.python_version} on x86_64 Linux with a C compiler); the send will "
            "encode in Python and take about 1.7 times as long.",
            file=sys.stderr,
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
