"""Digests exactly once under kill -9, on SQLite with one process.

The stand-in kills the bot right after it creates some digest messages and before
the response reaches it (the window where "post, then record" posts twice), and a
timer kills it at random moments too; the bot is restarted each time. At the end
every subscription's digest must be in its channel exactly once, and recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path

import pytest

from tests.e2e.chaos import examine, plan, write_corpus
from tests.e2e.conftest import SEEDS, BotProcess, make_bot_guild
from tests.e2e.fakediscord import FakeDiscord

pytestmark = pytest.mark.e2e

KILLS = 20
CHANNELS = 24


async def test_digests_go_out_exactly_once_under_kill_9_on_sqlite(tmp_path: Path) -> None:
    names = [f"feed-{i}" for i in range(CHANNELS)]
    guild = make_bot_guild(names)
    write_corpus(tmp_path / "corpus", SEEDS)
    rng = random.Random(16)
    async with FakeDiscord(guilds=[guild]) as fd:
        bot = BotProcess(fd, tmp_path, CORPUSBOT_DIGEST_INTERVAL="0.2", CORPUSBOT_DIGEST_LEASE="2")
        subs = plan([guild.channel(n).id for n in names])
        kills = {"in the post window": 0, "at random": 0}
        ok = False
        try:
            await bot.start(timeout=180)  # the first start builds the index
            await bot.stop_cleanly()
            now = time.time()
            for channel_id, topic in subs:
                bot.execute(
                    "INSERT INTO subscriptions (guild_id, channel_id, topic, topic_key, "
                    "cadence, next_due_at, created_by, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, 'daily', ?, ?, ?, ?)",
                    (guild.id, channel_id, topic, topic.lower(), now, 1, now, now),
                )

            def kill_after_create(message: dict) -> None:
                title = (message.get("embeds") or [{}])[0].get("title") or ""
                proc = bot.proc
                if (
                    title.startswith("New on")
                    and sum(kills.values()) < KILLS
                    and proc is not None
                    and proc.returncode is None
                    and rng.random() < 0.4
                ):
                    proc.kill()  # created, but the bot never hears back
                    kills["in the post window"] += 1

            fd.after_message_created = kill_after_create
            while sum(kills.values()) < KILLS:
                with contextlib.suppress(AssertionError, TimeoutError):
                    await bot.start(timeout=60)
                assert bot.proc is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(bot.proc.wait(), rng.uniform(1.0, 3.0))
                if bot.proc.returncode is None:
                    kills["at random"] += 1
                await bot.kill()
            fd.after_message_created = None

            await bot.start()

            def settled() -> bool:
                (open_runs,) = bot.sql(
                    "SELECT COUNT(*) FROM digest_runs WHERE completed_at IS NULL"
                )
                (waiting,) = bot.sql(
                    "SELECT COUNT(*) FROM subscriptions WHERE next_due_at < ?", (now + 3600,)
                )
                return open_runs[0] == 0 and waiting[0] == 0

            await fd.wait_until(settled, timeout=120)
            await bot.stop_cleanly()
            ok = True
        finally:
            await bot.kill()
            if not ok:
                print(bot.all_logs()[-20000:])

        outcome = examine(fd, subs)
        print(
            f"\nSQLite, 1 process: {sum(kills.values())} kill -9 ({kills}); "
            f"{outcome.summary()}; nonce repeats answered by the stand-in: {fd.nonce_repeats}"
        )
        assert kills["in the post window"] >= 5, kills
        assert outcome.duplicates == []
        assert outcome.repeated_slots == []
        assert outcome.lost_slots == []
        assert outcome.wrong_items == []
        # What was posted is exactly what was recorded as delivered.
        recorded: dict[tuple[int, str], set[str]] = {}
        for channel_id, topic, doc_id in bot.sql(
            "SELECT s.channel_id, s.topic, d.doc_id FROM deliveries AS d "
            "JOIN subscriptions AS s ON s.id = d.subscription_id"
        ):
            recorded.setdefault((channel_id, topic), set()).add(doc_id)
        assert recorded == {key: set(ids) for key, ids in outcome.posted.items()}


async def test_a_second_process_for_a_taken_shard_refuses_to_start(tmp_path: Path) -> None:
    shard = {"CORPUSBOT_SHARD_COUNT": "1", "CORPUSBOT_SHARD_IDS": "0"}
    async with FakeDiscord(guilds=[make_bot_guild()]) as fd:
        first = BotProcess(fd, tmp_path / "a", **shard)
        second = BotProcess(
            fd,
            tmp_path / "b",
            CORPUSBOT_DB=str(first.db),
            CORPUSBOT_INDEX=str(tmp_path / "a" / "corpusbot.index"),
            **shard,
        )
        try:
            await first.start(timeout=120)
            await second.launch()
            assert second.proc is not None
            code = await asyncio.wait_for(second.proc.wait(), 60)
            assert code == 2, second.log()
            assert "cannot start: shards already served: shard 0 by pid" in second.log()

            # A holder that died (kill -9) does not block its successor.
            await first.kill()
            await second.start(timeout=60)
            await second.stop_cleanly()
        finally:
            await first.kill()
            await second.kill()
