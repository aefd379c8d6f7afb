"""Reply cards: within Discord's embed limits, with corpus and user text made harmless."""

from __future__ import annotations

import re
import time

import discord
import pytest

from bot.render import (
    COLOR_ABSTAIN,
    DESCRIPTION_MAX,
    EMBED_TOTAL_MAX,
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    FOOTER_MAX,
    TITLE_MAX,
    Card,
    answer_card,
    digest_card,
    emphasize,
    escape,
    fit,
    mark_cuts,
    pause_notice_card,
    shorten,
    subscriptions_card,
    to_embed,
    to_text,
)
from bot.storage import Subscription
from retrieval.answer import Answer, Result, answer_question
from retrieval.corpus import Document
from retrieval.index import Hit, Index
from retrieval.passages import Passage

ZWSP = "\u200b"
USER_ID = "123456789012345678"
MARKDOWN = (
    "**bold** __under__ *slanted* _leaning_ `code` ~~struck~~ ||hidden|| "
    "[click me](https://example.com/a_b) # heading > quote"
)
MENTIONS = f"@everyone @here <@{USER_ID}> <@!{USER_ID}> <@123> <#1>"
HOSTILE = f"{MARKDOWN} {MENTIONS}"
RAW_MARKUP = ("**bold**", "__under__", "*slanted*", "_leaning_", "`code`", "~~struck~~")


def texts(card: Card) -> list[str]:
    return [card.title, card.description, card.footer, *(t for f in card.fields for t in f)]


def assert_within_limits(card: Card) -> None:
    assert 0 < len(card.title) <= TITLE_MAX
    assert len(card.description) <= DESCRIPTION_MAX
    assert len(card.footer) <= FOOTER_MAX
    assert len(card.fields) <= FIELDS_MAX
    for name, value in card.fields:
        assert 0 < len(name) <= FIELD_NAME_MAX
        assert 0 < len(value) <= FIELD_VALUE_MAX
    assert sum(len(t) for t in texts(card)) <= EMBED_TOTAL_MAX
    embed = to_embed(card)
    assert isinstance(embed, discord.Embed)
    assert len(embed) <= EMBED_TOTAL_MAX


def assert_harmless(text: str) -> None:
    """No mention that could ping and no markdown from the source text."""
    for mention in ("@everyone", "@here", f"<@{USER_ID}>", f"<@!{USER_ID}>"):
        assert mention not in text, text
    # Drop the bold markers the card adds around query terms, and URLs (left intact so
    # they still work); what remains of the markdown characters must all be escaped.
    plain = re.sub(r"(?<!\\)\*\*(?=[^\W_])|(?<=[^\W_])\*\*", "", text)
    plain = re.sub(r"https?://\S+", "", plain)
    assert not re.findall(r"(?<!\\)[*_~`|]", plain), text
    assert not re.search(r"(?<!\\)\[[^\]]*\]\(", plain), text  # no masked links


def hit(text: str, title: str = "An article", doc_id: str = "doc-1", n: int = 0) -> Hit:
    return Hit(Passage(doc_id, title, n, text), n, 1.0 - n / 10)


# --- answer cards ---------------------------------------------------------------------


def test_a_300_character_question_fits(seed_index: Index) -> None:
    question = ("Who is Dai Shan and what did he say about Taobao customers? " * 6)[:300]
    result = answer_question(seed_index, question)

    card = answer_card(question, result, 123)

    assert_within_limits(card)
    assert card.title.endswith(" …")
    assert question.startswith(card.title.removesuffix(" …"))
    assert card.footer == "Query #123 · Was this helpful?"


@pytest.mark.parametrize(
    ("extract", "shown"),
    [
        ("the fact is here, and more", "… the fact is here, and more …"),
        (
            "The long one goes on, and the fact is here",
            "The long one goes on, and the fact is here …",
        ),
        ("and the fact is here, and more after it.", "… and the fact is here, and more after it."),
        ("First one.", "First one."),
        ("Last one.", "Last one."),  # ends a paragraph
        ("A heading", "A heading"),  # a line of its own
        ("not in the passage", "not in the passage"),
    ],
)
def test_an_answer_cut_from_a_sentence_is_marked_where_it_was_cut(extract: str, shown: str) -> None:
    passage = (
        "First one. The long one goes on, and the fact is here, and more after it. "
        "Last one.\nA heading\nNext paragraph."
    )
    assert mark_cuts(extract, passage) == shown


