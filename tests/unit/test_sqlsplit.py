"""Statement splitting for migrations that run outside a transaction."""

from __future__ import annotations

import pytest

from bazooka.postgres.sqlsplit import has_code, split_statements


def test_splits_on_semicolons_outside_quotes_and_comments() -> None:
    script = """-- bazooka:no-transaction
    -- a comment; with a semicolon
    CREATE INDEX CONCURRENTLY a ON t ("x;y") WHERE s = 'a;b' ;
    /* block; comment */ DROP INDEX CONCURRENTLY IF EXISTS b;
    SELECT $$ body; here $$, $tag$ more; $tag$;
    """
    assert split_statements(script) == [
        "-- bazooka:no-transaction\n    -- a comment; with a semicolon\n    "
        "CREATE INDEX CONCURRENTLY a ON t (\"x;y\") WHERE s = 'a;b'",
        "/* block; comment */ DROP INDEX CONCURRENTLY IF EXISTS b",
        "SELECT $$ body; here $$, $tag$ more; $tag$",
    ]


def test_doubled_quotes_and_trailing_statement_without_semicolon() -> None:
    assert split_statements("SELECT 'it''s; fine'; SELECT 2") == [
        "SELECT 'it''s; fine'",
        "SELECT 2",
    ]


def test_comment_only_scripts_have_no_statements() -> None:
    assert split_statements("-- nothing\n/* at all */\n;\n") == []
    assert not has_code("-- x\n  /* y */ ")


@pytest.mark.parametrize("bad", ["SELECT 'open", 'SELECT "open', "SELECT $$ open", "/* open"])
def test_unterminated_input_is_an_error(bad: str) -> None:
    with pytest.raises(ValueError, match="unterminated"):
        split_statements(bad)
