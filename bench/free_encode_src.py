"""Write a copy of this checkout's ``bazooka`` package whose send does no convert or encode.

    .venv/bin/python bench/free_encode_src.py /tmp/free/src
    .venv/bin/python bench/bench_vulcan.py --db <kept> --runs 3 --compare-src /tmp/free/src

A bound, not a variant to ship: in the copy, each order's ``encode_row(row)`` (the C fast path:
the row checked and encoded, its key hashed) is replaced by constant messages of the average
sizes the benchmark's data encode to (place 70 bytes, update 43), keyed by the order id's text
(36 bytes), the update sent when the order has a fill, as the real send does; the stub never
leaves a row to ``convert``. Every other part runs as it is: interpreter start, worker
processes, the query, the producer, every delivery report. ``bench_vulcan.py --compare-src``
alternates runs of the real code with the copy: the difference is all that any faster convert
and encode could still save on this machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "bazooka"
# Each must occur once in vulcan/share.py: the call replaced, and the import of the type the
# stub returns.
REPLACEMENTS = (
    ("messages = fast(row)", "messages = _free_encode(row)"),
    (
        "from bazooka.vulcan.wire import encode_row, encode_values",
        "from bazooka.vulcan.wire import VulcanMessages, encode_row, encode_values",
    ),
)
# Columns of the row (translate.OrderRow): 0 the order id, 24 the scaled totalFilled as text.
DEFINITION = """

# bench/free_encode_src.py: constant messages instead of convert + encode (a bound only).
_FREE_PLACE = b"p" * 70
_FREE_UPDATE = b"u" * 43


def _free_encode(row: tuple[object, ...]) -> VulcanMessages:
    update = _FREE_UPDATE if row[24] not in (None, "0") else None
    return VulcanMessages(str(row[0]).encode(), _FREE_PLACE, update)
"""


def write_copy(out: Path) -> Path:
    """Copy the package into ``out``/bazooka with the stub in ``vulcan/share.py``."""
    target = out / "bazooka"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    share = target / "vulcan" / "share.py"
    text = share.read_text()
    for old, new in REPLACEMENTS:
        if text.count(old) != 1:
            raise SystemExit(f"{share}: expected {old!r} once; update bench/free_encode_src.py")
        text = text.replace(old, new)
    share.write_text(text + DEFINITION)
    return target


def main(argv: list[str] | None = None) -> int:
    """Write the copy and say how to time it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory to hold the copy (like a src/)")
    args = parser.parse_args(argv)
    target = write_copy(args.out)
    print(f"wrote {target} (convert + encode replaced by constant messages)")
    print(f"time it with: bench/bench_vulcan.py --db <kept> --compare-src {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
