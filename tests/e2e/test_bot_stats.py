"""Acceptance tests: /stats with its chart, and the notice when a digest pauses, through
the real ``corpusbot run`` process and the Discord stand-in."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from typing import Any

import pytest

from tests.e2e.conftest import BotProcess
from tests.e2e.fakediscord import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    MODAL,
    SEND_MESSAGES,
    RecordedRequest,
)
from tests.e2e.test_bot_admin import _components, _text_inputs
from tests.e2e.test_bot_digests import NEW_ARTICLE, TOPIC, digest_doc_ids, reindex, subscribe

pytestmark = pytest.mark.e2e

UNANSWERED = [  # the articles never mention Reykjavik, however it is typed
    "Who is the mayor of Reykjavik?",
    "who is the MAYOR of reykjavik",
    "Who  is the mayor of Reykjavik ?!",
]


def check_png(data: bytes) -> tuple[int, int]:
    """A PNG's width and height, after checking its signature and header chunk."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert data[12:16] == b"IHDR"
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]
    assert data.endswith(b"IEND\xaeB`\x82")
    return struct.unpack(">II", data[16:24])


async def _vote(bot: BotProcess, message: dict[str, Any], query_id: int, *, up: bool) -> None:
    direction = "up" if up else "down"
    click = await bot.fd.send_component(
        f"corpusbot:vote:{query_id}:{direction}", message, user=bot.moderator
    )
    await bot.fd.wait_for_interaction_response(click)
    if up:
        return
    assert click.response_type == MODAL
    modal = click.response_data
    (text_input,) = _text_inputs(modal["components"])
    submit = await bot.fd.send_modal_submit(
        modal["custom_id"],
        {text_input["custom_id"]: "wrong article @everyone"},
        user=bot.moderator,
        channel_id=int(message["channel_id"]),
    )
    await bot.fd.wait_for_interaction_response(submit)


async def _stats(bot: BotProcess, **options: Any) -> tuple[Any, RecordedRequest]:
    record = await bot.fd.send_slash_command("stats", options or None, user=bot.admin)
    await bot.fd.wait_for_followups(record, timeout=60)
    request = await bot.fd.wait_for_request("POST", rf"/webhooks/\d+/{record.token}")
    return record, request


async def test_stats_shows_the_figures_and_attaches_a_chart(bot: BotProcess) -> None:
    answered = await bot.ask("Who is Dai Shan?")
    for question in UNANSWERED:
        await bot.ask(question)
    votes = {}
    for row in bot.sql("SELECT id, question FROM queries"):
        votes[row[1]] = row[0]
    message = answered.followups[0]
    assert _components(message)
    await _vote(bot, message, votes["Who is Dai Shan?"], up=True)
    await _vote(bot, message, votes["Who is Dai Shan?"], up=False)  # changes the vote
    await _vote(bot, message, votes["Who is Dai Shan?"], up=True)

    record, request = await _stats(bot)

    assert record.response_type == DEFERRED_CHANNEL_MESSAGE
    assert record.ephemeral
    # the request: one PNG under 1 MB, and the embed showing it
    [upload] = request.files
    assert upload["filename"] == "stats.png"
    assert check_png(upload["data"]) == (1000, 750)
    assert len(upload["data"]) < 1_000_000
    [embed] = request.json["embeds"]
    assert embed["image"]["url"] == "attachment://stats.png"
    assert request.json["allowed_mentions"] == {"parse": []}
    # the message as Discord shows it: the attachment, and the embed pointing at it
    [followup] = record.followups
    [attachment] = followup["attachments"]
    assert followup["embeds"][0]["image"]["url"] == attachment["url"]

    [(questions, answered_count, up, down)] = bot.sql(
        "SELECT (SELECT COUNT(*) FROM queries), (SELECT COUNT(*) FROM queries WHERE answered),"
        " (SELECT COUNT(*) FROM feedback WHERE vote = 1),"
        " (SELECT COUNT(*) FROM feedback WHERE vote = -1)"
    )
    assert (questions, answered_count, up, down) == (4, 1, 1, 0)
    description = embed["description"]
    assert "**Questions:** 4 · 1 answered (25%) · 3 not in the articles" in description
    assert "**Feedback:** 👍 1 · 👎 0" in description
    assert "**Asked from:** Discord 4" in description
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    unanswered = fields["Unanswered questions (most asked first)"]
    assert unanswered.startswith("**3×** ")
    assert len(unanswered.splitlines()) == 1  # the three wordings are one group
    assert "Most asked-about articles" in fields
    assert embed["title"] == "corpusbot stats · the last 7 days"


