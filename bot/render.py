"""Replies as cards that fit Discord's limits, shown as embeds or as console text.

Every piece of corpus or user text is escaped (markdown and mentions) before it is
placed in a card, and every card is cut to Discord's limits: 256 title, 4096
description, 25 fields of 256 name / 1024 value, 2048 footer, 6000 in all.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.storage import Subscription, SynonymGroup
from retrieval.answer import Result
from retrieval.passages import sentence_starts, split_sentences
from retrieval.text import tokenize

if TYPE_CHECKING:
    import discord

    from bot.core import ReindexOutcome
    from bot.stats import StatsReport

__all__ = [
    "CHART_FILENAME",
    "Card",
    "answer_card",
    "answer_json",
    "digest_card",
    "emphasize",
    "escape",
    "fit",
    "shorten",
    "stats_card",
    "to_embed",
    "to_text",
]

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
FIELDS_MAX = 25
EMBED_TOTAL_MAX = 6000
CONTENT_MAX = 2000
EXCERPT_CHARS = 300

COLOR_ANSWER = 0x2B7A78
COLOR_ABSTAIN = 0x8A8D91
COLOR_DIGEST = 0x3A6EA5
COLOR_ERROR = 0xC0392B
COLOR_STATS = 0x5865F2
COLOR_NOTICE = 0xF0B232

CHART_FILENAME = "stats.png"


def shorten(text: str, limit: int, *, ellipsis: str = " …") -> str:
    """text cut to at most limit characters at a word boundary, marked with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = max(limit - len(ellipsis), 1)
    cut = text[:room]
    if " " in cut and not text[room].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + ellipsis


_BRACKET = re.compile(r"([\[\]])")
# discord.utils.escape_markdown and escape_mentions (discord.py 2.7, MIT), kept here so
# that rendering text (corpusbot ask, the console) does not import discord.py, a third of
# a second; tests/bot/test_render.py checks they agree.
_URL = r"""(?P<url><[^: >]+:\/[^ >]+>|(?:https?|steam):\/\/[^\s<]+[^<.,:;\"\'\]\s])"""
_MARKDOWN = r"(?P<markdown>[_\\~|\*`]|^>(?:>>)?\s|\[.+\]\(.+\)|^#{1,3}|^\s*-)"
_MARKDOWN_OR_URL = re.compile(f"(?:{_URL}|{_MARKDOWN})", re.MULTILINE)
_MENTION = re.compile(r"@(everyone|here|[!&]?[0-9]{17,20})")


def _escape_markdown(text: str) -> str:
    return _MARKDOWN_OR_URL.sub(lambda m: m["url"] or "\\" + m["markdown"], text)


def _escape_mentions(text: str) -> str:
    return _MENTION.sub("@\u200b\\1", text)


def escape(text: str) -> str:
    """Text safe to show: markdown is literal and mentions cannot ping."""
    # escape_markdown takes everything from a "[" to a later "](...)" for one masked link
    # and leaves it unescaped: escape the brackets here and each stretch between them there.
    escaped = "".join(
        "\\" + part if part in ("[", "]") else _escape_markdown(part)
        for part in _BRACKET.split(text)
    )
    return _escape_mentions(escaped)


_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def emphasize(text: str, terms: Iterable[str]) -> str:
    """Escape text and bold the words whose index term is one of terms."""
    wanted = set(terms)

    def bold(match: re.Match[str]) -> str:
        word = match.group()
        return f"**{word}**" if any(term in wanted for term in tokenize(word)) else word

    # Escape the whole text first: mentions and links only match across word boundaries.
    return _WORD.sub(bold, escape(text)).replace("****", "")


@dataclass(slots=True)
class Card:
    """A reply: what an embed shows, independent of Discord."""

    title: str
    description: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    footer: str = ""
    color: int = COLOR_ANSWER
    image: str | None = None  # e.g. "attachment://stats.png": a file sent with the card


