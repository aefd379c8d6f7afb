"""The PostgreSQL backend (asyncpg): a connection pool, the same statement helpers as
SQLite's, advisory locks, LISTEN/NOTIFY, shard locks held by a session, pg_dump backups.

Repositories write ``?`` placeholders; they are turned into ``$1, $2, ...`` here, once
per statement text. A transaction holds one pooled connection for the task that opened
it; reads outside a transaction take any free connection.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import shutil
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Self

import asyncpg

from .database import Database, redact
from .errors import ConstraintViolation, DatabaseClosedError, StorageError
from .migrations import Migration

log = logging.getLogger(__name__)

POOL_SIZE = 5
CONNECT_TIMEOUT_S = 10.0
# The first key of every advisory lock corpusbot takes ("corp"), so they cannot
# collide with another application's locks in a shared database.
LOCK_SPACE = 0x636F7270
_MIGRATION_LOCK = 1
_SHARD_LOCK_SPACE = 0x73686172  # "shar"


class ShardLockHeld(StorageError):
    """Another live process holds the lock on a shard."""

    def __init__(self, shard_ids: list[int]) -> None:
        self.shard_ids = shard_ids
        super().__init__(
            f"shard {', '.join(map(str, shard_ids))} is already served by another process"
        )


@functools.lru_cache(maxsize=1024)
def to_dollar(sql: str) -> str:
    """``?`` placeholders as ``$1, $2, ...``, leaving quoted text and comments alone."""
    out: list[str] = []
    number = 0
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = sql.index(ch, i + 1)
            while end + 1 < n and sql[end + 1] == ch:  # doubled quote inside
                end = sql.index(ch, end + 2)
            out.append(sql[i : end + 1])
            i = end + 1
            continue
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
            continue
        if ch == "?":
            number += 1
            out.append(f"${number}")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


@contextmanager
def _constraints() -> Iterator[None]:
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise ConstraintViolation(str(exc)) from exc


def _rowcount(status: str) -> int:
    """The row count in a command tag such as ``UPDATE 3`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresDatabase(Database):
    """A pool of asyncpg connections to one PostgreSQL database."""

    backend = "postgresql"
    row_lock = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        super().__init__(url)
        self._pool: asyncpg.Pool | None = pool
        self._url = url
        self._current: contextvars.ContextVar[asyncpg.Connection | None] = contextvars.ContextVar(
            f"pg-tx-{id(self)}", default=None
        )
        self._listeners: list[asyncpg.Connection] = []
        self._shard_conn: asyncpg.Connection | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        migrations: Sequence[Migration] | None = None,
        now: float | None = None,
        existing: bool = False,
    ) -> Self:
        """Connect a pool and (unless ``existing``) apply pending migrations, one
        process at a time (an advisory lock held for the migration transaction)."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=POOL_SIZE,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=60,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"cannot connect to {redact(url)}: {exc}") from None
        db = cls(pool, url)
        if existing:
            return db
        try:
            await db._migrate(migrations, now=now)
        except asyncpg.PostgresError as exc:
            await pool.close()
            raise StorageError(f"cannot prepare {redact(url)}: {exc}") from None
        except BaseException:
            await pool.close()
            raise
        return db

    # -- lifetime -------------------------------------------------------------------

    async def close(self) -> None:
        """Close listeners, the shard session and the pool; safe to call twice."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for conn in self._listeners:
            if not conn.is_closed():
                await conn.close()
        self._listeners.clear()
        if self._shard_conn is not None and not self._shard_conn.is_closed():
            await self._shard_conn.close()
        self._shard_conn = None
        await pool.close()

    @property
    def closed(self) -> bool:
        return self._pool is None

    def describe(self) -> str:
        return redact(self._url)

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise DatabaseClosedError("the database is closed")
        return self._pool

    # -- transactions and statement helpers ------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """BEGIN ... COMMIT on one pooled connection, ROLLBACK if the block raises."""
        if self._current.get() is not None:
            raise RuntimeError("transactions do not nest; this task already holds one")
        async with self._require_pool().acquire() as conn, conn.transaction():
            token = self._current.set(conn)
            try:
                yield
            finally:
                self._current.reset(token)

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        conn = self._current.get()
        if conn is not None:
            yield conn
            return
        async with self._require_pool().acquire() as conn:
            yield conn

    def _writing(self) -> asyncpg.Connection:
        conn = self._current.get()
        if conn is None:
            raise RuntimeError("writes must run inside `async with db.transaction():`")
        return conn

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._conn() as conn:
            return await conn.fetchrow(to_dollar(sql), *params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._conn() as conn:
            return list(await conn.fetch(to_dollar(sql), *params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        conn = self._writing()
        with _constraints():
            if params:
                return _rowcount(await conn.execute(to_dollar(sql), *params))
            return _rowcount(await conn.execute(sql))

    async def execute_returning(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with _constraints():
            return await self._writing().fetchrow(to_dollar(sql), *params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        rows = list(rows)
        if rows:
            with _constraints():
                await self._writing().executemany(to_dollar(sql), rows)
        return len(rows)

    async def lock(self, name: str) -> None:
        """An advisory lock on ``name`` until the current transaction ends."""
        key = zlib.crc32(name.encode("utf-8")) - (1 << 31)
        await self._writing().execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_SPACE, key)

    # -- schema ----------------------------------------------------------------------

    _migrations_table_exists = "SELECT to_regclass('schema_migrations') IS NOT NULL"
    _migrations_table = (
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
    )
    _driver_errors = (asyncpg.PostgresError,)
    _log = log

    async def _migration_execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """On the transaction's connection itself; a migration's own SQL is sent as
        written (no ``?`` rewriting) and its errors stay the driver's."""
        conn = self._writing()
        if params:
            await conn.execute(to_dollar(sql), *params)
        else:
            await conn.execute(sql)

    async def _lock_migrations(self) -> None:
        """One process migrates at a time: an advisory lock until the migration commits."""
        await self._writing().execute(
            "SELECT pg_advisory_xact_lock($1, $2)", LOCK_SPACE, _MIGRATION_LOCK
        )

    # -- maintenance -----------------------------------------------------------------

    async def integrity_check(self) -> list[str]:
        """PostgreSQL keeps its own consistency; this proves the server answers and the
        schema's tables are readable: ["ok"], or what failed."""
        try:
            for table in ("queries", "subscriptions", "documents"):
                await self.fetchone(f"SELECT 1 FROM {table} LIMIT 1")
        except asyncpg.PostgresError as exc:
            return [str(exc)]
        return ["ok"]

    async def backup(self, dest: Path | str) -> None:
        """A consistent snapshot with ``pg_dump --format=custom``, written next to
        ``dest`` and renamed into place; restore it with ``pg_restore``."""
        dest = Path(dest)
        partial = dest.with_name(dest.name + ".partial")
        await self.copy_to(partial)
        await asyncio.to_thread(os.replace, partial, dest)

    async def copy_to(self, path: Path | str) -> None:
        """Run ``pg_dump --format=custom`` into ``path`` (pg_dump must be on PATH, of
        the server's major version or newer)."""
        path = Path(path)
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise StorageError("pg_dump is not installed; install the PostgreSQL client tools")
        path.unlink(missing_ok=True)
        proc = await asyncio.create_subprocess_exec(
            pg_dump,
            "--format=custom",
            "--no-owner",
            f"--file={path}",
            f"--dbname={self._url}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            path.unlink(missing_ok=True)
            raise StorageError(f"pg_dump failed: {err.decode(errors='replace').strip()}")

    # -- several processes -------------------------------------------------------------

    async def hold_shards(self, shard_ids: list[int]) -> None:
        """Hold a session advisory lock per shard on a connection of its own, for as
        long as this process lives: a process that dies loses its connection and with
        it the locks, at once. Raises ShardLockHeld (taking none) if any is held."""
        conn = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT_S)
        got: list[int] = []
        try:
            for shard_id in shard_ids:
                ok = await conn.fetchval(
                    "SELECT pg_try_advisory_lock($1, $2)", _SHARD_LOCK_SPACE, shard_id
                )
                if ok:
                    got.append(shard_id)
            missing = [s for s in shard_ids if s not in got]
            if missing:
                raise ShardLockHeld(missing)
        except BaseException:
            await conn.close()
            raise
        self._shard_conn = conn

    async def release_shards(self) -> None:
        """Give the shard locks up (a clean stop); closing the session releases them."""
        conn, self._shard_conn = self._shard_conn, None
        if conn is not None and not conn.is_closed():
            await conn.close()

    async def notify(self, channel: str, payload: str) -> None:
        """Send a NOTIFY to every process listening on ``channel``."""
        async with self._conn() as conn:
            await conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def listen(self, channel: str, callback: Callable[[str], Awaitable[None] | None]) -> None:
        """Call ``callback(payload)`` for each NOTIFY on ``channel`` (on a connection of
        its own, outside the pool). A lost connection loses notices: callers also
        check periodically."""
        conn = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT_S)

        def on_notice(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            result = callback(payload)
            if asyncio.iscoroutine(result):
                task = asyncio.ensure_future(result)
                _pending.add(task)
                task.add_done_callback(_pending.discard)

        await conn.add_listener(channel, on_notice)
        self._listeners.append(conn)


_pending: set[asyncio.Future[Any]] = set()
