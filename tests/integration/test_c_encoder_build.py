"""The Vulcan send's C encoder as the install builds it: in Bazooka's wheel when a C compiler is
there, left out (the install going on, the send encoding in Python) when none is."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from scripts import build_lambda_zip

# Run with -S and only the unpacked wheel, then the dependencies, on the path: neither this
# checkout's editable install nor its in-place extension can answer the import.
PROBE = """
import sys
sys.path[:0] = [sys.argv[1]]
sys.path.append(sys.argv[2])
from bazooka.vulcan import official, wire
official.self_check()
print(wire.ENCODER, wire.__file__)
"""


def _encoder_of(installed: Path) -> tuple[str, Path]:
    out = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, str(installed), sysconfig.get_paths()["purelib"]],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    return out[0], Path(out[1])


def test_the_wheel_carries_the_c_encoder(tmp_path: Path) -> None:
    build_lambda_zip.install_own_wheel(tmp_path, sys.executable)
    (so,) = build_lambda_zip.c_encoders(tmp_path)
    assert sysconfig.get_config_var("EXT_SUFFIX") in so.name  # built for this interpreter
    assert not list((tmp_path / "bazooka" / "vulcan").glob("*.c"))  # the source stays out
    encoder, wire = _encoder_of(tmp_path)
    assert encoder == "C" and wire.is_relative_to(tmp_path)


def test_without_a_c_compiler_the_install_goes_on_and_encodes_in_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC", "false")  # the compiler setuptools runs fails at once
    build_lambda_zip.install_own_wheel(tmp_path, sys.executable)
    assert build_lambda_zip.c_encoders(tmp_path) == []
    encoder, wire = _encoder_of(tmp_path)
    assert encoder == "Python" and wire.is_relative_to(tmp_path)
