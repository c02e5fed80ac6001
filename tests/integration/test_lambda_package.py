"""The Lambda zip: built by the project's script, installed into a clean directory, imported
from there alone and invoked with an event against the local services."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import MIGRATIONS, ROOT
from tools.scripts import load_script

INVOKE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import bazooka
from bazooka.lambda_handler import handler
assert bazooka.__file__.startswith(sys.argv[1]), bazooka.__file__

class Context:  # what the Lambda runtime passes (bazooka.lambda_handler.LambdaContext)
    function_name = "bazooka-zip-test"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:012345678912:function:bazooka-zip-test"
    aws_request_id = "zip-test"

    def get_remaining_time_in_millis(self):
        return 600_000

print("RESULT " + json.dumps(handler(json.loads(sys.argv[2]), Context())))
"""


def test_zip_installs_into_a_clean_directory_and_handles_an_event(
    tmp_path: Path, scratch_db: dict[str, str], lambda_zip: Path
) -> None:
    task_root = tmp_path / "task"
    with zipfile.ZipFile(lambda_zip) as archive:
        names = archive.namelist()
        assert "bazooka/lambda_handler.py" in names
        assert not any(n.startswith(("grpc/", "grpc_tools/")) for n in names)  # trimmed
        # The maintainers' tools and the tests stay in the checkout.
        assert not any(n.startswith(("tools/", "tests/", "scripts/", "bench/")) for n in names)
        # Bytecode for the target version, valid whatever the file times in the zip.
        tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
        pyc = f"bazooka/__pycache__/lambda_handler.{tag}.pyc"
        assert pyc in names
        assert int.from_bytes(archive.read(pyc)[4:8], "little") == 0b01  # hash, unchecked
        assert f"psycopg/__pycache__/connection.{tag}.pyc" in names
        archive.extractall(task_root)
    # Python really loads it from there (read-only on Lambda, so it could not write its own).
    loaded = subprocess.run(
        [
            sys.executable,
            "-S",
            "-v",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import bazooka.lambda_handler",
            str(task_root),
        ],
        env={"PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"{task_root / pyc} matches {task_root / 'bazooka' / 'lambda_handler.py'}" in (
        loaded.stderr
    )
    # -S: no site-packages at all, so every import must come from the unpacked zip.
    result = subprocess.run(
        [sys.executable, "-S", "-c", INVOKE, str(task_root), json.dumps({"migrate": True})],
        env={k: v for k, v in scratch_db.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["message"] == "success"
    assert body["report"]["steps"][0]["details"]["applied_count"] == MIGRATIONS
    # The package data (data/baseline.sql) made it into the zip: an empty database took it.
    assert body["report"]["steps"][0]["details"]["path"] == "baseline"


def test_the_plans_parser_is_in_the_zip_and_the_handler_does_not_load_it(
    tmp_path: Path, lambda_zip: Path
) -> None:
    """pglast (the plan's lock report) is a dependency like any other, so the zip has it and it
    loads from there; the handler (no dry run) never imports it."""
    with zipfile.ZipFile(lambda_zip) as archive:
        assert any(n.startswith("pglast/parser.") and n.endswith(".so") for n in archive.namelist())
        archive.extractall(tmp_path)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import bazooka.lambda_handler\n"
        "assert 'pglast' not in sys.modules\n"
        "from bazooka.postgres.lock_plan import classify_sql\n"
        "[s] = classify_sql('create index i on oracle_prices (x)')\n"
        "print(s.kind, s.tables[0].lock)\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "CREATE INDEX SHARE"


def test_the_image_installs_what_the_zip_holds(tmp_path: Path, lambda_zip: Path) -> None:
    """The Dockerfile's builder runs the zip's own installation (one requirements filter, not
    two), and its other RUN only installs the compiler; run here for this interpreter, that
    installation lays out exactly the files the zip holds."""
    root = Path(__file__).resolve().parents[2]
    dockerfile = (root / "Dockerfile").read_text()
    runs = [line for line in dockerfile.splitlines() if line.startswith("RUN ")]
    install = "python3 scripts/build_lambda_zip.py --install-into /build/task --require-c-encoder"
    assert runs == ["RUN dnf install -y gcc && dnf clean all", f"RUN {install}"]
    assert "COPY --from=builder /build/task/ ${LAMBDA_TASK_ROOT}/" in dockerfile
    target = tmp_path / "task-root"
    subprocess.run(
        [
            sys.executable,
            str(root / "scripts" / "build_lambda_zip.py"),
            "--install-into",
            str(target),
        ],
        check=True,
        capture_output=True,
        timeout=900,
    )
    installed = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    with zipfile.ZipFile(lambda_zip) as archive:
        shipped = {name for name in archive.namelist() if not name.endswith("/")}
    assert installed == shipped


def test_the_zip_records_the_python_version_it_was_built_for(lambda_zip: Path) -> None:
    with zipfile.ZipFile(lambda_zip) as archive:
        info = json.loads(archive.read("bazooka-lambda-build.json"))
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert info["python_version"] == here
    assert info["bytecode"] is True and info["platform"] == "x86_64 Linux"


def test_the_emulator_refuses_a_zip_built_for_another_python(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 3.12 zip on the 3.11 .venv failed only at the first Kafka import (cimpl)."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    other = "3.12" if here != "3.12" else "3.11"
    built = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_lambda_zip.py"),
            "--python-version",
            other,
            "--output",
            str(tmp_path / "other.zip"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    task = tmp_path / "task"
    with zipfile.ZipFile(tmp_path / "other.zip") as archive:
        archive.extractall(task)
    rie = load_script("lambda_rie")

    assert rie.main(["serve", str(task), "--python", sys.executable]) == 1
    err = capsys.readouterr().err
    assert f"built for Python {other}, but the emulator would run it on Python {here}" in err
    assert f"--python-version {here}" in err

    bootstrap = rie.prepare_runtime(tmp_path / "runtime", sys.executable)
    with pytest.raises(rie.EmulatorError, match=f"built for Python {other}"):
        rie.Emulator(task, bootstrap, {}, tmp_path / "emulator.log")