async def test_stats_lists_thumbs_down_reasons_without_pinging(bot: BotProcess) -> None:
    record = await bot.ask("Who is Dai Shan?")
    [(query_id,)] = bot.sql("SELECT id FROM queries")
    await _vote(bot, record.followups[0], query_id, up=False)

    _, request = await _stats(bot, period="all")

    [embed] = request.json["embeds"]
    assert embed["title"] == "corpusbot stats · all time"
    reasons = {f["name"]: f["value"] for f in embed["fields"]}["Latest 👎 reasons"]
    assert "wrong article" in reasons
    assert "@everyone" not in reasons  # escaped: it cannot ping
    assert request.json["allowed_mentions"] == {"parse": []}


async def test_stats_is_for_bot_admins_only(bot: BotProcess) -> None:
    record = await bot.fd.send_slash_command(
        "stats", user=bot.moderator, permissions=1 << 5, enforce_default_permissions=False
    )
    await bot.fd.wait_for_interaction_response(record)
    assert record.response_type == CHANNEL_MESSAGE
    assert record.ephemeral
    assert "Only the bot's admins" in record.response_data["embeds"][0]["description"]
    assert record.followups == []


# --- a digest that pauses ---------------------------------------------------------------


def _sub(bot: BotProcess) -> tuple[Any, ...]:
    [row] = bot.sql("SELECT id, status, pause_reason, notice, notice_detail FROM subscriptions")
    return row


