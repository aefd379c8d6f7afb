"""Numbered SQL migration files: discovery, validation and statement splitting."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from .errors import MigrationError

_FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: its version, name, one-line reason and SQL statements."""

    version: int
    name: str
    reason: str
    statements: tuple[str, ...]


BACKENDS = ("sqlite", "postgresql")


def load_migrations(
    directory: Traversable | Path | None = None, *, backend: str = "sqlite"
) -> tuple[Migration, ...]:
    """Read and validate every NNNN_name.sql file, ordered by version.

    Versions must run 1, 2, 3, ... without gaps, and every file must open with a
    `-- reason` line, so the history stays readable and a missing file is caught early.
    Each backend has its own folder (migrations/sqlite, migrations/postgresql); the
    two share version numbers and names, so a version means the same schema on both.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    folder = (
        directory
        if directory is not None
        else resources.files(__package__) / "migrations" / backend
    )
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILENAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file name {entry.name!r} is not NNNN_name.sql")
        text = entry.read_text(encoding="utf-8")
        first_line = text.split("\n", 1)[0].strip()
        reason = first_line.removeprefix("--").strip()
        if not first_line.startswith("--") or not reason:
            raise MigrationError(f"{entry.name} must start with a one-line '-- reason' comment")
        statements = split_statements(text)
        if not statements:
            raise MigrationError(f"{entry.name} contains no SQL statements")
        found.append(
            Migration(
                version=int(match["version"]),
                name=match["name"],
                reason=reason,
                statements=statements,
            )
        )
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration versions must be 1..N without gaps; expected {expected:04d}, "
                f"found {migration.version:04d}_{migration.name}.sql"
            )
    return tuple(found)


def split_statements(script: str) -> tuple[str, ...]:
    """Split a script into single statements, honouring strings, comments and triggers.

    `executescript` would commit any open transaction first, so migrations are run one
    statement at a time inside the caller's transaction instead.
    """
    statements: list[str] = []
    start = 0
    for position, char in enumerate(script):
        if char != ";":
            continue
        candidate = script[start : position + 1]
        if sqlite3.complete_statement(candidate):
            if _strip_comments(candidate).strip(" \t\r\n;"):
                statements.append(candidate.strip())
            start = position + 1
    if _strip_comments(script[start:]).strip():
        raise MigrationError("migration ends with an incomplete statement (missing ';'?)")
    return tuple(statements)


def _strip_comments(sql: str) -> str:
    """Remove whole-line `--` comments; enough to tell a comment-only tail from SQL."""
    return "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
