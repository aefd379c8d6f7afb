import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.storage import (
    Database,
    DatabaseClosedError,
    MigrationError,
    latest_schema_version,
    load_migrations,
)
from bot.storage.migrations import split_statements

from .conftest import log

EXPECTED_TABLES = {
    "schema_migrations",
    "queries",
    "feedback",
    "subscriptions",
    "deliveries",
    "documents",
}


@pytest.fixture
def backend() -> str:
    """This module checks the SQLite file itself (pragmas, WAL, backups)."""
    return "sqlite"


def _tables(path: Path) -> set[str]:
    assert path.exists(), f"{path} was not created"
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _migration_rows(path: Path) -> list[tuple[int, str, float]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
        ).fetchall()


async def test_open_creates_parent_folder_and_full_schema(db: Database, db_path: Path) -> None:
    assert _tables(db_path) >= EXPECTED_TABLES
    assert await db.schema_version() == latest_schema_version() == db.latest_schema_version()
    assert latest_schema_version() >= 1


async def test_connection_uses_wal_busy_timeout_and_foreign_keys(db: Database) -> None:
    assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"
    assert (await db.fetchone("PRAGMA busy_timeout"))[0] == 5000
    assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
    assert (await db.fetchone("PRAGMA synchronous"))[0] == 1  # NORMAL


async def test_migrations_apply_once_and_reopen_is_a_no_op(db_path: Path) -> None:
    first = await Database.open(db_path, now=100.0)
    await log(first)
    await first.close()
    rows_after_first_open = _migration_rows(db_path)
    assert [version for version, _, _ in rows_after_first_open] == list(
        range(1, latest_schema_version() + 1)
    )

    second = await Database.open(db_path, now=200.0)
    try:
        assert await second.schema_version() == latest_schema_version()
        assert await second.queries.count() == 1
    finally:
        await second.close()
    # Reopening neither re-ran nor re-stamped any migration.
    assert _migration_rows(db_path) == rows_after_first_open
    assert all(applied_at == 100.0 for _, _, applied_at in rows_after_first_open)


@pytest.mark.parametrize(
    ("filename", "body", "message"),
    [
        ("0001_first.sql", "CREATE TABLE a (x);\n", "reason"),
        ("0002_gap.sql", "-- Skips a number.\nCREATE TABLE a (x);\n", "without gaps"),
        ("1_short.sql", "-- Bad name.\nCREATE TABLE a (x);\n", "NNNN_name"),
        ("0001_open.sql", "-- Unterminated.\nCREATE TABLE a (x)\n", "incomplete"),
    ],
)
def test_malformed_migration_files_are_rejected(
    tmp_path: Path, filename: str, body: str, message: str
) -> None:
    (tmp_path / filename).write_text(body)
    with pytest.raises(MigrationError, match=message):
        load_migrations(tmp_path)


def test_shipped_migrations_each_state_a_reason() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.reason for m in migrations)


def test_statement_splitting_keeps_semicolons_inside_strings_and_triggers() -> None:
    script = (
        "-- reason\n"
        "CREATE TABLE t (x TEXT DEFAULT 'a;b');\n"
        "CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN UPDATE t SET x = 'c;d'; END;\n"
        "-- trailing comment\n"
    )
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].endswith("END;")


async def test_failed_transaction_leaves_no_trace(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction():
            await db.execute(
                "INSERT INTO documents (doc_id, content_hash, title, first_seen_at, "
                "last_seen_at) VALUES ('d', 'h', 't', 1, 1)"
            )
            raise RuntimeError("boom")
    assert await db.documents.get("d") is None
    # The connection is usable again afterwards.
    await db.documents.sync([("d", "h", "t")], now=1.0)
    assert await db.documents.get("d") is not None


async def test_cancelled_transaction_rolls_back_and_releases_the_lock(db: Database) -> None:
    entered = asyncio.Event()

    async def slow_writer() -> None:
        async with db.transaction():
            await db.execute(
                "INSERT INTO documents (doc_id, content_hash, title, first_seen_at, "
                "last_seen_at) VALUES ('x', 'h', 't', 1, 1)"
            )
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow_writer())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.wait_for(db.documents.get("x"), timeout=2) is None
    assert await asyncio.wait_for(log(db), timeout=2) == 1


