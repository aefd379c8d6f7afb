"""Acceptance tests: the real ``corpusbot run`` process under Discord faults (rate
limits, server errors, refused channels, gateway reconnects) and a hard kill."""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import time

import pytest

from tests.conftest import describes_dai_shan
from tests.e2e.conftest import BotProcess
from tests.e2e.fakediscord import DEFERRED_CHANNEL_MESSAGE
from tests.e2e.test_bot_digests import digest_doc_ids, subscribe

pytestmark = pytest.mark.e2e


def _digest_posts(bot: BotProcess, *, status: int | None = None, after: int = 0) -> int:
    news = bot.channel("news")
    return bot.fd.count_requests("POST", rf"/channels/{news}/messages", status=status, after=after)


async def test_rate_limit_then_server_error_still_delivers_exactly_once(bot: BotProcess) -> None:
    news = bot.channel("news")
    bot.fd.inject_fault("POST", rf"/channels/{news}/messages", 429, retry_after=0.05)
    bot.fd.inject_fault("POST", rf"/channels/{news}/messages", 500)

    await subscribe(bot, bot.moderator)
    await bot.fd.wait_until(lambda: _digest_posts(bot, status=200), timeout=20)
    (sub_id,) = bot.sql("SELECT id FROM subscriptions")[0]
    await bot.fd.wait_until(
        lambda: bot.sql("SELECT count(*) FROM deliveries WHERE subscription_id = ?", (sub_id,))[0][
            0
        ]
    )
    await asyncio.sleep(1.5)  # three more loop rounds

    assert _digest_posts(bot, status=429) == 1
    assert _digest_posts(bot, status=500) == 1
    assert _digest_posts(bot, status=200) == 1
    assert _digest_posts(bot) == 3
    (delivered,) = [
        r for r in bot.fd.find_requests("POST", rf"/channels/{news}/messages") if r.status == 200
    ]
    posted = [m for m in bot.fd.channel_messages(news) if not m.get("interaction_metadata")]
    assert len(posted) == 1
    assert sorted(digest_doc_ids(delivered)) == sorted(
        r[0] for r in bot.sql("SELECT doc_id FROM deliveries WHERE subscription_id = ?", (sub_id,))
    )
    assert bot.sql("SELECT status FROM subscriptions") == [("active",)]


async def test_forbidden_channel_pauses_the_subscription_without_retrying(
    bot: BotProcess,
) -> None:
    news = bot.channel("news")
    # One refusal: a retry would be answered (and counted) as a second post.
    bot.fd.inject_fault("POST", rf"/channels/{news}/messages", 403)

    await subscribe(bot, bot.moderator)
    await bot.fd.wait_until(
        lambda: bot.sql("SELECT status FROM subscriptions") == [("paused",)], timeout=20
    )
    await asyncio.sleep(2.0)  # four more loop rounds

    assert _digest_posts(bot) == 1
    ((status, reason),) = bot.sql("SELECT status, pause_reason FROM subscriptions")
    assert status == "paused"
    assert "no permission" in reason and "Missing Permissions" in reason
    assert bot.sql("SELECT count(*) FROM deliveries") == [(0,)]
    listing = await bot.fd.send_slash_command("subscriptions", user=bot.member)
    await bot.fd.wait_for_followups(listing)
    assert "paused" in listing.followups[0]["embeds"][0]["fields"][0]["value"]

    # Subscribing again resumes it once the channel is fixed.
    cursor = bot.fd.cursor()
    await subscribe(bot, bot.moderator)
    await bot.fd.wait_until(lambda: _digest_posts(bot, status=200, after=cursor), timeout=20)
    assert bot.sql("SELECT status, pause_reason FROM subscriptions") == [("active", None)]


async def test_reconnect_request_and_dropped_socket_resume_the_session(bot: BotProcess) -> None:
    identified = bot.fd.identify_count

    await bot.fd.reconnect_request()
    await bot.fd.wait_until_resumed(1, timeout=15)
    first = await bot.ask("Who is Dai Shan?")
    assert describes_dai_shan(first.followups[0]["embeds"][0]["description"])

    await bot.fd.wait_until(bot.fd.gateway_connected, timeout=5)
    bot.fd.drop_connection()
    await bot.fd.wait_until_resumed(2, timeout=30)
    second = await bot.ask("Who is Dai Shan?", user=bot.moderator)
    assert second.response_type == DEFERRED_CHANNEL_MESSAGE
    assert describes_dai_shan(second.followups[0]["embeds"][0]["description"])

    assert bot.fd.identify_count == identified  # resumed, never re-identified
    assert "Traceback" not in bot.log()


def _synthetic_articles(bot: BotProcess, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    words = [f"w{n}" for n in range(5000)] + ["market", "cloud", "Alibaba", "company", "growth"]
    for n in range(count):
        paragraphs = [" ".join(rng.choices(words, k=120)) + "." for _ in range(6)]
        text = f"Synthetic article {n} about w{n}\n\n" + "\n\n".join(paragraphs) + "\n"
        (bot.corpus / f"synthetic_{n:05d}.txt").write_text(text, encoding="utf-8")


async def test_killed_during_reindex_restarts_with_a_sound_database(bot: BotProcess) -> None:
    await bot.ask("Who is Dai Shan?")
    _synthetic_articles(bot, 3000)

    record = await bot.fd.send_slash_command("reindex", user=bot.admin)
    await bot.fd.wait_for_interaction_response(record)
    started = time.monotonic()
    # Kill mid-build: after the first progress edit if the build is slow enough to
    # show one, else shortly after it started.
    await bot.fd.wait_until(lambda: "reindex requested" in bot.log(), timeout=10)
    with pytest.raises(TimeoutError):
        await bot.fd.wait_until(
            lambda: (
                record.original_edits
                and record.original_edits[-1]["embeds"][0]["title"] != "Reindexing…"
            ),
            timeout=0.8,
        )
    await bot.kill()
    assert bot.proc is not None and bot.proc.returncode == -9
    assert time.monotonic() - started < 10

    await bot.start(timeout=120)  # opens (and rebuilds) the index for the changed corpus
    answer = await bot.ask("Who is Dai Shan?")
    assert describes_dai_shan(answer.followups[0]["embeds"][0]["description"])
    assert bot.sql("PRAGMA integrity_check") == [("ok",)]
    assert bot.sql("SELECT count(*) FROM queries") == [(2,)]
    # The restarted bot tracks exactly the documents of the index it opened.
    indexed = int(re.findall(r"index ready: (\d+) documents", bot.log())[-1])
    assert indexed > 1000
    assert bot.sql("SELECT count(*) FROM documents WHERE removed_at IS NULL") == [(indexed,)]
    with sqlite3.connect(bot.db) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