def _cut(text: str, limit: int) -> str:
    """Markdown-aware cut: shorten, then drop a dangling bold marker."""
    if len(text) <= limit:
        return text
    cut = shorten(text, limit)
    if cut.count("**") % 2:
        cut = shorten(text, limit - 2)
        if cut.count("**") % 2:
            cut = cut.replace(" …", "** …") if cut.endswith(" …") else cut + "**"
    return cut[:limit]


def fit(card: Card) -> Card:
    """Cut a card to Discord's embed limits, dropping trailing fields if needed."""
    card.title = _cut(card.title, TITLE_MAX) or "corpusbot"
    card.description = _cut(card.description, DESCRIPTION_MAX)
    card.footer = _cut(card.footer, FOOTER_MAX)
    card.fields = [
        (_cut(name, FIELD_NAME_MAX) or "\u200b", _cut(value, FIELD_VALUE_MAX) or "\u200b")
        for name, value in card.fields[:FIELDS_MAX]
    ]

    def total() -> int:
        return (
            len(card.title)
            + len(card.description)
            + len(card.footer)
            + sum(len(n) + len(v) for n, v in card.fields)
        )

    while total() > EMBED_TOTAL_MAX and card.fields:
        card.fields.pop()
    if total() > EMBED_TOTAL_MAX:
        room = EMBED_TOTAL_MAX - (total() - len(card.description))
        card.description = _cut(card.description, max(room, 0))
    return card


def mark_cuts(extract: str, passage: str) -> str:
    """An answer as read: "… " before it when it starts in the middle of a sentence of
    its passage, " …" after it when that sentence goes on (a long sentence's answer is
    the stretch that holds what was asked). Sentences are the passage's as answers are
    drawn from them (retrieval.passages); the extract itself stays verbatim."""
    at = passage.find(extract)
    if not extract or at < 0:
        return extract
    sentences = split_sentences(passage)
    found = [
        (start, start + len(sentence))
        for start, sentence in zip(sentence_starts(passage, sentences), sentences, strict=True)
        if start >= 0
    ]
    head = "" if any(start == at for start, _ in found) else "… "
    tail = "" if any(end == at + len(extract) for _, end in found) else " …"
    return f"{head}{extract}{tail}"


def answer_card(question: str, result: Result, query_id: int | None) -> Card:
    """The reply to /ask: the answer and up to three numbered sources, or a plain
    "not in these articles" with the closest articles."""
    terms = set(tokenize(question))
    for corrected in result.corrections.values():
        terms.update(tokenize(corrected))
    card = Card(title=escape(shorten(question, TITLE_MAX - 40)))
    sources = result.sources(3)
    if result.answer is not None:
        cited = result.answer_source(3)
        own = sources[cited - 1].passage.text if cited else ""
        text = mark_cuts(result.answer.text, own)
        card.description = escape(text) + (f" [{cited}]" if cited else "")
        card.color = COLOR_ANSWER
    else:
        reason = f" {escape(result.reason)}" if result.reason else ""
        card.description = f"**Not in these articles.**{reason}"
        if sources:
            card.description += "\nThe closest articles:"
        card.color = COLOR_ABSTAIN
    if result.corrections:
        fixed = ", ".join(f"{a} → {b}" for a, b in result.corrections.items())
        card.description += f"\n-# Searched with corrected spelling: {escape(fixed)}"
    for n, hit in enumerate(sources, 1):
        excerpt = shorten(hit.passage.text, EXCERPT_CHARS)
        card.fields.append(
            (
                shorten(f"[{n}] {escape(hit.passage.title)}", FIELD_NAME_MAX),
                emphasize(excerpt, terms) + f"\n-# {escape(hit.passage.doc_id)}",
            )
        )
    if query_id is not None:
        card.footer = f"Query #{query_id} · Was this helpful?"
    return fit(card)


def answer_json(question: str, result: Result) -> dict:
    """The reply to a question as the ``ask --json`` contract object (see README)."""
    return {**result.to_json(), "question": question}