def test_the_answer_card_marks_a_cut_but_keeps_a_whole_sentence_as_it_is() -> None:
    text = "First one. The long one goes on, and the fact is here, and more after it."
    hits = [hit(text, n=0), hit("Other text.", n=1)]
    cut = Result("q", Answer("the fact is here", "doc-0", "Title", 2.0, 0), hits)
    assert answer_card("q", cut, None).description == "… the fact is here … [1]"
    whole = Result("q", Answer("First one.", "doc-0", "Title", 2.0, 0), hits)
    assert answer_card("q", whole, None).description == "First one. [1]"


def test_markdown_and_mentions_are_escaped_everywhere() -> None:
    question = (f"What does this say? {HOSTILE} " * 3)[:300]
    hits = [hit(f"{HOSTILE} " * 12, title=f"Title {HOSTILE}", n=n) for n in range(3)]
    result = Result(question, Answer(f"{HOSTILE} " * 5, "doc-1", "Title"), hits)

    card = answer_card(question, result, 7)

    assert_within_limits(card)
    for text in texts(card):
        assert_harmless(text)
    assert f"@{ZWSP}everyone" in card.description
    assert f"@{ZWSP}here" in card.description
    for raw in RAW_MARKUP:
        assert raw not in card.description
    assert r"\*\*bold\*\*" in card.description
    assert r"\[click me\](https://example.com/a_b)" in card.description  # URL left intact
    assert len(card.fields) == 3


def test_mentions_split_by_bolded_query_terms_are_still_escaped() -> None:
    # "everyone" and the user id are query terms, so they are bolded inside the mentions.
    question = "Did everyone see user 123456789012345678?"
    result = Result(question, None, [hit(f"Note to @everyone and @here: ping <@{USER_ID}>.")])

    card = answer_card(question, result, None)

    value = card.fields[0][1]
    assert_harmless(value)
    assert "**everyone**" in value
    assert f"**{USER_ID}**" in value
    assert f"@{ZWSP}here" in value
    assert card.footer == ""


def test_the_longest_seed_article_as_an_answer_fits(seed_documents: dict[str, Document]) -> None:
    doc = max(seed_documents.values(), key=lambda d: len(d.text))
    assert len(doc.text) > DESCRIPTION_MAX  # the cut is really exercised
    title = " ".join([doc.title] * 12)
    hits = [hit(doc.text, title=title, doc_id=doc.doc_id, n=n) for n in range(3)]
    question = "Who took over Taobao after Dai Shan?"
    result = Result(question, Answer(doc.text, doc.doc_id, doc.title), hits)

    card = answer_card(question, result, 10**12)

    assert_within_limits(card)
    assert card.description.endswith(" …")
    for name, value in card.fields:
        assert name.endswith(" …")
        assert value.endswith(f"-# {escape(doc.doc_id)}")  # the source line survives the cut


def test_query_terms_are_bolded_in_excerpts(seed_index: Index) -> None:
    result = answer_question(seed_index, "Who is Dai Shan?")
    assert result.answer is not None

    card = answer_card("Who is Dai Shan?", result, 1)

    values = "\n".join(value for _, value in card.fields)
    assert "**Dai**" in values
    assert "**Shan**" in values
    assert "**is**" not in values  # a stop word is not a query term
    assert "Dai Shan" in to_text(card)  # the console shows it without markup


def test_misspelled_words_are_bolded_as_corrected() -> None:
    result = Result(
        "Who is Dai Shna?",
        None,
        [hit("Dai Shan took over Taobao.")],
        corrections={"Shna": "Shan"},
    )

    card = answer_card("Who is Dai Shna?", result, 1)

    assert "**Shan**" in card.fields[0][1]
    assert "Shna → Shan" in card.description