async def test_a_refused_digest_pauses_tells_the_server_once_and_resumes_without_repeats(
    bot: BotProcess,
) -> None:
    news, general = bot.channel("news"), bot.channel("general")
    cursor = bot.fd.cursor()
    await subscribe(bot, bot.moderator)
    first = await bot.fd.wait_for_request(
        "POST", rf"/channels/{news}/messages", after=cursor, timeout=15
    )
    first_ids = digest_doc_ids(first)
    sub_id = _sub(bot)[0]
    await bot.fd.wait_until(lambda: bot.sql("SELECT COUNT(*) FROM deliveries")[0][0])

    # A new article arrives; then the bot loses Send Messages in #news.
    (bot.corpus / "alibaba_cloud_quantum_lab.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    assert (await reindex(bot))["title"] == "Reindex complete"
    await bot.fd.set_channel_overwrite(news, bot.fd.bot_user_id, deny=SEND_MESSAGES)
    cursor = bot.fd.cursor()
    bot.execute("UPDATE subscriptions SET next_due_at = ? WHERE id = ?", (time.time(), sub_id))

    refused = await bot.fd.wait_for_request(
        "POST", rf"/channels/{news}/messages", after=cursor, timeout=15
    )
    assert refused.status == 403
    notice = await bot.fd.wait_for_request(
        "POST", rf"/channels/{general}/messages", after=cursor, timeout=15
    )
    assert notice.status == 200
    await asyncio.sleep(2.0)  # four more digest rounds

    # one notice, in the system channel, saying which digest, why, and how to resume
    assert bot.fd.count_requests("POST", rf"/channels/{general}/messages", after=cursor) == 1
    assert bot.fd.count_requests("POST", r"/users/@me/channels", after=cursor) == 0
    [embed] = notice.json["embeds"]
    assert TOPIC in embed["title"]
    assert f"<#{news}>" in embed["description"]
    assert "Missing Permissions" in embed["description"]
    assert "/resume" in embed["description"]
    assert notice.json["allowed_mentions"] == {"parse": []}
    _, state, reason, notice, where = _sub(bot)
    assert (state, notice, where) == ("paused", "sent", f"<#{general}>")
    assert "Missing Permissions" in reason
    # nothing lost: the new article was not recorded as delivered
    delivered = {r[0] for r in bot.sql("SELECT doc_id FROM deliveries")}
    assert delivered == set(first_ids)

    listing = await bot.fd.send_slash_command("subscriptions", user=bot.member)
    await bot.fd.wait_for_followups(listing)
    [field] = listing.followups[0]["embeds"][0]["fields"]
    assert "paused" in field["value"] and f"notice sent to <#{general}>" in field["value"]
    assert "/resume" in field["value"]

    # Resuming while the bot still cannot post is refused, and changes nothing.
    early = await bot.fd.send_slash_command(
        "resume", {"topic": TOPIC}, user=bot.moderator, channel_id=news
    )
    await bot.fd.wait_for_interaction_response(early)
    assert "Send Messages" in early.response_data["embeds"][0]["description"]
    assert _sub(bot)[1] == "paused"

    # Permission back, /resume: the article that could not be posted comes, once.
    await bot.fd.set_channel_overwrite(news, bot.fd.bot_user_id, deny=0)
    cursor = bot.fd.cursor()
    resumed = await bot.fd.send_slash_command(
        "resume", {"topic": TOPIC.lower()}, user=bot.moderator, channel_id=news
    )
    await bot.fd.wait_for_interaction_response(resumed)
    assert resumed.response_type == CHANNEL_MESSAGE
    assert "restarts" in resumed.response_data["content"]
    digest = await bot.fd.wait_for_request(
        "POST",
        rf"/channels/{news}/messages",
        after=cursor,
        timeout=15,
        predicate=lambda r: r.status == 200,
    )
    assert digest_doc_ids(digest) == ["alibaba_cloud_quantum_lab"]
    await asyncio.sleep(1.5)
    assert bot.fd.count_requests("POST", rf"/channels/{news}/messages", after=cursor) == 1
    assert bot.fd.count_requests("POST", rf"/channels/{general}/messages", after=cursor) == 0
    assert _sub(bot)[1:4] == ("active", None, None)


async def test_a_pause_notice_goes_to_the_subscriber_when_the_system_channel_is_closed(
    bot: BotProcess,
) -> None:
    news, general = bot.channel("news"), bot.channel("general")
    cursor = bot.fd.cursor()
    await subscribe(bot, bot.moderator)
    await bot.fd.wait_for_request("POST", rf"/channels/{news}/messages", after=cursor, timeout=15)
    sub_id = _sub(bot)[0]
    await bot.fd.wait_until(lambda: bot.sql("SELECT COUNT(*) FROM deliveries")[0][0])

    for channel in (news, general):
        await bot.fd.set_channel_overwrite(channel, bot.fd.bot_user_id, deny=SEND_MESSAGES)
    bot.execute("DELETE FROM deliveries")  # so the next round has something to post
    cursor = bot.fd.cursor()
    bot.execute("UPDATE subscriptions SET next_due_at = ? WHERE id = ?", (time.time(), sub_id))

    dm = await bot.fd.wait_for_request("POST", r"/users/@me/channels", after=cursor, timeout=15)
    assert str(dm.json["recipient_id"]) == bot.moderator["id"]
    [dm_channel] = bot.fd.dm_channels
    sent = await bot.fd.wait_for_request(
        "POST", rf"/channels/{dm_channel}/messages", after=cursor, timeout=15
    )
    assert sent.status == 200
    assert TOPIC in sent.json["embeds"][0]["title"]
    await asyncio.sleep(1.5)
    assert bot.fd.count_requests("POST", rf"/channels/{dm_channel}/messages", after=cursor) == 1
    assert bot.fd.count_requests("POST", rf"/channels/{general}/messages", after=cursor) == 0
    assert _sub(bot)[3:] == ("sent", "the subscriber by direct message")
