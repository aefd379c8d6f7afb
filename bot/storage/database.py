"""The one owner of the bot's database connection: migrations, transactions, backup.

``Database.open(target)`` takes an SQLite file path (the embedded default) or a
``postgresql://`` URL and returns the backend for it; the repositories (queries,
subscriptions, documents, synonyms, state) are the same on both and talk to the
backend only through the statement helpers below, with ``?`` parameters.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from .documents import DocumentRepository
from .errors import ConstraintViolation, DatabaseClosedError, MigrationError, SchemaTooNewError
from .migrations import Migration, load_migrations
from .queries import QueryRepository
from .state import StateRepository
from .subscriptions import SubscriptionRepository
from .synonyms import SynonymRepository

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 5.0

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at REAL    NOT NULL
) STRICT
"""


def latest_schema_version() -> int:
    """The schema version this release's migration files bring a database up to
    (the same number on both backends)."""
    return len(load_migrations())


def is_postgres_url(target: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL, False for a file path."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def redact(target: Path | str) -> str:
    """The target fit for logs and messages: a URL's password replaced by ``***``."""
    text = str(target)
    if not is_postgres_url(text):
        return text
    scheme, _, rest = text.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return text
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


class Database:
    """The storage contract: one owner of the connection(s), the repositories, and
    statement helpers taking ``?`` parameters. Open with ``Database.open(target)``."""

    backend: str = "?"

    def __init__(self, target: Path | str) -> None:
        self._target = target
        self.queries = QueryRepository(self)
        self.subscriptions = SubscriptionRepository(self)
        self.documents = DocumentRepository(self)
        self.synonyms = SynonymRepository(self)
        self.state = StateRepository(self)

    @classmethod
    async def open(
        cls,
        target: Path | str,
        *,
        migrations: Sequence[Migration] | None = None,
        now: float | None = None,
        existing: bool = False,
    ) -> Database:
        """Open the database at ``target`` (a file path or a ``postgresql://`` URL) and
        apply pending migrations. With ``existing=True`` nothing is created or migrated:
        a missing database is an error (what ``check`` and ``backup`` need)."""
        if is_postgres_url(target):
            from .postgres import PostgresDatabase

            return await PostgresDatabase.connect(
                str(target), migrations=migrations, now=now, existing=existing
            )
        return await SqliteDatabase.connect(
            target, migrations=migrations, now=now, existing=existing
        )

    @property
    def target(self) -> Path | str:
        """Where the database lives (a path, ":memory:", or a URL)."""
        return self._target

    @property
    def path(self) -> Path | str:
        """Where the database lives (kept for callers that only know SQLite)."""
        return self._target

    def describe(self) -> str:
        """The target with any password hidden, for messages."""
        return redact(self._target)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @staticmethod
    def latest_schema_version() -> int:
        """The schema version this release's migration files bring a database up to."""
        return latest_schema_version()

    # -- what each backend provides ----------------------------------------------------

    async def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def closed(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def transaction(self) -> AbstractAsyncContextManager[None]:  # pragma: no cover
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:  # pragma: no cover
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:  # pragma: no cover
        raise NotImplementedError

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:  # pragma: no cover
        raise NotImplementedError

    async def execute_returning(
        self, sql: str, params: Sequence[Any] = ()
    ) -> Any:  # pragma: no cover
        raise NotImplementedError

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:  # pragma: no cover
        raise NotImplementedError

    # Appended to a SELECT that must lock the rows it reads until the transaction ends
    # (SQLite's single writer already holds every row).
    row_lock = ""
    # Appended to a claiming SELECT so concurrent claimers skip each other's rows.
    skip_locked = ""

    async def notify(self, channel: str, payload: str) -> None:
        """Tell other processes something changed (PostgreSQL NOTIFY); SQLite has no
        such channel, so there the others' periodic check is what notices."""

    async def listen(self, channel: str, callback: Callable[[str], Any]) -> None:
        """Call ``callback(payload)`` on each notice on ``channel``; no-op on SQLite."""

    async def lock(self, name: str) -> None:
        """Serialise the current transaction with any other process's transaction that
        locks the same name (PostgreSQL: an advisory lock until commit). SQLite's
        ``BEGIN IMMEDIATE`` already serialises every writer, so there it does nothing."""

    async def integrity_check(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    async def backup(self, dest: Path | str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def copy_to(self, path: Path | str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- schema: one migration mechanism; each backend lends it its dialect -------------

    # A query whose one value is true when the schema_migrations table exists.
    _migrations_table_exists = ""
    # CREATE TABLE IF NOT EXISTS schema_migrations, in the backend's dialect.
    _migrations_table = ""
    # What the driver raises when a migration's statement fails.
    _driver_errors: tuple[type[Exception], ...] = ()
    # Where "Applied migration" is logged: the backend's own module.
    _log = log

    async def _migration_execute(
        self, sql: str, params: Sequence[Any] = ()
    ) -> None:  # pragma: no cover - abstract
        """Run one statement of the migration transaction (``?`` parameters), raising
        the driver's own errors."""
        raise NotImplementedError

    async def _lock_migrations(self) -> None:
        """Keep any other process from migrating until the current transaction ends
        (PostgreSQL: an advisory lock). SQLite's ``BEGIN IMMEDIATE`` already holds the
        only write lock, so there it does nothing."""

    async def schema_version(self) -> int:
        """The highest migration applied to this database (0 for a new one)."""
        row = await self.fetchone(self._migrations_table_exists)
        if not row or not row[0]:
            return 0
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0

    async def _migrate(
        self, migrations: Sequence[Migration] | None = None, *, now: float | None = None
    ) -> None:
        """Apply the pending migrations (by default this backend's shipped files), all in
        one transaction, each recorded in schema_migrations stamped ``now``; refuse a
        database migrated by a newer release."""
        migrations = (
            load_migrations(backend=self.backend) if migrations is None else tuple(migrations)
        )
        now = time.time() if now is None else now
        latest = len(migrations)
        current = await self.schema_version()
        if current > latest:
            raise SchemaTooNewError(current, latest)
        if current == latest:
            return
        async with self.transaction():
            await self._lock_migrations()
            # Re-read under the lock: another process may have migrated meanwhile.
            await self._migration_execute(self._migrations_table)
            current = await self.schema_version()
            if current > latest:
                raise SchemaTooNewError(current, latest)
            for migration in migrations[current:]:
                for statement in migration.statements:
                    try:
                        await self._migration_execute(statement)
                    except self._driver_errors as exc:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                        ) from exc
                await self._migration_execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now),
                )
                self._log.info(
                    "Applied migration %04d_%s: %s",
                    migration.version,
                    migration.name,
                    migration.reason,
                )


class SqliteDatabase(Database):
    """Owns one aiosqlite connection; every read and write in the bot goes through it.

    Writes run inside `transaction()`, which holds an asyncio.Lock for its whole
    duration, so coroutines sharing the connection never interleave statements inside
    one transaction. Reads take the same lock, so they never observe another
    coroutine's half-finished transaction.
    """

    backend = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path | str) -> None:
        """Wrap an already configured connection; use `Database.open` instead."""
        super().__init__(path)
        self._conn: aiosqlite.Connection | None = conn
        self._path = path
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._only_read = False  # opened with existing=True: close without checkpointing

    # -- lifetime -------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        path: Path | str,
        *,
        migrations: Sequence[Migration] | None = None,
        now: float | None = None,
        existing: bool = False,
    ) -> Self:
        """Open (creating if needed) the database at `path` and apply pending migrations.

        `migrations` defaults to the files shipped in bot/storage/migrations/sqlite;
        `now` stamps schema_migrations.applied_at and defaults to the current time.
        With `existing`, the file must exist and is neither created nor migrated (it
        is opened read-write only so that closing it tidies its -wal/-shm files).
        """
        in_memory = str(path) == ":memory:"
        if existing:
            path = Path(path)
            if not path.is_file():
                raise FileNotFoundError(f"no database at {path}")
            conn = await aiosqlite.connect(
                path.absolute().as_uri() + "?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S
            )
            conn.row_factory = aiosqlite.Row
            db = cls(conn, path)
            db._only_read = True
            return db
        if not in_memory:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        db = cls(conn, path)
        try:
            await db._configure(in_memory=in_memory)
            await db._migrate(migrations, now=now)
        except BaseException:
            await conn.close()
            raise
        return db

    async def _configure(self, *, in_memory: bool) -> None:
        conn = self._connection()
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = await self._enable_wal()
        if mode != "wal" and not in_memory:
            log.warning("SQLite refused WAL journal mode for %s (got %s)", self._path, mode)
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        async with conn.execute("PRAGMA foreign_keys") as cursor:
            row = await cursor.fetchone()
        if not row or row[0] != 1:
            raise RuntimeError("this SQLite build cannot enforce foreign keys")

    async def _enable_wal(self) -> str | None:
        """Switch to WAL and return the journal mode SQLite settled on.

        Switching needs an exclusive lock. When two processes open a new file at
        once, each can hold a shared lock the other must wait out, and SQLite
        reports that deadlock as SQLITE_BUSY ("database is locked") at once instead
        of calling the busy handler; so retry with a short backoff, within the busy
        timeout.
        """
        conn = self._connection()
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.005
        while True:
            try:
                async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
                    row = await cursor.fetchone()
                return row[0] if row else None
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def close(self) -> None:
        """Checkpoint the WAL into the main file and close; safe to call twice."""
        if self._conn is None:
            return
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError("cannot close the database from inside its own transaction")
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            if self._only_read:
                await conn.close()
                return
            try:
                await conn.execute("PRAGMA optimize")
                await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                if getattr(exc, "sqlite_errorcode", None) in (
                    sqlite3.SQLITE_BUSY,
                    sqlite3.SQLITE_LOCKED,
                ):
                    # another process has the file open: it checkpoints when it closes
                    log.info("WAL checkpoint on close skipped for %s: %s", self._path, exc)
                else:
                    log.warning("WAL checkpoint on close failed for %s", self._path, exc_info=True)
            finally:
                await conn.close()

    @property
    def closed(self) -> bool:
        """True once close() has run."""
        return self._conn is None

    # -- transactions and statement helpers ------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if the block raises (or is cancelled).

        Holding the write lock from the start means a concurrent writer in another
        process waits (up to the busy timeout) at BEGIN rather than failing mid-way.
        Transactions do not nest, and a task spawned inside one must not use the database.
        """
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError("transactions do not nest; this task already holds one")
        async with self._lock:
            conn = self._connection()
            self._owner = asyncio.current_task()
            try:
                await conn.execute("BEGIN IMMEDIATE")
                yield
                await conn.execute("COMMIT")
            except BaseException:
                # Queued after whatever statement was in flight, so it always runs last;
                # sqlite3's rollback() is a no-op when no transaction is open.
                try:
                    await conn.rollback()
                except sqlite3.Error:
                    log.exception("ROLLBACK failed on %s", self._path)
                raise
            finally:
                self._owner = None

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._owner is not None and self._owner is asyncio.current_task():
            yield self._connection()
            return
        async with self._lock:
            yield self._connection()

    def _writing(self) -> aiosqlite.Connection:
        conn = self._connection()
        if self._owner is None or self._owner is not asyncio.current_task():
            raise RuntimeError("writes must run inside `async with db.transaction():`")
        return conn

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise DatabaseClosedError("the database is closed")
        return self._conn

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Run a read and return its first row, or None."""
        async with self._reading() as conn, conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read and return every row."""
        async with self._reading() as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write inside the current transaction; returns the affected row count."""
        with _constraints():
            async with self._writing().execute(sql, params) as cursor:
                return cursor.rowcount

    async def execute_returning(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Run one `... RETURNING` write inside the current transaction; returns its row."""
        with _constraints():
            async with self._writing().execute(sql, params) as cursor:
                return await cursor.fetchone()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run one write per parameter row inside the current transaction."""
        with _constraints():
            async with self._writing().executemany(sql, rows) as cursor:
                return cursor.rowcount

    # -- schema ----------------------------------------------------------------------

    _migrations_table_exists = (
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'"
    )
    _migrations_table = _MIGRATIONS_TABLE
    _driver_errors = (sqlite3.Error,)

    async def _migration_execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Through ``execute``, as every write (a broken constraint is a ConstraintViolation)."""
        await self.execute(sql, params)

    # -- maintenance -----------------------------------------------------------------

    async def integrity_check(self) -> list[str]:
        """SQLite's own consistency check; ["ok"] when the file is healthy."""
        rows = await self.fetchall("PRAGMA integrity_check")
        return [str(row[0]) for row in rows]

    async def backup(self, dest: Path | str) -> None:
        """Copy the live database to `dest` with SQLite's online backup API.

        The copy is written next to `dest` and renamed into place, so `dest` is either
        the previous backup or a complete new one, never a torn file.
        """
        dest = Path(dest)
        partial = dest.with_name(dest.name + ".partial")
        await asyncio.to_thread(_prepare_backup_target, self._path, dest, partial)
        await self.copy_to(partial)
        await asyncio.to_thread(os.replace, partial, dest)

    async def copy_to(self, path: Path | str) -> None:
        """Write a copy of the live database to `path` (replaced if it exists), with no
        staging of its own: the caller stages, verifies and renames."""
        path = Path(path)
        await asyncio.to_thread(_prepare_backup_target, self._path, path, path)
        target = await asyncio.to_thread(sqlite3.connect, path, check_same_thread=False)
        try:
            async with self._reading() as conn:
                await conn.backup(target)
        except BaseException:
            target.close()
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        target.close()


@contextmanager
def _constraints() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise ConstraintViolation(str(exc)) from exc


def _prepare_backup_target(source: Path | str, dest: Path, partial: Path) -> None:
    if not isinstance(source, str) and dest.resolve() == source.resolve():
        raise ValueError("refusing to back up a database onto itself")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.unlink(missing_ok=True)