def test_the_abstain_card_lists_the_closest_articles(seed_index: Index) -> None:
    question = "What is the capital of France?"
    result = answer_question(seed_index, question)
    assert result.answer is None and result.hits

    card = answer_card(question, result, 5)

    assert_within_limits(card)
    assert card.color == COLOR_ABSTAIN
    assert card.description.startswith("**Not in these articles.**")
    assert "France" in card.description  # the reason
    assert "The closest articles:" in card.description
    assert [name[:4] for name, _ in card.fields] == ["[1] ", "[2] ", "[3] "][: len(card.fields)]
    assert len(card.fields) == min(3, len(result.hits))
    shown = to_text(card)
    assert "Not in these articles." in shown
    assert result.hits[0].passage.title[:40] in shown


def test_the_abstain_card_without_hits_lists_nothing() -> None:
    result = Result("Why?", None, [], "The question has no words to search for.")

    card = answer_card("Why?", result, None)

    assert "Not in these articles" in card.description
    assert "closest" not in card.description
    assert card.fields == []


# --- digests and other cards ----------------------------------------------------------


def test_a_digest_of_many_long_items_fits() -> None:
    items = [
        (f"doc-{n}", f"Long title {n} {HOSTILE} " * 8, f"Alibaba Cloud {HOSTILE} " * 40)
        for n in range(30)
    ]

    card = digest_card("Alibaba Cloud", items, preview=False)

    assert_within_limits(card)
    assert card.title == "New on “Alibaba Cloud”"
    assert 0 < len(card.fields) <= FIELDS_MAX
    assert card.fields[0][0].startswith("1. Long title 0")
    for text in texts(card):
        assert_harmless(text)
    assert "**Alibaba**" in card.fields[0][1]


def test_a_preview_digest_and_an_empty_one() -> None:
    card = digest_card("Taobao", [("doc-1", "A title", "Taobao grew.")], preview=True)
    empty = digest_card("Taobao", [], preview=True)

    assert card.title == "Preview: New on “Taobao”"
    assert card.footer == "1 article · a digest sends each article to a channel once"
    assert empty.description == "No matching articles right now."
    assert empty.fields == []
    nothing_new = digest_card("Taobao", [], preview=True, subscribed=True)
    assert nothing_new.description == (
        "Nothing new for this channel: its digests list only articles not sent to it before."
    )


def test_text_output_shows_control_characters_rather_than_sending_them() -> None:
    card = Card(title="Who is \x1b[2J?", description="a\x07b\nc", footer="\x9bx")

    text = to_text(card)

    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "Who is \ufffd[2J?" in text and "a\ufffdb\nc" in text


def test_relative_timestamps_read_forward_and_back_in_text() -> None:
    now = int(time.time())
    shown = [
        to_text(Card(title=f"<t:{now + delta}:R>")).splitlines()[0]
        for delta in (300, 3 * 3600, 3 * 86400, -300, -3 * 3600, -400 * 86400)
    ]
    assert shown == ["in 5 min", "in 3 h", "in 3 days", "5 min ago", "3 h ago", "400 days ago"]


def test_a_console_title_is_underlined_to_its_width_in_columns() -> None:
    for title, columns in [("Taobao", 6), ("阿里巴巴", 8), ("Café", 4), ("Café", 4)]:
        first, underline = to_text(Card(title=title)).splitlines()[:2]
        assert first == title
        assert underline == "-" * columns


def test_a_topic_with_markdown_and_mentions_is_escaped() -> None:
    topic = "@everyone **Alibaba** _Cloud_"
    sub = Subscription(1, 10, 20, topic, topic.casefold(), "daily", "active", None, 0, 1, 0, 0)

    cards = [
        digest_card(topic, [("doc-1", "@here title", "Alibaba Cloud.")], preview=False),
        subscriptions_card([sub], now=0, where="a server"),
    ]

    for card in cards:
        assert_within_limits(card)
        for text in texts(card):
            assert_harmless(text)


def test_fit_drops_trailing_fields_to_stay_within_the_total() -> None:
    card = Card(
        title="t",
        description="d" * 3000,
        fields=[(f"field {n}", "v" * 1000) for n in range(30)],
    )

    fitted = fit(card)

    assert_within_limits(fitted)
    assert [name for name, _ in fitted.fields] == [f"field {n}" for n in range(2)]
    assert len(fitted.description) == 3000


