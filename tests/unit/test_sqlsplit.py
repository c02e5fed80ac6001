"""Statement splitting for migrations that run outside a transaction."""

from __future__ import annotations

import pytest

from bazooka.postgres.sqlsplit import has_code, split_statements, tokens, words


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


def test_backslash_escapes_in_e_strings_do_not_end_the_string() -> None:
    """``E'it\\'s; fine'``: the escaped quote does not close the string, so its ``;`` is data.
    In a standard string a backslash is an ordinary character."""
    assert split_statements(r"SELECT E'it\'s; fine\\'; SELECT 'a\'; SELECT 3") == [
        r"SELECT E'it\'s; fine\\'",
        r"SELECT 'a\'",
        "SELECT 3",
    ]


def test_dollars_inside_identifiers_are_not_dollar_quotes() -> None:
    assert split_statements("SELECT a$b$c; SELECT 2") == ["SELECT a$b$c", "SELECT 2"]


def test_nested_block_comments_and_comment_markers_in_strings() -> None:
    assert split_statements("/* a /* b; */ c; */ SELECT '--;'; SELECT '/*'") == [
        "/* a /* b; */ c; */ SELECT '--;'",
        "SELECT '/*'",
    ]
    assert has_code("SELECT '/*' -- x")


def test_tokens_are_the_words_parameters_and_comments_outside_literals() -> None:
    sql = "INSERT INTO t VALUES ($1, E'$2 \\' x', $3) -- $4\n/* $5 */"
    assert [(t.kind, t.text) for t in tokens(sql) if t.kind != "word"] == [
        ("param", "$1"),
        ("param", "$3"),
        ("line_comment", "-- $4"),
        ("block_comment", "/* $5 */"),
    ]
    assert words(sql) == ["insert", "into", "t", "values"]
