"""Messages read as sentences: wrapped driver lines, prefixes said once."""

from __future__ import annotations

from bazooka.errors import UnknownMigrations
from bazooka.postgres.connection import one_line
from bazooka.status import cannot_verify


def test_wrapped_driver_lines_are_joined_as_sentences() -> None:
    libpq = (
        'connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
        "\tIs the server running on that host and accepting TCP/IP connections?\n"
    )
    assert one_line(Exception(libpq)) == (
        'connection to server at "127.0.0.1", port 1 failed: Connection refused. Is the server '
        "running on that host and accepting TCP/IP connections?"
    )
    assert one_line(Exception("done.\nnext")) == "done. next"
    assert one_line(Exception("DETAIL:\n  the rest")) == "DETAIL: the rest"
    assert one_line(Exception("no stop at the end")) == "no stop at the end"
    assert one_line(Exception("")) == "Exception"


def test_status_says_cannot_verify_once() -> None:
    error = UnknownMigrations("Cannot verify: the database records 1 migration(s) ...")
    assert cannot_verify(error) == "cannot verify: the database records 1 migration(s) ..."
    assert cannot_verify(RuntimeError("boom")) == "cannot verify: boom"