def test_to_embed_carries_every_part_of_the_card() -> None:
    card = fit(Card(title="T", description="D", fields=[("N", "V")], footer="F", color=0x123456))

    embed = to_embed(card)

    assert (embed.title, embed.description, embed.footer.text) == ("T", "D", "F")
    assert [(f.name, f.value, f.inline) for f in embed.fields] == [("N", "V", False)]
    assert embed.color == discord.Colour(0x123456)


# --- shorten and emphasize ------------------------------------------------------------

PROSE = (
    "Dai Shan, president of Alibaba's domestic digital business, said customers had "
    "given Taobao a lot of direction: merchants, buyers; and partners. Extraordinarily "
    "long-winded sentences notwithstanding, the company kept going."
)


def test_shorten_leaves_short_text_alone_but_collapses_whitespace() -> None:
    assert shorten("  a  short\n\ttext ", 100) == "a short text"


@pytest.mark.parametrize("limit", range(8, len(PROSE) + 1))
def test_shorten_never_cuts_mid_word(limit: int) -> None:
    out = shorten(PROSE, limit)

    assert len(out) <= limit
    if out == PROSE:
        return
    body = out.removesuffix(" …")
    assert body != out, "a cut text ends with an ellipsis"
    assert PROSE.startswith(body)
    assert PROSE[len(body)] in " ,;:", f"cut inside a word: {out!r}"


def test_emphasize_bolds_whole_words_by_their_index_term() -> None:
    out = emphasize("Cloud clouds clouded; cloudy sky", {"cloud"})

    assert out.startswith("**Cloud** **clouds**")
    assert "sky" in out and "**sky**" not in out


def _paused(topic: str, reason: str, **notice: object) -> Subscription:
    return Subscription(
        1, 10, 20, topic, topic.casefold(), "daily", "paused", reason, 0, 1, 0, 0, 5.0, **notice
    )  # type: ignore[arg-type]


def test_the_pause_notice_says_which_digest_stopped_why_and_how_to_resume() -> None:
    card = pause_notice_card(
        _paused("Alibaba Cloud", "no permission to post here (Missing Access)")
    )

    assert card.title == "⏸ Digest paused: “Alibaba Cloud”"
    assert "The daily digest on “Alibaba Cloud” in <#20> stopped: no permission" in (
        card.description
    )
    assert "run /resume with the topic “Alibaba Cloud” in <#20>" in card.description
    assert "Nothing is lost" in card.description
    gone = pause_notice_card(_paused("Taobao", "the channel no longer exists"))
    assert "in another channel" in gone.description and "/resume" not in gone.description

    hostile = pause_notice_card(_paused("@everyone **x**", "@here <@123456789012345678>"))
    assert_within_limits(hostile)
    for text in texts(hostile):
        assert_harmless(text)


def test_subscriptions_show_where_the_pause_notice_went() -> None:
    sent = _paused("Alibaba Cloud", "gone", notice="sent", notice_detail="<#30>")
    failed = _paused("Taobao", "gone", notice="failed", notice_detail="no system channel")

    card = subscriptions_card([sent, failed], now=0, where="a server")

    values = [value for _, value in card.fields]
    assert "⏸ paused: gone · notice sent to <#30> · restart with `/resume`" in values[0]
    assert "no notice could be sent (no system channel)" in values[1]


@pytest.mark.parametrize(
    "text",
    [
        "plain words",
        "*bold* _under_ ~~strike~~ `code` ||spoiler|| a\\b",
        "> quote\n>>> block\n# head\n## h2\n - item\n-item",
        "see https://example.com/a_b*c and <https://x.y/z_w> or steam://run/1_2.",
        "[label](https://example.com) and [x] (y)",
        "@everyone @here <@123456789012345678> @!12345678901234567 @&12345678901234567890",
    ],
)
def test_escaping_matches_discord_utils(text: str) -> None:
    """render keeps its own copy of discord.py's escaping (so text output does not
    import discord.py); it must agree with the original."""
    from bot.render import _escape_markdown, _escape_mentions

    assert _escape_markdown(text) == discord.utils.escape_markdown(text)
    assert _escape_mentions(text) == discord.utils.escape_mentions(text)
