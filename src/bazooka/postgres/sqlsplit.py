"""Split a SQL script into statements, for migrations that must run outside a transaction.

PostgreSQL runs a multi-statement query string as one implicit transaction, where
``CREATE INDEX CONCURRENTLY`` is refused; such migrations are sent one statement at a time.
The splitter understands quoted strings and identifiers, dollar quoting and both comment
styles, which is all our migration files use.
"""

from __future__ import annotations

import re

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


def split_statements(script: str) -> list[str]:
    """Statements of ``script`` without their terminating ``;``; comment-only parts dropped."""
    statements: list[str] = []
    start = 0
    i = 0
    n = len(script)
    while i < n:
        ch = script[i]
        if ch == "-" and script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end == -1 else end + 1
        elif ch == "/" and script.startswith("/*", i):
            i = _skip_block_comment(script, i)
        elif ch in ("'", '"'):
            i = _skip_quoted(script, i, ch)
        elif ch == "$" and (match := _DOLLAR_TAG.match(script, i)):
            tag = match.group(0)
            end = script.find(tag, match.end())
            if end == -1:
                raise ValueError(f"unterminated dollar-quoted string starting at offset {i}")
            i = end + len(tag)
        elif ch == ";":
            _keep(statements, script[start:i])
            i += 1
            start = i
        else:
            i += 1
    _keep(statements, script[start:])
    return statements


def _skip_block_comment(script: str, i: int) -> int:
    depth = 0
    n = len(script)
    while i < n:
        if script.startswith("/*", i):
            depth += 1
            i += 2
        elif script.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise ValueError("unterminated /* comment")


def _skip_quoted(script: str, i: int, quote: str) -> int:
    i += 1
    n = len(script)
    while i < n:
        if script[i] == quote:
            if i + 1 < n and script[i + 1] == quote:  # doubled quote escapes itself
                i += 2
                continue
            return i + 1
        i += 1
    raise ValueError(f"unterminated {quote} quote")


def _keep(statements: list[str], text: str) -> None:
    if has_code(text):
        statements.append(text.strip())


def has_code(text: str) -> bool:
    """True when ``text`` holds anything but whitespace and comments."""
    stripped = re.sub(r"--[^\n]*", "", text)
    stripped = re.sub(r"/\*.*?\*/", "", stripped, flags=re.DOTALL)
    return bool(stripped.strip())
