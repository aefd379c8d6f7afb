"""The migration mechanism both backends share: refusing a newer schema, applying the
pending files all together or not at all, and several processes opening at once."""

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from bot.storage import (
    Database,
    MigrationError,
    SchemaTooNewError,
    latest_schema_version,
    load_migrations,
)


async def _versions(db: Database) -> list[int]:
    rows = await db.fetchall("SELECT version FROM schema_migrations ORDER BY version")
    return [int(row[0]) for row in rows]


async def test_a_database_from_a_newer_release_is_refused(db_target: Path | str) -> None:
    newer = latest_schema_version() + 1
    async with await Database.open(db_target) as db, db.transaction():
        await db.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (newer, "future", 0.0),
        )

    with pytest.raises(SchemaTooNewError, match=f"version {newer} is newer") as info:
        await Database.open(db_target)
    assert info.value.found == newer
    assert info.value.supported == latest_schema_version()
    assert "upgrade corpusbot or restore a backup" in str(info.value)
    # The refusal changed nothing.
    async with await Database.open(db_target, existing=True) as db:
        assert await db.schema_version() == newer


async def test_pending_migrations_apply_together_or_not_at_all(
    db_target: Path | str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_notes.sql").write_text(
        "-- Notes table.\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n"
    )
    (folder / "0002_broken.sql").write_text(
        "-- Refers to a missing table.\nCREATE INDEX notes_by_x ON missing_table (x);\n"
    )

    with pytest.raises(MigrationError, match="migration 0002_broken failed"):
        await Database.open(db_target, migrations=load_migrations(folder))
    # The good first migration was rolled back with the broken second one.
    async with await Database.open(db_target, existing=True) as db:
        assert await db.schema_version() == 0
        with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedTableError)):
            await db.fetchone("SELECT COUNT(*) FROM notes")

    (folder / "0002_broken.sql").write_text(
        "-- Index notes by body.\nCREATE INDEX notes_by_body ON notes (body);\n"
    )
    async with await Database.open(db_target, migrations=load_migrations(folder), now=5.0) as db:
        assert await _versions(db) == [1, 2]
        async with db.transaction():
            await db.execute("INSERT INTO notes (id, body) VALUES (?, ?)", (1, "kept"))
        stamps = await db.fetchall("SELECT applied_at FROM schema_migrations")
        assert {float(row[0]) for row in stamps} == {5.0}


async def test_processes_opening_a_new_database_at_once_migrate_it_once(
    db_target: Path | str,
) -> None:
    opened = await asyncio.gather(*(Database.open(db_target) for _ in range(4)))
    try:
        for db in opened:
            assert await db.schema_version() == latest_schema_version()
        assert await _versions(opened[0]) == list(range(1, latest_schema_version() + 1))
    finally:
        for db in opened:
            await db.close()


async def test_applied_migrations_are_logged_by_the_backend(
    db_target: Path | str, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="bot.storage"):
        async with await Database.open(db_target):
            pass
    applied = [r for r in caplog.records if r.getMessage().startswith("Applied migration 0001_")]
    module = "database" if backend == "sqlite" else "postgres"
    assert [r.name for r in applied] == [f"bot.storage.{module}"]
