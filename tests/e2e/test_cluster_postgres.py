"""Three shard processes on one real PostgreSQL server, under kill -9.

Three ``corpusbot run`` processes (shards 0-2 of 3, each with its own index folder, as
on three hosts) share a database on a private PostgreSQL server the fixtures start.
Each serves /ask in its own guild; a user's cooldown holds across them; a fourth
process for a shard already served refuses to start. Then subscriptions in every
guild's channels fall due in batches while a random live process is killed with
SIGKILL every 1-3 s (and restarted), and some posters are killed right after Discord
created their digest message, before they hear back. At the end every digest slot
must be in its channel exactly once, none lost, and recorded as delivered.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.e2e.chaos import PLACES, examine, pid_with_local_port, write_corpus
from tests.e2e.cluster import Shard, ask_in, guilds_one_per_shard
from tests.e2e.conftest import SEEDS, BotProcess
from tests.e2e.fakediscord import FakeDiscord, make_user
from tests.pgserver import PgServer

pytestmark = pytest.mark.e2e

SHARDS = 3
CHANNELS_PER_GUILD = 8
KILLS = 50
POST_WINDOW_KILLS = 10  # the first digest posts of the chaos: the poster is killed
BATCH = 5  # subscriptions falling due per round


async def relaunch_dead(shards: list[Shard]) -> None:
    for shard in shards:
        if not shard.alive:
            await shard.bot.kill()  # reap
            await shard.launch()


async def test_three_shard_processes_on_postgresql_under_kill_9(
    tmp_path: Path, pg_server: PgServer
) -> None:
    url = pg_server.create_database()
    guilds = guilds_one_per_shard(SHARDS, [f"feed-{i}" for i in range(CHANNELS_PER_GUILD)])
    write_corpus(tmp_path / "corpus", SEEDS)
    rng = random.Random(1616)
    async with FakeDiscord(guilds=guilds, shard_count=SHARDS) as fd:
        shards = []
        for shard_id, guild in enumerate(guilds):
            workdir = tmp_path / f"host-{shard_id}"
            workdir.mkdir()
            (workdir / "corpus").symlink_to(tmp_path / "corpus")
            bot = BotProcess(
                fd,
                workdir,
                guild=guild,
                CORPUSBOT_DB=url,
                CORPUSBOT_DEV_GUILD="",
                CORPUSBOT_SHARD_COUNT=str(SHARDS),
                CORPUSBOT_SHARD_IDS=str(shard_id),
                CORPUSBOT_DIGEST_INTERVAL="0.2",
                CORPUSBOT_DIGEST_LEASE="2",
                CORPUSBOT_ASK_COOLDOWN="60",
            )
            shards.append(Shard(shard_id, bot))
        intruder: BotProcess | None = None
        kills = {"at random": 0, "in the post window": 0}
        lookups = {"tried": 0, "found": 0}
        ok = False
        db = await asyncpg.connect(url)
        try:
            # --- start: commands synced once (by shard 0), every shard identified
            cursor = fd.cursor()
            for shard in shards:
                await shard.launch()
            await fd.wait_until(lambda: all(s.up for s in shards), timeout=240)
            await fd.wait_for_request(
                "PUT", r"/applications/\d+/commands$", timeout=60, after=cursor
            )
            puts = fd.find_requests("PUT", r"/applications/\d+/(guilds/\d+/)?commands$")
            assert len(puts) == 1, "only the process running shard 0 syncs commands"

            # --- each process answers /ask in its own guild
            for shard in shards:
                text = await ask_in(fd, shard.bot.guild, shard.bot.member, "Who is Dai Shan?")
                assert "too fast" not in text and text.strip(), text

            # --- one user's cooldown holds across processes
            roamer = make_user("roamer")
            first = await ask_in(fd, guilds[0], roamer, "Where was Wu Yongming born?")
            assert "too fast" not in first, first
            for guild in guilds[1:]:
                again = await ask_in(fd, guild, roamer, "Where was Wu Yongming born?")
                assert "too fast" in again, again
            (logged,) = await db.fetchrow(
                "SELECT COUNT(*) FROM queries WHERE user_id = $1", int(roamer["id"])
            )
            assert logged == 1

            # --- a second process for a taken shard refuses to start
            intruder = BotProcess(
                fd,
                tmp_path / "intruder",
                guild=guilds[1],
                **{
                    **shards[1].bot.env,
                    "CORPUSBOT_INDEX": str(tmp_path / "host-1" / "data" / "corpusbot.index"),
                },
            )
            await intruder.launch()
            assert intruder.proc is not None
            code = await asyncio.wait_for(intruder.proc.wait(), 120)
            assert code == 2, intruder.log()
            assert "cannot start: shard 1 is already served by another process" in (
                intruder.log()
            ), intruder.log()
            assert shards[1].alive

            # --- digests under kill -9
            slots = [
                (guild.channel(f"feed-{c}").id, place, guild.id)
                for guild in guilds
                for c in range(CHANNELS_PER_GUILD)
                for place in PLACES
            ]
            rng.shuffle(slots)
            pending = list(slots)

            def kill_poster(message: dict[str, Any]) -> None:
                title = (message.get("embeds") or [{}])[0].get("title") or ""
                request = fd.creating
                if (
                    not title.startswith("New on")
                    or kills["in the post window"] >= POST_WINDOW_KILLS
                    or request is None
                    or request.peer is None
                ):
                    return
                live = {s.bot.proc.pid: s for s in shards if s.alive and s.bot.proc}
                pid = pid_with_local_port(request.peer[1], list(live))
                lookups["tried"] += 1
                if pid is not None:
                    lookups["found"] += 1
                    live[pid].bot.proc.kill()  # type: ignore[union-attr]
                    kills["in the post window"] += 1

            fd.after_message_created = kill_poster
            chaos_started = time.monotonic()
            while sum(kills.values()) < KILLS or pending:
                if pending:
                    batch, pending = pending[:BATCH], pending[BATCH:]
                    now = time.time()
                    await db.executemany(
                        "INSERT INTO subscriptions (guild_id, channel_id, topic, topic_key, "
                        "cadence, next_due_at, created_by, created_at, updated_at) "
                        "VALUES ($1, $2, $3, $4, 'daily', $5, 1, $5, $5)",
                        [(g, c, t, t.lower(), now) for c, t, g in batch],
                    )
                await relaunch_dead(shards)
                await asyncio.sleep(rng.uniform(1.0, 3.0))
                if sum(kills.values()) >= KILLS:
                    continue
                deadline = time.monotonic() + 120
                while not any(s.up for s in shards):  # posters killed meanwhile come back
                    assert time.monotonic() < deadline, "no process came up in 120 s"
                    await relaunch_dead(shards)
                    await asyncio.sleep(0.1)
                victim = rng.choice([s for s in shards if s.up])
                await victim.bot.kill()
                kills["at random"] += 1
                await victim.launch()
            fd.after_message_created = None
            chaos_seconds = time.monotonic() - chaos_started
            during_chaos = examine(fd, [(c, t) for c, t, _ in slots]).messages

            # --- settle: every process back, every slot delivered
            await relaunch_dead(shards)
            await fd.wait_until(lambda: all(s.up for s in shards), timeout=240)
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                (open_runs,) = await db.fetchrow(
                    "SELECT COUNT(*) FROM digest_runs WHERE completed_at IS NULL"
                )
                (waiting,) = await db.fetchrow(
                    "SELECT COUNT(*) FROM subscriptions WHERE next_due_at < $1",
                    time.time() + 3600,
                )
                if open_runs == 0 and waiting == 0:
                    break
                await asyncio.sleep(0.5)
            for shard in shards:
                await shard.bot.stop_cleanly()
            ok = True
        finally:
            fd.after_message_created = None
            for shard in shards:
                await shard.bot.kill()
            if intruder is not None:
                await intruder.kill()
            if not ok:
                for shard in shards:
                    if shard.bot.stderr_paths:
                        print(f"===== shard {shard.id} =====\n{shard.bot.all_logs()[-15000:]}")

        subs = [(c, t) for c, t, _ in slots]
        outcome = examine(fd, subs)
        recorded: dict[tuple[int, str], set[str]] = {}
        for channel_id, topic, doc_id in await db.fetch(
            "SELECT s.channel_id, s.topic, d.doc_id FROM deliveries AS d "
            "JOIN subscriptions AS s ON s.id = d.subscription_id"
        ):
            recorded.setdefault((channel_id, topic), set()).add(doc_id)
        await db.close()
        print(
            f"\nPostgreSQL, {SHARDS} processes: {sum(kills.values())} kill -9 ({kills}) in "
            f"{chaos_seconds:.0f} s ({during_chaos} digest messages posted meanwhile, the "
            f"rest after); {outcome.summary()}; nonce repeats answered by the "
            f"stand-in: {fd.nonce_repeats}; starts: "
            f"{', '.join(str(s.bot.runs) for s in shards)}; poster lookups: {lookups}"
        )
        assert kills["at random"] + kills["in the post window"] >= KILLS, kills
        assert kills["in the post window"] >= 1, kills
        assert outcome.duplicates == []
        assert outcome.repeated_slots == []
        assert outcome.lost_slots == []
        assert outcome.wrong_items == []
        assert recorded == {key: set(ids) for key, ids in outcome.posted.items()}