def digest_card(
    topic: str,
    items: Sequence[tuple[str, str, str]],
    *,
    preview: bool,
    subscribed: bool = False,
) -> Card:
    """A digest of (doc_id, title, excerpt) items on a topic; subscribed when it is a
    channel's next digest, which leaves out what the channel was already sent."""
    terms = set(tokenize(topic))
    title = f"{'Preview: ' if preview else ''}New on “{escape(topic)}”"
    card = Card(title=shorten(title, TITLE_MAX), color=COLOR_DIGEST)
    if not items:
        card.description = (
            "Nothing new for this channel: its digests list only articles not sent to it before."
            if subscribed
            else "No matching articles right now."
        )
    for n, (doc_id, doc_title, excerpt) in enumerate(items, 1):
        value = emphasize(shorten(excerpt, EXCERPT_CHARS), terms) + f"\n-# {escape(doc_id)}"
        card.fields.append((shorten(f"{n}. {escape(doc_title)}", FIELD_NAME_MAX), value))
    if items:
        noun = "article" if len(items) == 1 else "articles"
        card.footer = f"{len(items)} {noun} · " + (
            "a digest sends each article to a channel once"
            if preview
            else "each is sent to this channel once"
        )
    return fit(card)


def when(ts: float, now: float | None = None) -> str:
    """A Discord timestamp tag (rendered in each reader's time zone)."""
    return f"<t:{int(ts)}:R>" if ts > (now or time.time()) else "now"


def _relative(ts: int) -> str:
    """A relative Discord timestamp as text: "in 5 min", "3 h ago"."""
    minutes = round((ts - time.time()) / 60)
    span = abs(minutes)
    if span < 60:
        text = f"{span} min"
    elif span < 48 * 60:
        text = f"{span / 60:.0f} h"
    else:
        text = f"{span / 1440:.0f} days"
    return f"in {text}" if minutes >= 0 else f"{text} ago"


def to_embed(card: Card) -> discord.Embed:
    import discord

    embed = discord.Embed(title=card.title, description=card.description or None, color=card.color)
    for name, value in card.fields:
        embed.add_field(name=name, value=value, inline=False)
    if card.footer:
        embed.set_footer(text=card.footer)
    if card.image:
        embed.set_image(url=card.image)
    return embed


