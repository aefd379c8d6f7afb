"""Acceptance tests: feedback buttons (also across a restart) and /reindex, through
the real ``corpusbot run`` process and the Discord stand-in."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import BotProcess
from tests.e2e.fakediscord import CHANNEL_MESSAGE, MODAL

pytestmark = pytest.mark.e2e

ALIBABA_ARTICLE = """Alibaba Cloud opens a quantum networking lab in Hangzhou

Alibaba Cloud, the cloud computing arm of Alibaba Group, said on Monday that it has
opened a quantum networking laboratory in Hangzhou. The Alibaba Cloud lab will test
links between data centers and will be led by chief scientist Lin Weiqiao.
Alibaba Cloud expects the first results of the Hangzhou lab next spring.
"""


def _components(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components") or [] for c in row.get("components") or []]


def _text_inputs(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Text inputs of a modal, whether in action rows or labels."""
    found = []
    for component in components:
        if component.get("type") == 4:
            found.append(component)
        found += _text_inputs(component.get("components") or [])
        if component.get("component"):
            found += _text_inputs([component["component"]])
    return found


async def _answer(bot: BotProcess) -> tuple[dict[str, Any], int]:
    record = await bot.ask("Who is Dai Shan?")
    (message,) = record.followups
    (row,) = bot.sql("SELECT id FROM queries WHERE question = ?", ("Who is Dai Shan?",))
    return message, row[0]


async def test_thumbs_up_records_a_vote_and_thanks_privately(bot: BotProcess) -> None:
    message, query_id = await _answer(bot)
    assert f"corpusbot:vote:{query_id}:up" in [c["custom_id"] for c in _components(message)]

    click = await bot.fd.send_component(
        f"corpusbot:vote:{query_id}:up", message, user=bot.moderator
    )
    await bot.fd.wait_for_interaction_response(click)

    assert click.response_type == CHANNEL_MESSAGE
    assert click.ephemeral
    assert "Thanks" in click.response_data["content"]
    assert bot.sql("SELECT query_id, user_id, vote, reason FROM feedback") == [
        (query_id, int(bot.moderator["id"]), 1, None)
    ]


async def test_thumbs_down_opens_a_modal_whose_reason_is_stored(bot: BotProcess) -> None:
    message, query_id = await _answer(bot)

    click = await bot.fd.send_component(f"corpusbot:vote:{query_id}:down", message, user=bot.member)
    await bot.fd.wait_for_interaction_response(click)
    assert click.response_type == MODAL
    modal = click.response_data
    assert modal["custom_id"] == f"corpusbot:reason:{query_id}"
    (text_input,) = _text_inputs(modal["components"])
    assert bot.sql("SELECT vote, reason FROM feedback") == [(-1, None)]

    submit = await bot.fd.send_modal_submit(
        modal["custom_id"],
        {text_input["custom_id"]: "  Wrong   article, this is about Taobao  "},
        user=bot.member,
        channel_id=message_channel(message),
    )
    await bot.fd.wait_for_interaction_response(submit)

    assert submit.response_type == CHANNEL_MESSAGE
    assert submit.ephemeral
    assert "noted" in submit.response_data["content"]
    assert bot.sql(
        "SELECT user_id, vote, reason FROM feedback WHERE query_id = ?", (query_id,)
    ) == [(int(bot.member["id"]), -1, "Wrong article, this is about Taobao")]


def message_channel(message: dict[str, Any]) -> int:
    return int(message["channel_id"])


async def test_buttons_on_an_old_answer_work_after_a_restart(bot: BotProcess) -> None:
    message, query_id = await _answer(bot)

    await bot.restart()
    assert bot.runs == 2

    click = await bot.fd.send_component(
        f"corpusbot:vote:{query_id}:up", message, user=bot.moderator
    )
    await bot.fd.wait_for_interaction_response(click)
    assert click.response_type == CHANNEL_MESSAGE
    assert "Thanks" in click.response_data["content"]
    down = await bot.fd.send_component(f"corpusbot:vote:{query_id}:down", message, user=bot.member)
    await bot.fd.wait_for_interaction_response(down)
    assert down.response_type == MODAL
    assert sorted(
        bot.sql("SELECT user_id, vote FROM feedback WHERE query_id = ?", (query_id,))
    ) == (sorted([(int(bot.moderator["id"]), 1), (int(bot.member["id"]), -1)]))


async def test_vote_on_an_answer_the_database_no_longer_has(bot: BotProcess) -> None:
    """An old message whose query row is gone (say, a database restored from an older
    backup): the click gets a polite error, nothing is stored."""
    message, query_id = await _answer(bot)
    bot.execute("DELETE FROM queries WHERE id = ?", (query_id,))

    click = await bot.fd.send_component(f"corpusbot:vote:{query_id}:up", message, user=bot.member)
    await bot.fd.wait_for_interaction_response(click)

    assert click.response_type == CHANNEL_MESSAGE
    assert click.ephemeral
    assert (
        "is on record, so the vote was not saved" in click.response_data["embeds"][0]["description"]
    )
    assert bot.sql("SELECT count(*) FROM feedback") == [(0,)]


# --- /reindex ---------------------------------------------------------------------------


async def _reindex(bot: BotProcess, user: dict[str, Any]) -> dict[str, Any]:
    record = await bot.fd.send_slash_command("reindex", user=user)
    await bot.fd.wait_for_interaction_response(record)
    assert record.ephemeral
    assert record.response_type == 5
    edits = 0
    while True:
        edits += 1
        message = await bot.fd.wait_for_original_edit(record, edits, timeout=60)
        title = message["embeds"][0]["title"]
        if title != "Reindexing…":
            return message["embeds"][0]


async def test_admin_reindex_of_an_unchanged_corpus(bot: BotProcess) -> None:
    embed = await _reindex(bot, bot.admin)
    assert embed["title"] == "Corpus unchanged"
    assert "0 added" in embed["description"]


async def test_admin_reindex_picks_up_a_new_article(bot: BotProcess) -> None:
    (bot.corpus / "alibaba_quantum_lab.txt").write_text(ALIBABA_ARTICLE, encoding="utf-8")

    embed = await _reindex(bot, bot.admin)

    assert embed["title"] == "Reindex complete"
    assert "1 added" in embed["description"]
    assert bot.sql("SELECT doc_id FROM documents WHERE doc_id = 'alibaba_quantum_lab'")
    record = await bot.ask("Who leads the Alibaba Cloud quantum networking lab?")
    assert "Lin Weiqiao" in record.followups[0]["embeds"][0]["description"]


async def test_non_admin_reindex_is_refused_server_side(bot: BotProcess) -> None:
    (bot.corpus / "alibaba_quantum_lab.txt").write_text(ALIBABA_ARTICLE, encoding="utf-8")
    with pytest.raises(PermissionError):
        await bot.fd.send_slash_command("reindex", user=bot.member)

    # A client that ignores default_member_permissions (or a member granted the
    # command by a server's integration settings) reaches the bot's own check.
    for user, permissions in ((bot.member, None), (bot.moderator, 1 << 5)):
        record = await bot.fd.send_slash_command(
            "reindex", user=user, permissions=permissions, enforce_default_permissions=False
        )
        await bot.fd.wait_for_interaction_response(record)
        assert record.response_type == CHANNEL_MESSAGE
        assert record.ephemeral
        assert "Only the bot's admins" in record.response_data["embeds"][0]["description"]
        assert record.original_edits == []

    assert "reindex requested" not in bot.log()
    assert not bot.sql("SELECT doc_id FROM documents WHERE doc_id = 'alibaba_quantum_lab'")
