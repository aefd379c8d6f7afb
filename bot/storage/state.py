"""Small state that several processes share: named values, /ask cooldowns, shard locks
and named leases (the cluster-wide reindex lock, identify pacing)."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrieval.liveness import process_alive

if TYPE_CHECKING:
    from .database import Database


@dataclass(frozen=True, slots=True)
class ShardHolder:
    """Who holds a shard: a process on a host, until ``expires_at`` unless renewed."""

    shard_id: int
    shard_count: int
    owner: str
    host: str
    pid: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class Lease:
    """A named lease: held by ``owner`` (a process on a host) until ``expires_at``."""

    name: str
    owner: str
    host: str
    pid: int
    expires_at: float


class ShardTaken(Exception):
    """Another live process serves one of the shards this process was asked to run."""

    def __init__(self, holders: list[ShardHolder]) -> None:
        self.holders = holders
        where = "; ".join(f"shard {h.shard_id} by pid {h.pid} on {h.host}" for h in holders)
        super().__init__(f"shards already served: {where}")


class StateRepository:
    """Shared named values, cooldowns and shard leases; reach it as `db.state`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- named values ---------------------------------------------------------------

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        row = await self._db.fetchone("SELECT value FROM bot_state WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def put(self, key: str, value: str, now: float) -> None:
        """Store ``value`` under ``key``, replacing any earlier value."""
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (key, value, now),
            )

    async def increment(self, key: str, now: float) -> int:
        """Add one to the integer stored under ``key`` (0 if none) in one statement;
        returns the new value, which no two callers ever both see."""
        async with self._db.transaction():
            row = await self._db.execute_returning(
                "INSERT INTO bot_state (key, value, updated_at) VALUES (?, '1', ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "value = CAST(CAST(bot_state.value AS INTEGER) + 1 AS TEXT), "
                "updated_at = excluded.updated_at RETURNING value",
                (key, now),
            )
        assert row is not None  # an upsert with RETURNING always yields the row
        return int(row[0])

    # -- cooldowns ------------------------------------------------------------------

    async def take_cooldown(self, user_id: int, seconds: float, now: float) -> float | None:
        """Admit a user if their last admitted question is at least ``seconds`` old,
        recording ``now``; otherwise return how long they must still wait. One atomic
        statement, so two processes admitting the same user at once admit one."""
        async with self._db.transaction():
            row = await self._db.execute_returning(
                "INSERT INTO cooldowns (user_id, last_at) VALUES (?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET last_at = excluded.last_at "
                "WHERE cooldowns.last_at <= excluded.last_at - ? OR "
                "cooldowns.last_at > excluded.last_at + ? RETURNING last_at",
                (user_id, now, seconds, seconds),
            )
            if row is not None:
                return None
            last = await self._db.fetchone(
                "SELECT last_at FROM cooldowns WHERE user_id = ?", (user_id,)
            )
        waited = now - float(last[0]) if last is not None else seconds
        return max(seconds - waited, 0.001)

    # -- named leases -----------------------------------------------------------------

    async def take_lease(
        self, name: str, owner: str, *, now: float, ttl: float, take_from_dead: bool = True
    ) -> Lease:
        """Take (or renew) the lease ``name`` for ``owner`` until ``now + ttl`` if it is
        free, expired, already ``owner``'s, or (``take_from_dead``) held by a process
        gone from this host.
        Returns the holder afterwards: the caller has it when ``holder.owner == owner``.
        One conditional upsert, so of several processes taking it at once one wins."""
        host, pid = socket.gethostname(), os.getpid()
        async with self._db.transaction():
            row = await self._db.execute_returning(
                "INSERT INTO leases (name, owner, host, pid, expires_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, host = excluded.host, "
                "pid = excluded.pid, expires_at = excluded.expires_at "
                "WHERE leases.expires_at <= ? OR leases.owner = excluded.owner RETURNING owner",
                (name, owner, host, pid, now + ttl, now),
            )
            if row is not None:
                return Lease(name, owner, host, pid, now + ttl)
            held = await self._db.fetchone(
                "SELECT name, owner, host, pid, expires_at FROM leases WHERE name = ?", (name,)
            )
            assert held is not None  # the upsert found a row it did not update
            holder = Lease(*(held[i] for i in range(5)))
            if not take_from_dead or process_alive(holder.pid, holder.host):
                return holder
            taken = await self._db.execute(
                "UPDATE leases SET owner = ?, host = ?, pid = ?, expires_at = ? "
                "WHERE name = ? AND owner = ?",
                (owner, host, pid, now + ttl, name, holder.owner),
            )
        return Lease(name, owner, host, pid, now + ttl) if taken else holder

    async def lease_holder(self, name: str) -> Lease | None:
        """Who holds the lease ``name`` (possibly expired), or None."""
        row = await self._db.fetchone(
            "SELECT name, owner, host, pid, expires_at FROM leases WHERE name = ?", (name,)
        )
        return None if row is None else Lease(*(row[i] for i in range(5)))

    async def release_lease(self, name: str, owner: str) -> bool:
        """Give the lease up if ``owner`` still holds it."""
        async with self._db.transaction():
            return bool(
                await self._db.execute(
                    "DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner)
                )
            )

    # -- shard leases (SQLite; PostgreSQL uses session advisory locks) -----------------

    async def claim_shards(
        self, shard_ids: list[int], shard_count: int, *, now: float, ttl: float
    ) -> str:
        """Take the leases on ``shard_ids`` for this process, all or none; returns the
        owner token to renew and release them with. A lease held by a process that is
        gone (same host, no such pid) or expired is taken over; a live one raises
        ShardTaken."""
        owner = uuid.uuid4().hex
        host, pid = socket.gethostname(), os.getpid()
        async with self._db.transaction():
            taken = []
            for shard_id in shard_ids:
                row = await self._db.fetchone(
                    "SELECT shard_id, shard_count, owner, host, pid, expires_at "
                    "FROM shard_locks WHERE shard_id = ?",
                    (shard_id,),
                )
                if row is None:
                    continue
                holder = ShardHolder(*(row[i] for i in range(6)))
                if holder.expires_at > now and process_alive(holder.pid, holder.host):
                    taken.append(holder)
            if taken:
                raise ShardTaken(taken)
            await self._db.executemany(
                "INSERT INTO shard_locks (shard_id, shard_count, owner, host, pid, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (shard_id) DO UPDATE SET "
                "shard_count = excluded.shard_count, owner = excluded.owner, "
                "host = excluded.host, pid = excluded.pid, expires_at = excluded.expires_at",
                [(s, shard_count, owner, host, pid, now + ttl) for s in shard_ids],
            )
        return owner

    async def renew_shards(self, owner: str, *, now: float, ttl: float) -> int:
        """Extend this process's leases; returns how many it still holds."""
        async with self._db.transaction():
            return await self._db.execute(
                "UPDATE shard_locks SET expires_at = ? WHERE owner = ?", (now + ttl, owner)
            )

    async def release_shards(self, owner: str) -> None:
        """Give this process's leases up (on a clean stop)."""
        async with self._db.transaction():
            await self._db.execute("DELETE FROM shard_locks WHERE owner = ?", (owner,))
