"""/reindex on one process reaches the others.

PostgreSQL: three shard processes, each with an index folder of its own (as on three
hosts) over the same articles. An admin's /reindex on shard 0 builds once, bumps the
index generation and notifies; shards 1 and 2 rebuild from their own folder and swap,
while questions keep coming and every one is answered. A /reindex while another process
holds the cluster-wide lock is refused, saying who holds it.

SQLite: two shard processes on one host sharing the database file and the index folder,
no notices: the follower finds the new generation by its periodic check, verifies the
published build and loads it (no second build), and pruning never deletes the build
the other process serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.e2e.cluster import Shard, ask_in, guilds_one_per_shard, log_times, percentile
from tests.e2e.conftest import SEEDS, BotProcess
from tests.e2e.fakediscord import FakeDiscord, make_user
from tests.pgserver import PgServer

pytestmark = pytest.mark.e2e

ROUNDS = 5
SWAPPED = r"swapped to index generation (\d+) \(([a-z ]+), ([\d.]+)s\): (\d+) documents"


def add_article(corpus: Path, n: int) -> None:
    (corpus / f"lighthouse_{n}.txt").write_text(
        f"Lighthouse number {n} relit\n\nThe keepers of lighthouse number {n} on the "
        f"Quillon coast relit its lamp on Monday after {n + 3} years of repairs, the "
        "coastal authority said.\n",
        encoding="utf-8",
    )


async def questions_meanwhile(
    fd: FakeDiscord, shards: list[Shard], stop: asyncio.Event, answered: list[str]
) -> None:
    """Ask each follower a question every 0.3 s until ``stop``; every one must be
    answered (an answer card or "not in these articles"), none dropped."""
    n = 0
    while not stop.is_set():
        for shard in shards:
            n += 1
            user = make_user(f"reader{n}")
            text = await ask_in(fd, shard.bot.guild, user, f"Who relit lighthouse number {n}?")
            answered.append(text)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.3)


async def reindex(fd: FakeDiscord, bot: BotProcess) -> Any:
    """An admin's /reindex on ``bot``'s shard; returns the interaction record."""
    return await fd.send_slash_command("reindex", user=bot.admin, guild_id=bot.guild.id)


async def test_reindex_reaches_every_process_on_postgresql(
    tmp_path: Path, pg_server: PgServer
) -> None:
    url = pg_server.create_database()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for src in SEEDS.glob("*.txt"):
        (corpus / src.name).write_bytes(src.read_bytes())
    guilds = guilds_one_per_shard(3)
    async with FakeDiscord(guilds=guilds, shard_count=3) as fd:
        shards = []
        for shard_id, guild in enumerate(guilds):
            workdir = tmp_path / f"host-{shard_id}"
            workdir.mkdir()
            (workdir / "corpus").symlink_to(corpus)  # the same articles on every host
            bot = BotProcess(
                fd,
                workdir,
                guild=guild,
                CORPUSBOT_DB=url,
                CORPUSBOT_DEV_GUILD="",
                CORPUSBOT_SHARD_COUNT="3",
                CORPUSBOT_SHARD_IDS=str(shard_id),
                CORPUSBOT_INDEX_CHECK="60",  # notices carry it; the check is a backstop
            )
            shards.append(Shard(shard_id, bot))
        db = await asyncpg.connect(url)
        ok = False
        answered: list[str] = []
        propagation: list[float] = []
        detection: list[float] = []  # propagation less the follower's own rebuild
        stop = asyncio.Event()
        asker: asyncio.Task | None = None
        try:
            for shard in shards:
                await shard.launch()
            await fd.wait_until(lambda: all(s.up for s in shards), timeout=240)
            await fd.wait_for_request("PUT", r"/applications/\d+/commands$", timeout=60)
            followers = shards[1:]
            asker = asyncio.create_task(questions_meanwhile(fd, followers, stop, answered))

            # The cluster-wide lock: held elsewhere, a /reindex here is refused.
            async with db.transaction():
                await db.execute(
                    "INSERT INTO leases (name, owner, host, pid, expires_at) "
                    "VALUES ('reindex', 'elsewhere', $1, $2, $3)",
                    socket.gethostname(),
                    os.getpid(),
                    time.time() + 600,
                )
            refused = await reindex(fd, shards[1].bot)
            message = await fd.wait_for_original_edit(refused, timeout=60)
            text = (message.get("embeds") or [{}])[0].get("description") or ""
            assert f"already running (process {os.getpid()} on" in text, message
            await db.execute("DELETE FROM leases WHERE name = 'reindex'")

            base = len(list(corpus.glob("*.txt")))
            for r in range(1, ROUNDS + 1):
                add_article(corpus, r)
                await reindex(fd, shards[0].bot)
                await fd.wait_until(lambda r=r: generation_is(shards, r), timeout=120)
                (bumped,) = await db.fetchrow(
                    "SELECT updated_at FROM bot_state WHERE key = 'index.generation'"
                )
                for shard in followers:
                    swaps = [
                        (when, m)
                        for when, m in log_times(shard.bot.log(), SWAPPED)
                        if int(m.group(1)) == r
                    ]
                    assert len(swaps) == 1, shard.bot.log()[-3000:]
                    when, match = swaps[0]
                    assert match.group(2) == "rebuilt"  # its own index folder
                    assert int(match.group(4)) == base + r
                    propagation.append(when - bumped)
                    detection.append(when - bumped - float(match.group(3)))
            stop.set()
            await asker
            for shard in shards:
                await shard.bot.stop_cleanly()
            ok = True
        finally:
            stop.set()
            if asker is not None and not asker.done():
                asker.cancel()
            for shard in shards:
                await shard.bot.kill()
            await db.close()
            if not ok:
                for shard in shards:
                    if shard.bot.stderr_paths:
                        print(f"===== shard {shard.id} =====\n{shard.bot.all_logs()[-12000:]}")
    print(
        f"\nPostgreSQL, 3 processes, {ROUNDS} reindexes: propagation to the 2 others "
        f"(generation bump -> swapped in, rebuilding from their own folder) "
        f"p50 {percentile(propagation, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(propagation, 0.95) * 1000:.0f} ms, "
        f"max {max(propagation) * 1000:.0f} ms; of which before the rebuild began "
        f"(notice, catch-up) p50 {percentile(detection, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(detection, 0.95) * 1000:.0f} ms; {len(answered)} questions "
        "meanwhile, all answered"
    )
    assert len(propagation) == ROUNDS * 2
    assert all(p < 20.0 for p in propagation), "notices missed: only the 60 s check caught up"
    assert answered and all(t.strip() and "Sorry" not in t for t in answered), answered


def generation_is(shards: list[Shard], generation: int) -> bool:
    """Every process logged its swap to (or its own reindex to) ``generation``."""
    for shard in shards:
        log = shard.bot.log()
        if (
            f"index generation {generation}\n" not in log
            and f"swapped to index generation {generation} " not in log
        ):
            return False
    return True


async def test_reindex_reaches_the_other_process_on_sqlite_by_the_periodic_check(
    tmp_path: Path,
) -> None:
    guilds = guilds_one_per_shard(2)
    async with FakeDiscord(guilds=guilds, shard_count=2) as fd:
        shards = []
        for shard_id, guild in enumerate(guilds):
            bot = BotProcess(
                fd,
                tmp_path,  # one host: the same database file, corpus and index folder
                guild=guild,
                CORPUSBOT_DEV_GUILD="",
                CORPUSBOT_SHARD_COUNT="2",
                CORPUSBOT_SHARD_IDS=str(shard_id),
                CORPUSBOT_INDEX_CHECK="1",
            )
            bot.name = f"shard{shard_id}"
            shards.append(Shard(shard_id, bot))
        ok = False
        propagation: list[float] = []
        index_root = tmp_path / "corpusbot.index"
        try:
            await shards[0].launch()
            await fd.wait_until(lambda: shards[0].up, timeout=240)
            await shards[1].launch()
            await fd.wait_until(lambda: all(s.up for s in shards), timeout=240)
            leader, follower = shards
            assert follower.bot.proc is not None
            for r in range(1, ROUNDS + 1):
                add_article(leader.bot.corpus, r)
                await reindex(fd, leader.bot)
                await fd.wait_until(lambda r=r: generation_is(shards, r), timeout=120)
                (bumped,) = leader.bot.sql(
                    "SELECT updated_at FROM bot_state WHERE key = 'index.generation'"
                )[0]
                ((when, match),) = [
                    (w, m)
                    for w, m in log_times(follower.bot.log(), SWAPPED)
                    if int(m.group(1)) == r
                ]
                assert match.group(2) == "verified and loaded"  # the leader's build
                propagation.append(when - bumped)
                served = (index_root / f".serving-{follower.bot.proc.pid}").read_text().strip()
                assert (index_root / served).is_dir(), "the follower's build was pruned"
                assert served == (index_root / "CURRENT").read_text().strip()
            for shard in shards:
                await shard.bot.stop_cleanly()
            ok = True
        finally:
            for shard in shards:
                await shard.bot.kill()
            if not ok:
                for shard in shards:
                    if shard.bot.stderr_paths:
                        print(f"===== shard {shard.id} =====\n{shard.bot.all_logs()[-12000:]}")
    print(
        f"\nSQLite, 2 processes, {ROUNDS} reindexes, periodic check every 1 s: "
        f"propagation p50 {percentile(propagation, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(propagation, 0.95) * 1000:.0f} ms"
    )
    assert all(p < 5.0 for p in propagation), propagation
