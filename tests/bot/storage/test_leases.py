"""Named leases (the cluster-wide reindex lock, identify buckets) and identify pacing
across processes, on both backends."""

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from bot.pacing import bucket_of, wait_identify_turn
from bot.storage import Database


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped) on this host."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_a_lease_is_exclusive_until_it_expires_and_renewable_by_its_owner(
    db: Database,
) -> None:
    state = db.state
    first = await state.take_lease("reindex", "a", now=100.0, ttl=30.0)
    assert first.owner == "a" and first.expires_at == 130.0
    held = await state.take_lease("reindex", "b", now=120.0, ttl=30.0)
    assert held.owner == "a", "another owner took a live lease"
    renewed = await state.take_lease("reindex", "a", now=125.0, ttl=30.0)
    assert renewed.owner == "a" and renewed.expires_at == 155.0
    assert (await state.take_lease("reindex", "b", now=150.0, ttl=30.0)).owner == "a"
    assert (await state.take_lease("reindex", "b", now=155.0, ttl=30.0)).owner == "b"
    assert not await state.release_lease("reindex", "a"), "a released a lease it lost"
    assert await state.release_lease("reindex", "b")
    assert await state.lease_holder("reindex") is None


async def test_of_many_processes_taking_a_lease_at_once_one_gets_it(
    db: Database, db_target: Path | str
) -> None:
    others = [await Database.open(db_target) for _ in range(3)]
    try:
        holders = await asyncio.gather(
            *(
                d.state.take_lease("reindex", f"owner-{n}", now=100.0, ttl=30.0)
                for n, d in enumerate([db, *others] * 2)
            )
        )
    finally:
        for other in others:
            await other.close()
    winners = {h.owner for h in holders}
    assert len(winners) == 1, winners
    assert (await db.state.lease_holder("reindex")).owner in winners  # type: ignore[union-attr]


async def test_a_dead_holders_lease_is_taken_over_only_when_asked(db: Database) -> None:
    state = db.state
    await state.take_lease("reindex", "gone", now=100.0, ttl=600.0)
    async with db.transaction():
        await db.execute("UPDATE leases SET pid = ? WHERE name = 'reindex'", (dead_pid(),))
    kept = await state.take_lease("reindex", "me", now=110.0, ttl=30.0, take_from_dead=False)
    assert kept.owner == "gone"
    taken = await state.take_lease("reindex", "me", now=110.0, ttl=30.0)
    assert taken.owner == "me"


async def test_identify_turns_are_paced_per_bucket_across_processes(
    db: Database, db_target: Path | str
) -> None:
    """Shards 0-3 with max_concurrency 2, identifying from two "processes" at once:
    shards of one bucket (0 and 2; 1 and 3) identify at least the interval apart, and
    the two buckets do not wait for each other."""
    interval = 0.6
    other = await Database.open(db_target)
    turns: dict[int, float] = {}

    async def identify(database: Database, shard_id: int) -> None:
        await wait_identify_turn(database.state, shard_id, 2, interval)
        turns[shard_id] = time.monotonic()

    try:
        await asyncio.gather(
            identify(db, 0), identify(other, 2), identify(db, 1), identify(other, 3)
        )
    finally:
        await other.close()
    assert bucket_of(0, 2) == bucket_of(2, 2) != bucket_of(1, 2) == bucket_of(3, 2)
    for a, b in ((0, 2), (1, 3)):
        assert abs(turns[a] - turns[b]) >= interval - 0.05, turns
    # Each bucket's first identify comes before either bucket's second.
    firsts = [min(turns[0], turns[2]), min(turns[1], turns[3])]
    seconds = [max(turns[0], turns[2]), max(turns[1], turns[3])]
    assert max(firsts) < min(seconds), turns


async def test_an_identify_turn_is_kept_even_if_its_process_dies(db: Database) -> None:
    """Discord counts an identify whether or not the process lives on: a dead holder's
    bucket is not taken over before its interval ends."""
    gone = dead_pid()
    await wait_identify_turn(db.state, 0, 1, 0.5)
    first = time.monotonic()
    async with db.transaction():
        await db.execute("UPDATE leases SET pid = ? WHERE name = 'identify.0'", (gone,))
    waited = await wait_identify_turn(db.state, 0, 1, 0.5)
    assert waited > 0
    assert time.monotonic() - first >= 0.45
    assert await wait_identify_turn(db.state, 0, 1, 0) == 0.0  # pacing off
