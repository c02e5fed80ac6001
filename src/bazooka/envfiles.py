"""``.env`` files for the command line, read as the original's local start reads them.

The original starts with ``node -r dotenv-flow/config`` (dotenv-flow 3.2, dotenv 8.6), which
reads these files from the working directory, highest precedence first:

1. the real environment: a variable present there, even empty, is never replaced;
2. ``.env.<NODE_ENV>.local``;
3. ``.env.local``, skipped when NODE_ENV is ``test`` (tests should read the same for everyone);
4. ``.env.<NODE_ENV>``;
5. ``.env``;
6. ``.env.defaults``.

NODE_ENV choosing the files is the real environment's (``DEFAULT_NODE_ENV`` when it is unset or
empty), never a file's: without it only ``.env.local``, ``.env`` and ``.env.defaults`` count.
A NODE_ENV set in a file still becomes the setting, like any other variable.

Files are parsed by python-dotenv, without interpolation: dotenv 8 expands nothing, so
``$`` and ``${...}`` in a value (a password) stay as written. A name without ``=`` sets nothing;
a line python-dotenv cannot parse is skipped and reported as a warning naming file and line.
The values found join the process environment (as dotenv-flow does), so libpq's ``PG*``
variables in a file apply too. Only the CLI reads files; the Lambda handler reads none.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from bazooka.errors import ConfigError
from bazooka.logs import emit

log = logging.getLogger(__name__)


def file_names(node_env: str | None) -> list[str]:
    """The files dotenv-flow reads for ``node_env``, highest precedence first."""
    names: list[str] = []
    # A NODE_ENV that is not a plain name (settings refuse it anyway) names no file.
    specific = bool(node_env) and "/" not in (node_env or "") and os.sep not in (node_env or "")
    if specific:
        names.append(f".env.{node_env}.local")
    if node_env != "test":
        names.append(".env.local")
    if specific:
        names.append(f".env.{node_env}")
    names += [".env", ".env.defaults"]
    return names


@dataclass(frozen=True)
class EnvFiles:
    """What the ``.env`` files of one directory add to an environment."""

    directory: str
    read: tuple[str, ...] = ()
    """The files read, as shown to the operator (``./.env.local``), highest precedence first."""
    values: dict[str, str] = field(default_factory=dict)
    """Variables the files set and the environment does not."""
    sources: dict[str, str] = field(default_factory=dict)
    """For each variable in :attr:`values`, the file it comes from."""
    warnings: tuple[str, ...] = ()

    def apply(self, environ: MutableMapping[str, str]) -> None:
        """Add the files' values to ``environ`` without replacing anything already there."""
        for name, value in self.values.items():
            environ.setdefault(name, value)

    def log_warnings(self) -> None:
        for warning in self.warnings:
            emit(log, logging.WARNING, "envfiles#read", warning)

    def to_dict(self) -> dict[str, object]:
        return {"directory": self.directory, "read": list(self.read)}

    def describe(self) -> str:
        """One line for ``bazooka status``."""
        if not self.read:
            return f"Environment files: none in {self.directory} (environment only)"
        return f"Environment files (highest precedence first): {', '.join(self.read)}"


def read_env_files(directory: str | None, environ: Mapping[str, str]) -> EnvFiles:
    """Read the ``.env`` files of ``directory`` (default: the working directory) that
    ``environ``'s NODE_ENV selects. Raise :class:`ConfigError` naming the file when one cannot
    be read, or when ``directory`` is not a directory."""
    shown_dir = directory if directory is not None else "."
    if directory is not None and not Path(directory).is_dir():
        raise ConfigError(f"Invalid configuration: --env-dir {directory} is not a directory")
    node_env = environ.get("NODE_ENV") or environ.get("DEFAULT_NODE_ENV") or None
    read: list[str] = []
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    warnings: list[str] = []
    for name in file_names(node_env):
        path = shown_dir + ("" if shown_dir.endswith("/") else "/") + name  # ./.env as typed
        # Only regular files: a directory named .env is often a virtualenv.
        if not Path(path).is_file():
            continue
        parsed, problems = _parse(path)
        read.append(path)
        warnings += problems
        for key, value in parsed.items():
            # Files come highest precedence first: the first one to set a variable wins; the
            # real environment wins over all of them.
            if value is None or key in values or key in environ:
                continue
            values[key] = value
            sources[key] = path
    return EnvFiles(shown_dir, tuple(read), values, sources, tuple(warnings))


class _Collect(logging.Handler):
    """python-dotenv's warnings, as "line N: ..." (it logs one per line it cannot parse)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "could not parse" in str(record.msg) and isinstance(record.args, tuple):
            self.messages.append(f"line {record.args[0]} cannot be parsed")
        else:
            self.messages.append(record.getMessage())


def _parse(path: str) -> tuple[dict[str, str | None], list[str]]:
    from dotenv import dotenv_values  # noqa: PLC0415 - the CLI only, never the Lambda handler

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"Invalid configuration: {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"Invalid configuration: cannot read {path}: {exc.strerror}") from None
    # python-dotenv logs the lines it cannot parse; collect them to name the file as well.
    dotenv_log = logging.getLogger("dotenv.main")
    collect = _Collect()
    propagate, level = dotenv_log.propagate, dotenv_log.level
    dotenv_log.addHandler(collect)
    dotenv_log.propagate = False
    dotenv_log.setLevel(logging.WARNING)
    try:
        parsed = dotenv_values(stream=io.StringIO(text), interpolate=False)
    finally:
        dotenv_log.removeHandler(collect)
        dotenv_log.propagate = propagate
        dotenv_log.setLevel(level)
    problems = [f"{path}, {message}: skipped" for message in collect.messages]
    return dict(parsed), problems
