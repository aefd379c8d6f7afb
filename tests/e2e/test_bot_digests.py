"""Acceptance tests: digest subscriptions through the real ``corpusbot run`` process.

The bot checks for due digests every 0.5 s (CORPUSBOT_DIGEST_INTERVAL); a new
subscription is due at once, and a test makes it due again by moving ``next_due_at``
in the database file.
"""

# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from tests.e2e.conftest import BotProcess
from tests.e2e.fakediscord import (
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    EMBED_LINKS,
    RecordedRequest,
)

pytestmark = pytest.mark.e2e

TOPIC = "Alibaba Cloud"
NEW_ARTICLE = """Alibaba Cloud opens a quantum networking lab in Hangzhou

Alibaba Cloud, the cloud computing arm of Alibaba Group, said on Monday that it has
opened a quantum networking laboratory in Hangzhou. The Alibaba Cloud lab will test
links between data centers and will be led by chief scientist Lin Weiqiao.
Alibaba Cloud expects the first results of the Hangzhou lab next spring.
"""


def digest_doc_ids(request: RecordedRequest) -> list[str]:
    """The document ids listed in a posted digest (the ``-# doc_id`` line of each field)."""
    (embed,) = request.json["embeds"]
    ids = []
    for field in embed.get("fields") or []:
        match = re.search(r"^-# (.+)$", field["value"], re.MULTILINE)
        assert match, field
        ids.append(match.group(1).replace("\\", ""))
    return ids


async def subscribe(
    bot: BotProcess, user: dict[str, Any], topic: str = TOPIC, **kwargs: Any
) -> Any:
    record = await bot.fd.send_slash_command(
        "subscribe",
        {"topic": topic, "cadence": "daily"},
        user=user,
        channel_id=bot.channel("news"),
        **kwargs,
    )
    await bot.fd.wait_for_interaction_response(record)
    return record


async def next_digest(bot: BotProcess, after: int, timeout: float = 15.0) -> RecordedRequest:
    news = bot.channel("news")
    return await bot.fd.wait_for_request(
        "POST",
        rf"/channels/{news}/messages",
        after=after,
        timeout=timeout,
        predicate=lambda r: r.status == 200,
    )


async def reindex(bot: BotProcess) -> dict[str, Any]:
    record = await bot.fd.send_slash_command("reindex", user=bot.admin)
    await bot.fd.wait_until(
        lambda: (
            record.original_edits
            and record.original_edits[-1]["embeds"][0]["title"] != "Reindexing…"
        ),
        timeout=60,
    )
    return record.original_edits[-1]["embeds"][0]


async def test_subscribe_digest_reindex_and_only_new_articles_next_time(bot: BotProcess) -> None:
    cursor = bot.fd.cursor()
    record = await subscribe(bot, bot.moderator)

    assert record.response_type == CHANNEL_MESSAGE
    assert not record.ephemeral
    content = record.response_data["content"]
    assert "daily" in content and TOPIC in content
    (row,) = bot.sql("SELECT id, channel_id, topic, cadence, status FROM subscriptions")
    sub_id = row[0]
    assert row[1:] == (bot.channel("news"), TOPIC, "daily", "active")

    first = await next_digest(bot, cursor)
    assert first.json["embeds"][0]["title"] == f"New on “{TOPIC}”"
    assert first.json["allowed_mentions"] == {"parse": []}
    first_ids = digest_doc_ids(first)
    assert first_ids, "the seeds hold articles about Alibaba Cloud"

    def delivered() -> list[str]:
        rows = bot.sql("SELECT doc_id FROM deliveries WHERE subscription_id = ?", (sub_id,))
        return sorted(r[0] for r in rows)

    assert await bot.fd.wait_until(delivered) == sorted(first_ids)
    (due,) = bot.sql("SELECT next_due_at FROM subscriptions")
    assert due[0] > time.time() + 86_000  # the next daily digest, not the next round

    # A new article arrives and an admin reindexes.
    (bot.corpus / "alibaba_cloud_quantum_lab.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    report = await reindex(bot)
    assert report["title"] == "Reindex complete"
    assert "1 added" in report["description"]

    # Nothing is posted until the subscription is due again.
    cursor = bot.fd.cursor()
    await asyncio.sleep(1.2)
    news = bot.channel("news")
    assert bot.fd.count_requests("POST", rf"/channels/{news}/messages", after=cursor) == 0
    bot.execute("UPDATE subscriptions SET next_due_at = ? WHERE id = ?", (time.time(), sub_id))

    second = await next_digest(bot, cursor)
    assert digest_doc_ids(second) == ["alibaba_cloud_quantum_lab"]
    assert "quantum" in second.json["embeds"][0]["fields"][0]["value"].lower()
    # And only once: later rounds post nothing more.
    await asyncio.sleep(1.2)
    assert bot.fd.count_requests("POST", rf"/channels/{news}/messages", after=cursor) == 1


async def test_subscriptions_and_unsubscribe_autocomplete_list_the_topic(bot: BotProcess) -> None:
    await subscribe(bot, bot.moderator)
    await subscribe(bot, bot.moderator, topic="Taobao")

    listing = await bot.fd.send_slash_command("subscriptions", user=bot.member)
    await bot.fd.wait_for_followups(listing)
    assert listing.ephemeral
    names = [f["name"] for f in listing.followups[0]["embeds"][0]["fields"]]
    assert sorted(names) == sorted([f"“{TOPIC}” (daily)", "“Taobao” (daily)"])

    typed = await bot.fd.send_autocomplete(
        "unsubscribe", {"topic": "ali"}, "topic", user=bot.moderator, channel_id=bot.channel("news")
    )
    await bot.fd.wait_for_interaction_response(typed)
    assert typed.response_type == AUTOCOMPLETE_RESULT
    assert typed.choices == [{"name": TOPIC, "value": TOPIC}]
    elsewhere = await bot.fd.send_autocomplete(
        "unsubscribe", {"topic": ""}, "topic", user=bot.moderator, channel_id=bot.channel("general")
    )
    await bot.fd.wait_for_interaction_response(elsewhere)
    assert elsewhere.choices == []

    gone = await bot.fd.send_slash_command(
        "unsubscribe", {"topic": TOPIC}, user=bot.moderator, channel_id=bot.channel("news")
    )
    await bot.fd.wait_for_interaction_response(gone)
    assert "Unsubscribed" in gone.response_data["content"]
    assert bot.sql("SELECT topic FROM subscriptions") == [("Taobao",)]


async def test_subscribe_without_manage_channels_is_refused_server_side(bot: BotProcess) -> None:
    with pytest.raises(PermissionError):
        await subscribe(bot, bot.member)
    record = await subscribe(bot, bot.member, enforce_default_permissions=False)

    assert record.response_type == CHANNEL_MESSAGE
    assert record.ephemeral
    assert "Manage Channels" in record.response_data["embeds"][0]["description"]
    assert bot.sql("SELECT count(*) FROM subscriptions") == [(0,)]


async def test_subscribe_where_the_bot_cannot_embed_is_refused(bot: BotProcess) -> None:
    news = bot.channel("news")
    await bot.fd.set_channel_overwrite(news, bot.fd.bot_user_id, deny=EMBED_LINKS)

    record = await subscribe(bot, bot.moderator)

    assert record.ephemeral
    description = record.response_data["embeds"][0]["description"]
    assert "Embed Links" in description
    assert "Send Messages" not in description
    assert bot.sql("SELECT count(*) FROM subscriptions") == [(0,)]