# Control characters but the line break.
_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _cells(text: str) -> int:
    """How many terminal columns text takes: two for a wide character (Chinese,
    Japanese, Korean), none for a combining mark."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def to_text(card: Card, channels: Mapping[int, str] | None = None) -> str:
    """The card as plain lines for the console (markdown escapes removed); a channel
    mention shows its name from channels, else its id."""
    names = channels or {}

    def plain(text: str) -> str:
        # a control character left in stored text (a question logged before they were
        # removed) is shown, not acted on by the terminal
        text = _CONTROLS.sub("\ufffd", text)
        text = text.replace("**", "").replace("\u200b", "").replace("-# ", "")
        text = re.sub(r"<t:(\d+):R>", lambda m: _relative(int(m.group(1))), text)
        text = re.sub(r"<#(\d+)>", lambda m: f"#{names.get(int(m.group(1)), m.group(1))}", text)
        return re.sub(r"\\([\\*_~`|>#\[\]()-])", r"\1", text)

    title = plain(card.title)
    lines = [title, "-" * min(_cells(title), 60)]
    if card.description:
        lines.append(plain(card.description))
    for name, value in card.fields:
        lines.append(f"  {plain(name)}")
        lines.extend(f"    {line}" for line in plain(value).splitlines())
    if card.footer:
        lines.append(f"  ({plain(card.footer)})")
    return "\n".join(lines)


def subscriptions_card(subs: Sequence[Subscription], now: float, *, where: str) -> Card:
    """This server's (or channel's) subscriptions with status and next due time."""
    card = Card(title=f"Digest subscriptions in {where}", color=COLOR_DIGEST)
    if not subs:
        card.description = "None yet. Subscribe a channel with `/subscribe topic cadence`."
        return fit(card)
    for sub in subs:
        if sub.active:
            status = f"active · next digest {when(sub.next_due_at, now)}"
        else:
            status = f"⏸ paused: {escape(sub.pause_reason or 'no reason given')}"
            if sub.notice == "sent":
                status += f" · notice sent to {sub.notice_detail}"
            elif sub.notice == "failed":
                status += f" · no notice could be sent ({escape(sub.notice_detail or '')})"
            status += " · restart with `/resume`"
        card.fields.append(
            (
                shorten(f"“{escape(sub.topic)}” ({sub.cadence})", FIELD_NAME_MAX),
                f"<#{sub.channel_id}> · {status}",
            )
        )
    if len(subs) > FIELDS_MAX:
        card.footer = f"Showing {FIELDS_MAX} of {len(subs)}."
    return fit(card)


def pause_notice_card(sub: Subscription) -> Card:
    """What a server is told, once, when one of its digests pauses."""
    topic = escape(sub.topic)
    where = f"<#{sub.channel_id}>"
    card = Card(title=shorten(f"⏸ Digest paused: “{topic}”", TITLE_MAX), color=COLOR_NOTICE)
    reason = escape(sub.pause_reason or "Discord refused the post")
    gone = "no longer exists" in (sub.pause_reason or "")
    fix = (
        f"To keep it, run /subscribe with the topic “{topic}” in another channel."
        if gone
        else "To restart it, let me **View Channel**, **Send Messages** and **Embed Links** "
        f"there, then run /resume with the topic “{topic}” in {where} "
        "(or /subscribe there again)."
    )
    card.description = (
        f"The {sub.cadence} digest on “{topic}” in {where} stopped: {reason}.\n\n"
        "Nothing is lost: articles it has not posted yet come with the next digest, and "
        f"none it already posted comes twice.\n\n{fix}"
    )
    card.footer = "You get this notice once per pause."
    return fit(card)


def reindex_card(outcome: ReindexOutcome) -> Card:
    """The summary an admin sees after /reindex."""
    build, docs = outcome.build, outcome.documents
    card = Card(title="Reindex complete" if build.rebuilt else "Corpus unchanged")
    lines = [
        f"**Documents:** {build.documents} ({len(docs.added)} added, {len(docs.changed)} changed, "
        f"{len(docs.removed)} removed)",
        f"**Passages:** {build.passages}",
        f"**Skipped files:** {len(build.skipped)}",
        f"**Time:** {outcome.seconds:.2f} s",
    ]
    card.description = "\n".join(lines)
    if build.skipped:
        listing = "\n".join(f"{escape(s.name)}: {escape(s.reason)}" for s in build.skipped[:15])
        card.fields.append(("Skipped", listing))
    if docs.added:
        card.fields.append(("Added", escape(", ".join(docs.added[:40]))))
    return fit(card)


def _lines_within(lines: Sequence[str], limit: int, more: str = "… and {n} more") -> str:
    """As many whole lines as fit in limit characters, then how many were left out."""
    kept: list[str] = []
    used = 0
    for n, line in enumerate(lines):
        left = len(lines) - n
        tail = len(more.format(n=left)) + 1 if left > 1 else 0
        if used + len(line) + 1 + tail > limit and kept:
            kept.append(more.format(n=left))
            break
        kept.append(_cut(line, limit))
        used += len(line) + 1
    return "\n".join(kept)


_SOURCE_NAMES = {"discord": "Discord", "console": "console", "cli": "command line"}


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def stats_card(report: StatsReport, *, chart: bool = False) -> Card:
    """The admin report: figures for the period, the questions the articles could not
    answer (grouped), the latest 👎 reasons and the most asked-about articles. With
    ``chart``, the embed shows the chart sent with it as CHART_FILENAME."""
    from bot.stats import iso_utc, period_label

    t = report.totals
    card = Card(title=f"corpusbot stats · {period_label(report.period)}", color=COLOR_STATS)
    if t.questions:
        share = f" ({t.answered / t.questions:.0%})"
        sources = " · ".join(
            f"{_SOURCE_NAMES.get(s, s)} {n}" for s, n in sorted(t.by_source.items()) if n
        )
        lines = [
            f"**Questions:** {t.questions} · {t.answered} answered{share} · "
            f"{report.not_answered} not in the articles",
            f"**Feedback:** 👍 {t.votes_up} · 👎 {t.votes_down}",
            f"**Answer time:** median {_ms(t.latency_p50_ms)} · p95 {_ms(t.latency_p95_ms)}",
            f"**Asked from:** {sources}",
        ]
    else:
        lines = ["No questions in this period."]
    if report.passages is not None:
        lines.append(f"**Passages indexed:** {report.passages}")
    card.description = "\n".join(lines)
    if report.unanswered:
        card.fields.append(
            (
                "Unanswered questions (most asked first)",
                _lines_within(
                    [
                        f"**{g.count}×** {escape(shorten(g.question, 150))}"
                        for g in report.unanswered
                    ],
                    FIELD_VALUE_MAX,
                ),
            )
        )
    if report.downvotes:
        card.fields.append(
            (
                "Latest 👎 reasons",
                _lines_within(
                    [
                        f"“{escape(shorten(d.reason, 160))}” on #{d.query_id}: "
                        f"{escape(shorten(d.question, 80))}"
                        for d in report.downvotes
                    ],
                    FIELD_VALUE_MAX,
                ),
            )
        )
    if report.articles:
        card.fields.append(
            (
                "Most asked-about articles",
                _lines_within(
                    [
                        f"**{a.questions}×** {escape(shorten(a.title or a.doc_id, 90))} "
                        f"({a.answered} answered)\n-# {escape(a.doc_id)}"
                        for a in report.articles
                    ],
                    FIELD_VALUE_MAX,
                ),
            )
        )
    since = iso_utc(report.since) if report.since is not None else "the first question"
    card.footer = f"From {since} to {iso_utc(report.until)} (UTC)"
    if chart:
        card.image = f"attachment://{CHART_FILENAME}"
    return fit(card)


HELP_TEXT = (
    "I answer questions about a corpus of news articles, quoting the articles and listing "
    "my sources.\n\n"
    "**/ask** `question` `[private]`: an answer with up to three numbered sources; "
    "rate it with 👍 / 👎.\n"
    "**/subscribe** `topic` `cadence`: post a digest of new articles on a topic in this "
    "channel (hourly, daily or weekly; needs Manage Channels).\n"
    "**/unsubscribe** `topic`: stop a digest in this channel.\n"
    "**/subscriptions**: this server's digests, their status and next time.\n"
    "**/resume** `topic`: restart a paused digest in this channel.\n"
    "**/digest** `topic`: preview what a digest on a topic would list (only you see it).\n"
    "**/reindex**: re-read the corpus (bot admins only).\n"
    "**/stats** `[period]`: questions, answers, feedback and a chart (bot admins only).\n"
    "**/synonyms** `list` / `add` / `remove`: names that mean the same thing, used by "
    "every answer (bot admins only).\n"
    "**/help**: this message."
)


def synonyms_card(
    file_groups: Sequence[Sequence[str]], admin_groups: Sequence[SynonymGroup]
) -> Card:
    """The alias groups answers use: the admins' (numbered, removable) and the file's."""
    card = Card(title="Synonyms", color=COLOR_ANSWER)
    lines = [f"**#{g.id}** " + escape(", ".join(g.members)) for g in admin_groups] or [
        "No groups added here yet: `/synonyms add Jack Ma, Ma Yun`."
    ]
    card.description = "\n".join(lines)
    if file_groups:
        listed = "\n".join(escape(", ".join(g)) for g in file_groups)
        card.fields.append(("From the synonyms file", listed))
    card.footer = f"{len(admin_groups)} added · {len(file_groups)} from the file"
    return fit(card)


def help_card() -> Card:
    return fit(Card(title="corpusbot", description=HELP_TEXT))


def error_card(message: str) -> Card:
    return fit(Card(title="Sorry", description=escape(message), color=COLOR_ERROR))