async def test_writes_outside_a_transaction_and_nested_transactions_are_refused(
    db: Database,
) -> None:
    with pytest.raises(RuntimeError, match="inside"):
        await db.execute("DELETE FROM queries")
    async with db.transaction():
        with pytest.raises(RuntimeError, match="nest"):
            async with db.transaction():
                pass


async def test_close_is_idempotent_and_later_use_fails_clearly(db_path: Path) -> None:
    db = await Database.open(db_path)
    await log(db)
    await db.close()
    await db.close()
    assert db.closed
    with pytest.raises(DatabaseClosedError):
        await db.queries.count()
    # Closing checkpointed the WAL, so the main file alone holds the data.
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM queries").fetchone()[0] == 1


async def test_async_context_manager_closes(db_path: Path) -> None:
    async with await Database.open(db_path) as db:
        await log(db)
    assert db.closed


async def test_integrity_check_reports_ok(db: Database) -> None:
    await log(db)
    assert await db.integrity_check() == ["ok"]


async def test_backup_is_a_complete_healthy_copy(db: Database, tmp_path: Path) -> None:
    for i in range(25):
        await log(db, f"question {i}")
    await db.subscriptions.subscribe(
        guild_id=1, channel_id=2, topic="Elections", cadence="daily",
        created_by=3, now=10.0, first_due_at=20.0,
    )  # fmt: skip
    dest = tmp_path / "backups" / "copy.db"

    await db.backup(dest)
    await log(db, "asked after the backup")

    assert not dest.with_name("copy.db.partial").exists()
    async with await Database.open(dest) as copy:
        assert await copy.integrity_check() == ["ok"]
        assert await copy.schema_version() == latest_schema_version()
        assert await copy.queries.count() == 25
        assert [s.topic for s in await copy.subscriptions.for_channel(2)] == ["Elections"]
    # A second backup replaces the first.
    await db.backup(dest)
    async with await Database.open(dest) as copy:
        assert await copy.queries.count() == 26


async def test_backup_onto_the_live_file_is_refused(db: Database, db_path: Path) -> None:
    with pytest.raises(ValueError, match="onto itself"):
        await db.backup(db_path)
    assert await db.integrity_check() == ["ok"]


async def test_two_databases_on_one_file_both_write(db_path: Path) -> None:
    """Two processes opening the same file wait for each other rather than failing."""
    first, second = await asyncio.gather(Database.open(db_path), Database.open(db_path))
    try:
        await asyncio.gather(
            *(log(first, f"first {i}") for i in range(100)),
            *(log(second, f"second {i}") for i in range(100)),
        )
        assert await first.queries.count() == 200
        assert await second.queries.count() == 200
        questions = {
            (await first.queries.get(i)).question
            for i in range(1, 201)  # type: ignore[union-attr]
        }
        assert questions == {f"first {i}" for i in range(100)} | {f"second {i}" for i in range(100)}
    finally:
        await first.close()
        await second.close()
    assert _migration_rows(db_path)[-1][0] == latest_schema_version()


async def test_many_connections_opening_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Racing to switch a new file to WAL is retried, not reported as "database is locked"."""
    for round_ in range(20):
        path = tmp_path / f"race{round_}.sqlite3"
        opened = await asyncio.gather(*(Database.open(path) for _ in range(4)))
        try:
            for db in opened:
                assert await db.integrity_check() == ["ok"]
        finally:
            for db in opened:
                await db.close()
        assert _migration_rows(path)[-1][0] == latest_schema_version()


async def test_concurrent_closes_log_no_checkpoint_traceback(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Several consoles leaving at once: each close tries to checkpoint the same WAL,
    and one that finds another checkpoint running is not an error."""
    with caplog.at_level("INFO", logger="bot.storage.database"):
        for _ in range(5):
            dbs = [await Database.open(db_path) for _ in range(6)]
            for n, db in enumerate(dbs):
                await log(db, f"question {n}")
            await asyncio.gather(*(db.close() for db in dbs))
    assert not [r for r in caplog.records if r.exc_info or r.levelname == "WARNING"]
