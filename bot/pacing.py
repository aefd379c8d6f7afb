"""Identify pacing across processes: Discord lets one shard of each ``max_concurrency``
bucket (``shard_id % max_concurrency``) identify every 5 seconds, counted over every
process of the bot. A bucket is a lease in the shared database, taken for that interval
and left to expire (a process that dies just after identifying still used its turn)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from bot.storage import StateRepository

__all__ = ["bucket_of", "wait_identify_turn"]

log = logging.getLogger(__name__)


def bucket_of(shard_id: int, max_concurrency: int) -> int:
    """Discord's rate-limit key for a shard's identify."""
    return shard_id % max(1, max_concurrency)


async def wait_identify_turn(
    state: StateRepository,
    shard_id: int,
    max_concurrency: int,
    interval: float,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> float:
    """Wait until ``shard_id``'s bucket may identify, then hold it for ``interval``
    seconds; returns how long it waited. Each call is its own turn (a fresh owner), so
    two shards of one process in the same bucket wait for each other too."""
    if interval <= 0:
        return 0.0
    name = f"identify.{bucket_of(shard_id, max_concurrency)}"
    owner = uuid.uuid4().hex
    started = clock()
    while True:
        now = clock()
        holder = await state.take_lease(name, owner, now=now, ttl=interval, take_from_dead=False)
        if holder.owner == owner:
            waited = now - started
            if waited > 0.05:
                log.info("shard %d waited %.1f s to identify (%s)", shard_id, waited, name)
            return waited
        await sleep(min(max(holder.expires_at - now, 0.01), interval))
