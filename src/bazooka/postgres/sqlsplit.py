"""Bazooka's one SQL lexer: split a script into statements, and the words, ``$n`` parameters
and comments of SQL text, as PostgreSQL's own lexer sees them.

PostgreSQL runs a multi-statement query string as one implicit transaction, where
``CREATE INDEX CONCURRENTLY`` is refused; such migrations are sent one statement at a time
(:func:`split_statements`). The porting tool (``tools/porting``) reads the statements Knex sent
with :func:`tokens`. The lexer understands quoted strings (``E''`` strings with their backslash
escapes included), quoted identifiers, dollar quoting and both comment styles (block comments
nest); a ``;``, a word or a ``$1`` inside any of them is data, not code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# The start of everything the lexer must see; the rest (spaces, digits, operators) is skipped
# by the regular expression engine. An identifier starts with a letter, ``_`` or any non-ASCII
# character and goes on with those, digits and ``$`` (``a$1`` is one word), as PostgreSQL's
# lexer has it. The classes are written as negated ASCII sets: a positive ``\u0080-\uffff``
# range takes 25 times as long to compile (15 ms, at every cold start).
_START = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"  # A-Z a-z _ and non-ASCII
_GOES_ON = r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"  # and 0-9
_WORD_GOES_ON = r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"  # and $
_TOKEN = re.compile(
    rf"""
      (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*)
    | (?P<estring>[eE]')
    | (?P<string>')
    | (?P<ident>")
    | (?P<dollar>\$(?:{_START}{_GOES_ON}*)?\$)
    | (?P<param>\$[0-9]+)
    | (?P<word>{_START}{_WORD_GOES_ON}*)
    | (?P<semicolon>;)
    """,
    re.VERBOSE,
)
COMMENTS = frozenset({"line_comment", "block_comment"})
_QUOTES = {"string": "'", "estring": "'", "ident": '"'}


@dataclass(frozen=True)
class Token:
    """A lexical piece of SQL that matters here."""

    kind: str  # "word" | "param" | "semicolon" | "line_comment" | "block_comment"
    start: int
    end: int
    text: str


def tokens(sql: str) -> Iterator[Token]:
    """Words, ``$n`` parameters, ``;`` and comments of ``sql``, in order.

    Quoted strings (``E''`` strings included), quoted identifiers and dollar-quoted bodies are
    skipped. Raises ValueError on an unterminated string, identifier, body or comment.
    """
    for kind, start, end in _scan(sql):
        yield Token(kind, start, end, sql[start:end])


def split_statements(script: str) -> list[str]:
    """Statements of ``script`` without their terminating ``;``; comment-only parts dropped."""
    statements: list[str] = []
    start = 0
    code = False  # whether the current statement holds anything but comments so far
    last = 0  # where the text not yet looked at for code starts
    for kind, token_start, token_end in _scan(script):
        if kind in COMMENTS:
            code = code or bool(script[last:token_start].strip())
            last = token_end
        elif kind == "semicolon":
            if code or script[last:token_start].strip():
                statements.append(script[start:token_start].strip())
            start = last = token_end
            code = False
    if code or script[last:].strip():
        statements.append(script[start:].strip())
    return statements


def has_code(text: str) -> bool:
    """True when ``text`` holds anything but whitespace and comments."""
    last = 0
    for token in tokens(text):
        if token.kind in COMMENTS:
            if text[last : token.start].strip():
                return True
            last = token.end
    return bool(text[last:].strip())


def words(sql: str) -> list[str]:
    """The lower-cased words of ``sql`` outside literals and comments."""
    return [t.text.lower() for t in tokens(sql) if t.kind == "word"]


def _scan(sql: str) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) of each token :func:`tokens` yields, without making the objects."""
    i = 0
    search = _TOKEN.search
    while (match := search(sql, i)) is not None:
        kind = match.lastgroup or ""
        start, end = match.span()
        if kind == "block_comment":
            end = _block_comment_end(sql, start)
        elif kind in _QUOTES:
            i = _quoted_end(sql, end, _QUOTES[kind], kind == "estring")
            continue
        elif kind == "dollar":
            close = sql.find(match.group(), end)
            if close == -1:
                raise ValueError(f"unterminated dollar-quoted string starting at offset {start}")
            i = close + len(match.group())
            continue
        yield kind, start, end
        i = end


def _block_comment_end(sql: str, i: int) -> int:
    depth = 0
    n = len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    raise ValueError("unterminated /* comment")


def _quoted_end(sql: str, i: int, quote: str, backslashes: bool) -> int:
    """The offset after the quote closing the literal whose body starts at ``i``. A doubled
    quote stands for itself; in an ``E''`` string, a backslash escapes the next character."""
    n = len(sql)
    while i < n:
        ch = sql[i]
        if backslashes and ch == "\\":
            i += 2
        elif ch == quote:
            if sql.startswith(quote, i + 1):
                i += 2
                continue
            return i + 1
        else:
            i += 1
    raise ValueError(f"unterminated {quote} quote")
