"""bench/free_encode_src.py: the copy it writes sends constant messages instead of encoding,
keeps everything else, and the script refuses a share.py it does not recognise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench import free_encode_src

from tests.helpers import ROOT

# In the copy: the stub's messages for an order without a fill and one with, and the source of
# send_share (which must call the stub, not convert).
PROBE = """
import inspect, json
from bazooka.vulcan import share
row = ["0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"] + [None] * 23 + ["{filled}", None]
m = share._free_encode(tuple(row))
print(json.dumps({{
    "file": share.__file__,
    "key": m.key.decode(), "place": len(m.place),
    "update": None if m.update is None else len(m.update),
    "stub_called": "_free_encode(row)" in inspect.getsource(share.send_share),
    "fast_path_called": "fast(row)" in inspect.getsource(share.send_share),
}}))
"""


def _probe(src: Path, filled: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(filled=filled)],
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


def test_the_copy_sends_constant_messages_keyed_by_the_order_id(tmp_path: Path) -> None:
    assert free_encode_src.main([str(tmp_path)]) == 0
    unfilled, filled = _probe(tmp_path, "0"), _probe(tmp_path, "1234")
    assert Path(str(unfilled["file"])).is_relative_to(tmp_path)  # the copy, not the checkout
    assert unfilled["stub_called"] and not unfilled["fast_path_called"]
    assert unfilled["key"] == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    assert (unfilled["place"], unfilled["update"]) == (70, None)
    assert (filled["place"], filled["update"]) == (70, 43)
    # The checkout itself is untouched.
    assert "_free_encode" not in (ROOT / "src" / "bazooka" / "vulcan" / "share.py").read_text()


def test_a_share_py_without_the_call_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "checkout" / "bazooka"
    (package / "vulcan").mkdir(parents=True)
    (package / "vulcan" / "share.py").write_text(
        "from bazooka.vulcan.wire import encode_row, encode_values\nmessages = slow(row)\n"
    )
    monkeypatch.setattr(free_encode_src, "PACKAGE", package)
    with pytest.raises(SystemExit, match="fast"):
        free_encode_src.write_copy(tmp_path / "out")
