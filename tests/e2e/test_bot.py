"""Acceptance tests: the real ``corpusbot run`` process answers /ask through the
unpatched discord.py client talking to the local Discord stand-in.

One bot process serves the whole module: these tests only add rows to the query log
and look their own rows up by question.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from bot.core import one_line
from tests.conftest import describes_dai_shan
from tests.e2e.conftest import BotProcess
from tests.e2e.fakediscord import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    EPHEMERAL_FLAG,
    InteractionRecord,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


def _embed(message: dict[str, Any]) -> dict[str, Any]:
    (embed,) = message["embeds"]
    return embed


def _logged(bot: BotProcess, question: str) -> list[tuple[Any, ...]]:
    return bot.sql(
        "SELECT id, question, answered, user_id, channel_id, source FROM queries"
        " WHERE question = ?",
        (question,),
    )


def _mentions_nothing(payload: dict[str, Any]) -> bool:
    """No allowed_mentions (nothing can ping) or one that parses nothing and names no one."""
    allowed = payload.get("allowed_mentions")
    if allowed is None:
        return True
    return (
        allowed.get("parse") == []
        and not allowed.get("users")
        and not allowed.get("roles")
        and not allowed.get("replied_user")
    )


def _replies(record: InteractionRecord) -> list[dict[str, Any]]:
    """Every message body the bot sent for an interaction: callback data and followups."""
    bodies = [cb.get("data") or {} for cb in record.callbacks]
    return [b for b in bodies if b] + record.followups


async def test_ask_answers_with_numbered_sources(shared_bot: BotProcess) -> None:
    record = await shared_bot.ask("Who is Dai Shan?")

    assert record.response_type == DEFERRED_CHANNEL_MESSAGE
    assert not record.ephemeral
    (followup,) = record.followups
    embed = _embed(followup)
    assert describes_dai_shan(embed["description"])
    assert embed["description"].endswith("[1]")
    names = [f["name"] for f in embed["fields"]]
    assert names and all(re.match(rf"\[{n}\] \S", name) for n, name in enumerate(names, 1))
    assert any("Dai" in f["value"] for f in embed["fields"])
    # Feedback buttons carry the logged query's id.
    (row,) = _logged(shared_bot, "Who is Dai Shan?")
    query_id, _, answered, user_id, channel_id, source = row
    assert (answered, source) == (1, "discord")
    assert user_id == int(shared_bot.member["id"])
    assert channel_id == record.channel_id
    custom_ids = [c["custom_id"] for row in followup["components"] for c in row["components"]]
    assert custom_ids == [f"corpusbot:vote:{query_id}:up", f"corpusbot:vote:{query_id}:down"]
    assert _mentions_nothing(followup)


async def test_a_text_bot_starts_without_warning_that_voice_is_missing(
    shared_bot: BotProcess,
) -> None:
    await shared_bot.ask("Who is Dai Shan?")  # the bot is up

    log = shared_bot.log()
    assert "is not installed, voice will NOT be supported" not in log, log


async def test_unanswerable_question_says_not_in_these_articles(shared_bot: BotProcess) -> None:
    question = "What is the weather in Paris tomorrow?"
    record = await shared_bot.ask(question)

    embed = _embed(record.followups[0])
    assert embed["description"].startswith("**Not in these articles.**")
    assert "president" not in embed["description"]
    ((_, _, answered, *_),) = _logged(shared_bot, question)
    assert answered == 0


async def test_private_ask_is_ephemeral_from_defer_to_followup(shared_bot: BotProcess) -> None:
    record = await shared_bot.ask("Who is Dai Shan?", private=True, user=shared_bot.moderator)

    assert record.response_type == DEFERRED_CHANNEL_MESSAGE
    assert record.ephemeral
    (followup,) = record.followups
    assert int(followup["flags"]) & EPHEMERAL_FLAG
    assert describes_dai_shan(_embed(followup)["description"])


async def test_every_ask_is_logged_once(shared_bot: BotProcess) -> None:
    questions = [f"What did Alibaba announce about cloud number {n}?" for n in range(5)]
    records = await asyncio.gather(*(shared_bot.ask(q) for q in questions))

    assert all(len(r.followups) == 1 for r in records)
    for question in questions:
        assert len(_logged(shared_bot, question)) == 1


# --- bad input through the wire --------------------------------------------------------

ODD_QUESTIONS = [
    pytest.param("x" * 290 + " Dai Shan?", id="300-characters"),
    pytest.param("**Who** is _Dai_ ~~Shan~~? `code` > quote [link](http://x.y)", id="markdown"),
    pytest.param("@everyone @here <@123> <@&456> <#789> who is Dai Shan?", id="mentions"),
    pytest.param("'); DROP TABLE queries;--", id="sql"),
    pytest.param("Who is Dai Shan? 🤔🔥 👨‍👩‍👧", id="emoji"),
    pytest.param("من هو داي شان؟ מי זה דאי שאן", id="right-to-left"),
    pytest.param("Dai Shan \u200b\u202e\u0000 \ufeff?", id="control-characters"),
]


@pytest.mark.parametrize("question", ODD_QUESTIONS)
async def test_odd_questions_get_a_reply_that_mentions_no_one(
    shared_bot: BotProcess, question: str
) -> None:
    record = await shared_bot.ask(question)

    assert record.response_type == DEFERRED_CHANNEL_MESSAGE
    (followup,) = record.followups
    embed = _embed(followup)
    assert embed["description"]
    for body in _replies(record):
        assert _mentions_nothing(body), body.get("allowed_mentions")
    # Echoed user text cannot ping: mentions in the title are escaped.
    assert "@everyone" not in embed["title"] and "@here" not in embed["title"]
    # logged as the core cleans it (control characters removed, spacing collapsed)
    assert len(_logged(shared_bot, one_line(question))) == 1
    assert shared_bot.sql("SELECT count(*) FROM queries")[0][0] >= 1


async def test_whitespace_question_gets_a_clear_error(shared_bot: BotProcess) -> None:
    before = shared_bot.sql("SELECT count(*) FROM queries")[0][0]
    record = await shared_bot.fd.send_slash_command(
        "ask", {"question": "   \t  "}, user=shared_bot.member
    )
    await shared_bot.fd.wait_for_interaction_response(record)

    assert record.response_type == CHANNEL_MESSAGE
    assert record.ephemeral
    embed = _embed(record.response_data)
    assert embed["title"] == "Sorry"
    assert "Ask a question" in embed["description"]
    assert _mentions_nothing(record.response_data)
    assert record.followups == []
    assert shared_bot.sql("SELECT count(*) FROM queries")[0][0] == before


async def test_the_bot_survives_bad_input(shared_bot: BotProcess) -> None:
    """After everything above, the query log is intact and the bot still answers."""
    tables = {r[0] for r in shared_bot.sql("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"queries", "feedback", "subscriptions", "deliveries", "documents"} <= tables
    record = await shared_bot.ask("Who is Dai Shan?")
    assert describes_dai_shan(_embed(record.followups[0])["description"])
    assert shared_bot.proc is not None and shared_bot.proc.returncode is None
    assert "Traceback" not in shared_bot.log()
