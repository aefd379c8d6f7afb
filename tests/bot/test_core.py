"""The behaviour layer on a real SQLite file and a private copy of the seed corpus.

Each test starts a Core the way the bot does (``Core.start``) with a clock it controls,
so digest schedules and "first seen" times are exact.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

import bot.core
from bot.config import Settings
from bot.core import (
    MAX_QUESTION_CHARS,
    MAX_TOPIC_CHARS,
    Busy,
    ChannelRefused,
    Core,
    Digest,
    NoticeUndeliverable,
    OnCooldown,
    Requester,
    UserError,
)
from bot.render import synonyms_card
from bot.storage import Subscription
from retrieval.query import dictionary

DISCORD_USER = Requester(user_id=111, guild_id=10, channel_id=20, source="discord")
OTHER_USER = Requester(user_id=222, guild_id=10, channel_id=20, source="discord")
CHANNEL = 20
T0 = 1_700_000_000.0
DAY = 86_400.0

NEW_ARTICLE_ID = "900_alibaba_cloud_news"
NEW_ARTICLE = """Alibaba Cloud opens a data centre in Reykjavik

Alibaba Cloud said on Monday that it has opened its first data centre in Reykjavik,
Iceland, to serve customers across northern Europe with geothermal power.

The new Reykjavik region runs the full set of Alibaba Cloud computing and storage
services, the company said, and a second site is planned for next year.
"""


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_settings(tmp_path: Path, corpus: Path, **overrides: object) -> Settings:
    """Settings on temporary paths only (no .env, no outside index folder)."""
    values: dict[str, object] = {
        "corpus": corpus,
        "db": tmp_path / "data" / "corpusbot.db",
        "index_dir": tmp_path / "index",
        "ask_cooldown": 30.0,
    }
    values.update(overrides)
    return Settings(**values)


StartCore = Callable[..., Awaitable[Core]]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def start_core(tmp_path: Path, seed_copy: Path, clock: Clock) -> AsyncIterator[StartCore]:
    """Start Cores on the seed copy and one database file; all are closed afterwards."""
    started: list[Core] = []

    async def start(**overrides: object) -> Core:
        core = await Core.start(make_settings(tmp_path, seed_copy, **overrides), clock=clock)
        started.append(core)
        return core

    yield start
    for core in started:
        await core.close()


@pytest.fixture
async def core(start_core: StartCore) -> Core:
    return await start_core()


async def subscribe(core: Core, topic: str = "Alibaba Cloud") -> Subscription:
    sub, created = await core.subscribe(
        guild_id=10, channel_id=CHANNEL, topic=topic, cadence="daily", user_id=111
    )
    assert created
    return sub


async def deliver(core: Core, sub: Subscription) -> list[str]:
    """What the digest loop does for one subscription; returns the doc ids posted."""
    digest = await core.build_digest(sub)
    if not digest.items:
        await core.skip_digest(sub)
        return []
    await core.record_digest(sub, digest, message_id=555)
    return [item.doc_id for item in digest.items]


async def current(core: Core, sub: Subscription) -> Subscription:
    fresh = await core.db.subscriptions.get(sub.id)
    assert fresh is not None
    return fresh


# --- ask ------------------------------------------------------------------------------


async def test_ask_logs_the_query_and_returns_the_answer(core: Core, clock: Clock) -> None:
    outcome = await core.ask("  Who is   Dai Shan? ", DISCORD_USER)

    answer = outcome.result.answer
    assert answer is not None
    assert "Dai Shan" in answer.text
    record = await core.db.queries.get(outcome.query_id)
    assert record is not None
    assert record.question == "Who is Dai Shan?"  # whitespace trimmed and collapsed
    assert record.answered is True
    assert record.answer_doc_id == answer.doc_id
    assert record.answer_text == answer.text
    assert [h.doc_id for h in record.top_hits] == [h.passage.doc_id for h in outcome.result.hits]
    assert record.top_hits[0].score > 0
    assert record.latency_ms == pytest.approx(outcome.latency_ms)
    assert record.latency_ms > 0
    assert record.created_at == clock.now
    assert (record.user_id, record.guild_id, record.channel_id, record.source) == (
        111,
        10,
        20,
        "discord",
    )


async def test_a_question_not_in_the_articles_is_logged_as_unanswered(core: Core) -> None:
    outcome = await core.ask("What is the capital of France?", DISCORD_USER)

    assert outcome.result.answer is None
    record = await core.db.queries.get(outcome.query_id)
    assert record is not None
    assert record.answered is False
    assert record.answer_doc_id is None
    assert record.answer_text is None


async def test_control_characters_are_kept_out_of_questions_reasons_and_topics(
    core: Core,
) -> None:
    hostile = "Who is \x1b]0;PWNED\x07\x1b[2J\x1b[31mDai\x00Shan?\x9b\x7f"

    outcome = await core.ask(hostile, DISCORD_USER)
    await core.vote(outcome.query_id, 111, up=False)
    await core.set_reason(outcome.query_id, 111, "bad\x1b[31m\x08 answer")
    sub, _ = await core.subscribe(
        guild_id=10, channel_id=20, topic="\x1b[2JTaobao\x07", cadence="daily", user_id=111
    )

    record = await core.db.queries.get(outcome.query_id)
    vote = await core.db.queries.get_vote(outcome.query_id, 111)
    assert record is not None and vote is not None
    for text in (record.question, outcome.result.question, vote.reason, sub.topic):
        assert text is not None
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text), repr(text)
    assert record.question == "Who is Dai Shan?"
    assert outcome.result.answer is not None and "Dai Shan" in outcome.result.answer.text
    assert (vote.reason, sub.topic) == ("bad answer", "Taobao")
    with pytest.raises(UserError, match="Ask a question"):
        await core.ask("\x1b\x07\x00", DISCORD_USER)


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "Ask a question"),
        ("   \n\t ", "Ask a question"),
        ("x" * (MAX_QUESTION_CHARS + 1), f"at most {MAX_QUESTION_CHARS} characters"),
    ],
    ids=["empty", "blank", "too-long"],
)
async def test_bad_questions_are_refused_and_not_logged(
    core: Core, question: str, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        await core.ask(question, DISCORD_USER)

    assert await core.db.queries.count() == 0


async def test_a_letter_typed_with_a_combining_accent_counts_once(core: Core) -> None:
    question = "Who is Dai Shan? " + "e\u0301" * 150  # 317 code points, 167 letters

    outcome = await core.ask(question, DISCORD_USER)

    record = await core.db.queries.get(outcome.query_id)
    assert record is not None and record.question == "Who is Dai Shan? " + "é" * 150


async def test_a_question_of_exactly_the_limit_is_accepted(core: Core) -> None:
    question = ("Who is Dai Shan " * 40)[:MAX_QUESTION_CHARS]

    outcome = await core.ask(question, DISCORD_USER)

    assert await core.db.queries.count() == 1
    assert outcome.query_id == 1


async def test_a_second_question_within_the_cooldown_is_refused(core: Core) -> None:
    await core.ask("Who is Dai Shan?", DISCORD_USER)

    with pytest.raises(OnCooldown) as caught:
        await core.ask("Where was Wu Yongming born?", DISCORD_USER)

    assert 0 < caught.value.retry_after <= 30
    assert "try again in" in str(caught.value)
    assert await core.db.queries.count() == 1  # the refused question is not logged


async def test_the_cooldown_is_per_user(core: Core) -> None:
    await core.ask("Who is Dai Shan?", DISCORD_USER)

    await core.ask("Who is Dai Shan?", OTHER_USER)

    assert await core.db.queries.count() == 2


async def test_the_console_has_no_cooldown(core: Core) -> None:
    console = Requester(user_id=111, source="console")

    for _ in range(3):
        await core.ask("Who is Dai Shan?", console)

    assert await core.db.queries.count() == 3


async def test_the_cooldown_expires(start_core: StartCore) -> None:
    core = await start_core(ask_cooldown=0.2)
    # the second question is admitted (or not) right after the first, however long
    # the first takes to answer on a busy machine
    first = await core.admit("Who is Dai Shan?", DISCORD_USER)
    with pytest.raises(OnCooldown):
        await core.ask("Who is Dai Shan?", DISCORD_USER)
    await core.answer(first, DISCORD_USER)

    await asyncio.sleep(0.25)
    await core.ask("Who is Dai Shan?", DISCORD_USER)

    assert await core.db.queries.count() == 2


# --- votes ----------------------------------------------------------------------------


async def test_changing_a_vote_keeps_one_row_per_user(core: Core) -> None:
    query_id = (await core.ask("Who is Dai Shan?", DISCORD_USER)).query_id

    await core.vote(query_id, 111, up=True)
    assert tuple(await core.db.queries.votes_for(query_id)) == (1, 0)
    await core.vote(query_id, 111, up=False)

    assert tuple(await core.db.queries.votes_for(query_id)) == (0, 1)
    vote = await core.db.queries.get_vote(query_id, 111)
    assert vote is not None and vote.vote == -1


async def test_votes_of_different_users_add_up(core: Core) -> None:
    query_id = (await core.ask("Who is Dai Shan?", DISCORD_USER)).query_id

    await core.vote(query_id, 111, up=True)
    await core.vote(query_id, 222, up=False)

    assert tuple(await core.db.queries.votes_for(query_id)) == (1, 1)


async def test_a_reason_is_attached_after_a_down_vote(core: Core) -> None:
    query_id = (await core.ask("Who is Dai Shan?", DISCORD_USER)).query_id
    await core.vote(query_id, 111, up=False)

    await core.set_reason(query_id, 111, "  too\n vague  ")

    vote = await core.db.queries.get_vote(query_id, 111)
    assert vote is not None
    assert (vote.vote, vote.reason) == (-1, "too vague")


async def test_a_reason_without_a_vote_is_refused(core: Core) -> None:
    query_id = (await core.ask("Who is Dai Shan?", DISCORD_USER)).query_id

    with pytest.raises(UserError, match="Vote first"):
        await core.set_reason(query_id, 111, "too vague")


async def test_a_vote_on_an_unknown_query_is_refused(core: Core) -> None:
    with pytest.raises(UserError, match="No answer #9999 is on record"):
        await core.vote(9999, 111, up=True)

    assert await core.db.queries.get_vote(9999, 111) is None


# --- subscriptions --------------------------------------------------------------------


async def test_subscribing_again_updates_the_same_subscription(core: Core) -> None:
    sub = await subscribe(core)

    again, created = await core.subscribe(
        guild_id=10, channel_id=CHANNEL, topic="  alibaba   CLOUD ", cadence="weekly", user_id=7
    )

    assert created is False
    assert again.id == sub.id
    assert again.cadence == "weekly"
    assert [s.id for s in await core.channel_subscriptions(CHANNEL)] == [sub.id]


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("", "Give a topic"),
        ("   ", "Give a topic"),
        ("cloud " * 20, f"at most {MAX_TOPIC_CHARS} characters"),
        ("the and of", "no words to search for"),
    ],
    ids=["empty", "blank", "too-long", "stop-words"],
)
async def test_bad_topics_are_refused(core: Core, topic: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        await core.subscribe(
            guild_id=10, channel_id=CHANNEL, topic=topic, cadence="daily", user_id=111
        )

    assert await core.channel_subscriptions(CHANNEL) == []


async def test_a_bad_cadence_is_refused(core: Core) -> None:
    with pytest.raises(UserError, match="hourly, daily or weekly"):
        await core.subscribe(
            guild_id=10, channel_id=CHANNEL, topic="Taobao", cadence="monthly", user_id=111
        )  # type: ignore[arg-type]


async def test_unsubscribe(core: Core) -> None:
    await subscribe(core)

    assert await core.unsubscribe(CHANNEL, "ALIBABA cloud") is True
    assert await core.unsubscribe(CHANNEL, "Alibaba Cloud") is False
    assert await core.channel_subscriptions(CHANNEL) == []
    with pytest.raises(UserError, match="Give the topic"):
        await core.unsubscribe(CHANNEL, "  ")


# --- digests --------------------------------------------------------------------------


async def test_the_first_digest_lists_matching_articles_once(core: Core, clock: Clock) -> None:
    sub = await subscribe(core)
    assert [s.id for s in await core.due_subscriptions()] == [sub.id]

    digest = await core.build_digest(sub)

    ids = [item.doc_id for item in digest.items]
    assert ids, "the seed corpus has articles on Alibaba Cloud"
    assert "004_58f90575acefb2b5" in ids  # the article that names Alibaba Cloud most
    assert len(ids) == len(set(ids))
    for item in digest.items:
        assert item.title and item.excerpt
    await core.record_digest(sub, digest, message_id=555)

    assert await core.db.subscriptions.delivered_doc_ids(sub.id) == set(ids)
    sub = await current(core, sub)
    assert sub.next_due_at == clock.now + DAY
    assert await core.due_subscriptions() == []
    assert (await core.build_digest(sub)).items == ()


async def test_a_restart_does_not_resend_delivered_articles(
    start_core: StartCore, clock: Clock
) -> None:
    core = await start_core()
    sub = await subscribe(core)
    first = await deliver(core, sub)
    assert first
    await core.close()

    clock.advance(DAY)
    restarted = await start_core()

    due = await restarted.due_subscriptions()
    assert [s.id for s in due] == [sub.id]
    assert (await restarted.build_digest(due[0])).items == ()


async def test_the_next_digest_has_exactly_the_new_article(
    core: Core, clock: Clock, seed_copy: Path
) -> None:
    sub = await subscribe(core)
    first = await deliver(core, sub)

    clock.advance(DAY)
    (seed_copy / f"{NEW_ARTICLE_ID}.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    await core.reindex()
    due = await core.due_subscriptions()

    assert [s.id for s in due] == [sub.id]
    assert [item.doc_id for item in (await core.build_digest(due[0])).items] == [NEW_ARTICLE_ID]
    assert NEW_ARTICLE_ID not in first


async def test_old_articles_never_delivered_are_not_sent_later(
    tmp_path: Path, seed_copy: Path, clock: Clock
) -> None:
    # More matching articles than one digest holds: some are never delivered.
    for n in range(8):
        (seed_copy / f"800_cloud_{n}.txt").write_text(
            f"Alibaba Cloud region number {n}\n\nAlibaba Cloud opened region {n} "
            f"for customers in city {n}, the company said in a statement.\n",
            encoding="utf-8",
        )
    core = await Core.start(make_settings(tmp_path, seed_copy), clock=clock)
    try:
        clock.advance(3600)  # the subscription comes after every article was first seen
        sub = await subscribe(core)
        first = await deliver(core, sub)
        assert len(first) == bot.core.DIGEST_MAX_ITEMS
        undelivered = {f"800_cloud_{n}" for n in range(8)} - set(first)
        assert undelivered

        clock.advance(DAY)
        (seed_copy / f"{NEW_ARTICLE_ID}.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        await core.reindex()
        second = await deliver(core, await current(core, sub))
        clock.advance(DAY)
        third = await deliver(core, await current(core, sub))
    finally:
        await core.close()

    assert second == [NEW_ARTICLE_ID]
    assert third == []


async def test_an_empty_first_turn_still_limits_later_digests_to_new_articles(
    core: Core, clock: Clock, seed_copy: Path
) -> None:
    sub = await subscribe(core, topic="Reykjavik")
    assert await deliver(core, sub) == []  # nothing yet: the turn is skipped

    clock.advance(DAY)
    (seed_copy / f"{NEW_ARTICLE_ID}.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    await core.reindex()

    assert await deliver(core, await current(core, sub)) == [NEW_ARTICLE_ID]


async def test_a_paused_subscription_is_not_due_until_resubscribed(
    core: Core, clock: Clock
) -> None:
    sub = await subscribe(core)

    await core.pause(sub, "no permission to post here (Missing Access)")

    paused = await current(core, sub)
    assert paused.status == "paused"
    assert paused.active is False
    assert paused.pause_reason == "no permission to post here (Missing Access)"
    assert await core.due_subscriptions() == []
    clock.advance(7 * DAY)
    assert await core.due_subscriptions() == []

    resumed, created = await core.subscribe(
        guild_id=10, channel_id=CHANNEL, topic="Alibaba Cloud", cadence="daily", user_id=111
    )
    assert created is False
    assert resumed.id == sub.id
    assert resumed.status == "active"
    assert resumed.pause_reason is None
    assert [s.id for s in await core.due_subscriptions()] == [sub.id]


async def test_a_refused_channel_pauses_once_and_resume_sends_nothing_twice(
    core: Core, clock: Clock
) -> None:
    sub = await subscribe(core)
    first = await deliver(core, sub)
    assert first

    async def refuse(sub: Subscription, digest: Digest, nonce: str) -> int:
        raise ChannelRefused("no permission to post here (Missing Permissions)")

    (core.settings.corpus / f"{NEW_ARTICLE_ID}.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    clock.advance(DAY)
    await core.reindex()
    assert await core.deliver_due(refuse) == 0
    paused = await current(core, sub)
    assert (paused.status, paused.notice) == ("paused", "pending")

    told: list[int] = []

    async def notify(s: Subscription) -> str:
        told.append(s.id)
        return "#general"

    assert await core.send_pause_notices(notify) == 1
    assert await core.send_pause_notices(notify) == 0  # once only
    assert told == [sub.id]
    assert (await current(core, sub)).notice_detail == "#general"

    with pytest.raises(UserError, match="no digest"):
        await core.resume(CHANNEL, "Taobao")
    resumed = await core.resume(CHANNEL, "  alibaba   cloud ")
    assert resumed.active and resumed.next_due_at == clock()
    with pytest.raises(UserError, match="not paused"):
        await core.resume(CHANNEL, "Alibaba Cloud")
    # the article that could not be posted comes now; none of the first digest again
    assert await deliver(core, resumed) == [NEW_ARTICLE_ID]


async def test_an_undeliverable_pause_notice_is_recorded(core: Core) -> None:
    sub = await subscribe(core)
    await core.pause(sub, "the channel no longer exists")

    async def nowhere(s: Subscription) -> str:
        raise NoticeUndeliverable("no system channel and the subscriber's DMs are closed")

    assert await core.send_pause_notices(nowhere) == 0
    failed = await current(core, sub)
    assert (failed.notice, failed.notice_detail) == (
        "failed",
        "no system channel and the subscriber's DMs are closed",
    )


async def test_stats_reports_the_period_asked_for(core: Core, clock: Clock) -> None:
    await core.ask("Who is Dai Shan?", DISCORD_USER)
    clock.advance(2 * DAY)
    await core.ask("What is the capital of France?", Requester(source="console"))

    week = await core.stats("week")
    assert (week.totals.questions, week.totals.answered, week.not_answered) == (2, 1, 1)
    assert week.totals.by_source == {"console": 1, "discord": 1}
    assert week.passages == core.index.num_passages
    assert (await core.stats("day")).totals.questions == 1
    assert (await core.stats(" Day ")).totals.questions == 1  # any case
    with pytest.raises(UserError, match="day, week, month, all"):
        await core.stats("fortnight")
    rows = [row async for row in core.query_log("all")]
    assert [r.question for r in rows] == ["Who is Dai Shan?", "What is the capital of France?"]


async def test_preview_digest(core: Core) -> None:
    preview = await core.preview_digest("  Taobao ")

    assert preview.topic == "Taobao"
    assert "003_9a4ce96881302217" in [item.doc_id for item in preview.items]
    assert (await core.preview_digest("Reykjavik")).items == ()
    with pytest.raises(UserError):
        await core.preview_digest("")


async def test_a_subscribed_channels_preview_is_its_next_digest(
    core: Core, clock: Clock, seed_copy: Path
) -> None:
    sub = await subscribe(core)
    sent = await deliver(core, sub)
    assert sent

    clock.advance(DAY)
    (seed_copy / f"{NEW_ARTICLE_ID}.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    await core.reindex()

    here = await core.preview_digest("alibaba  cloud", CHANNEL)
    elsewhere = await core.preview_digest("Alibaba Cloud", CHANNEL + 1)
    assert [item.doc_id for item in here.items] == [NEW_ARTICLE_ID]
    assert set(sent) <= {item.doc_id for item in elsewhere.items}
    # a preview delivers nothing
    assert [item.doc_id for item in (await core.build_digest(sub)).items] == [NEW_ARTICLE_ID]
    # it is the channel's, so it says so, and an empty one is empty of new articles
    assert here.subscribed and not elsewhere.subscribed


# --- reindex --------------------------------------------------------------------------


class SlowBuild:
    """Wraps open_index so a build waits (in its worker thread) until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        real = bot.core.open_index

        def slow_open_index(*args: object, **kwargs: object) -> object:
            self.calls += 1
            self.started.set()
            if not self.release.wait(timeout=10):
                raise AssertionError("the slow build was never released")
            return real(*args, **kwargs)

        monkeypatch.setattr(bot.core, "open_index", slow_open_index)

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.wait, 10), "the build never started"


async def test_reindex_swaps_in_the_new_index_and_serves_the_old_one_meanwhile(
    core: Core, seed_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = Requester(source="console")
    question = "Where did Alibaba Cloud open a data centre in Reykjavik?"
    old_index = core.index
    (seed_copy / f"{NEW_ARTICLE_ID}.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    slow = SlowBuild(monkeypatch)

    task = asyncio.create_task(core.reindex())
    await slow.wait_started()
    assert core.reindexing
    during = await core.ask(question, console)
    assert core.index is old_index
    slow.release.set()
    outcome = await task

    assert during.result.answer is None  # the old index has never heard of Reykjavik
    assert core.index is not old_index
    assert not core.reindexing
    after = await core.ask(question, console)
    assert after.result.answer is not None
    assert after.result.answer.doc_id == NEW_ARTICLE_ID
    assert outcome.documents.added == [NEW_ARTICLE_ID]
    assert outcome.build.rebuilt is True


def _damage_corpus(folder: Path, how: str) -> None:
    if how == "emptied":
        for path in folder.iterdir():
            path.unlink()
    else:
        shutil.rmtree(folder)


@pytest.mark.parametrize("damage", ["emptied", "removed"])
async def test_a_failed_reindex_keeps_the_old_index(
    core: Core, seed_copy: Path, damage: str
) -> None:
    old_index = core.index
    _damage_corpus(seed_copy, damage)

    with pytest.raises(UserError, match="still serving the previous index"):
        await core.reindex()

    assert core.index is old_index
    assert not core.reindexing
    outcome = await core.ask("Who is Dai Shan?", Requester(source="console"))
    assert outcome.result.answer is not None
    records = await core.db.documents.all_active()
    assert len(records) == len(old_index.documents)  # nothing was marked removed


async def test_a_second_concurrent_reindex_is_busy(
    core: Core, seed_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (seed_copy / f"{NEW_ARTICLE_ID}.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    slow = SlowBuild(monkeypatch)

    async def release_when_started() -> None:
        await slow.wait_started()
        slow.release.set()

    first, second, _ = await asyncio.gather(
        core.reindex(), core.reindex(), release_when_started(), return_exceptions=True
    )

    assert isinstance(second, Busy), second
    assert "already running" in str(second)
    assert not isinstance(first, BaseException), first
    assert first.documents.added == [NEW_ARTICLE_ID]
    assert slow.calls == 1
    assert not core.reindexing


async def test_reindex_reports_added_changed_and_removed_documents(
    core: Core, seed_copy: Path, clock: Clock
) -> None:
    (seed_copy / f"{NEW_ARTICLE_ID}.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    changed = seed_copy / "002_20860fa90339b72b.txt"
    changed.write_text(
        changed.read_text(encoding="utf-8") + "\nOne more paragraph.\n", encoding="utf-8"
    )
    (seed_copy / "000_7a46dadf526371bf.txt").unlink()
    clock.advance(60)

    outcome = await core.reindex()

    assert outcome.documents.added == [NEW_ARTICLE_ID]
    assert outcome.documents.changed == ["002_20860fa90339b72b"]
    assert outcome.documents.removed == ["000_7a46dadf526371bf"]
    assert (outcome.build.added, outcome.build.changed, outcome.build.removed) == (
        [NEW_ARTICLE_ID],
        ["002_20860fa90339b72b"],
        ["000_7a46dadf526371bf"],
    )
    assert outcome.build.documents == 5
    record = await core.db.documents.get(NEW_ARTICLE_ID)
    assert record is not None and record.first_seen_at == clock.now


async def test_reindex_of_an_unchanged_corpus_reports_nothing_new(core: Core) -> None:
    outcome = await core.reindex()

    assert outcome.build.rebuilt is False
    assert (outcome.documents.added, outcome.documents.changed, outcome.documents.removed) == (
        [],
        [],
        [],
    )


# --- synonyms ---------------------------------------------------------------------------

ALIAS_QUESTION = "How many employees does Zorblax have in Beijing?"


async def test_admin_synonyms_answer_at_once_and_after_a_restart(start_core: StartCore) -> None:
    console = Requester(source="console")
    core = await start_core()
    before = await core.ask(ALIAS_QUESTION, console)
    assert before.result.answer is None and "Zorblax" in before.result.reason

    group = await core.add_synonyms("Zorblax,  Alibaba", 111)
    assert group.members == ("Zorblax", "Alibaba") and group.created_by == 111
    after = await core.ask(ALIAS_QUESTION, console)
    assert after.result.answer is not None and "8000" in after.result.answer.text

    again = await start_core()
    assert [g.members for g in again.admin_synonyms] == [("Zorblax", "Alibaba")]
    restarted = await again.ask(ALIAS_QUESTION, console)
    assert restarted.result.answer is not None
    assert await again.remove_synonyms(group.id)
    assert not await again.remove_synonyms(group.id)
    assert (await again.ask(ALIAS_QUESTION, console)).result.answer is None


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("Zorblax", "at least two"),
        ("Zorblax, zorblax", "at least two"),
        ("x" * 101 + ", Alibaba", "longer than 100"),
        (", ".join(f"Name{n}" for n in range(40)), "at most 20"),
        (",,, ;;", "letters or digits"),
    ],
)
async def test_a_bad_synonym_group_is_refused_with_a_reason(
    core: Core, names: str, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        await core.add_synonyms(names, 111)
    assert await core.db.synonyms.all() == []


async def test_the_same_group_twice_is_refused(core: Core) -> None:
    group = await core.add_synonyms("Zorblax, Alibaba", 111)
    with pytest.raises(UserError, match=f"already stored as #{group.id}"):
        await core.add_synonyms("ALIBABA, zorblax", 222)
    assert len(core.admin_synonyms) == 1


async def test_a_group_the_synonyms_file_already_has_is_refused(core: Core) -> None:
    with pytest.raises(UserError, match="synonyms file already has these names together"):
        await core.add_synonyms("ma yun, JACK MA", 111)
    assert await core.db.synonyms.all() == []
    # one more name is a new group
    group = await core.add_synonyms("Jack Ma, Ma Yun, Zorblax", 111)
    assert group.members == ("Jack Ma", "Ma Yun", "Zorblax")


async def test_hostile_names_are_stored_as_text_and_shown_mentioning_nobody(core: Core) -> None:
    group = await core.add_synonyms("'; DROP TABLE synonym_groups; --, @everyone **x**", 111)
    assert group.members == ("'; DROP TABLE synonym_groups; --", "@everyone **x**")
    assert [g.members for g in await core.db.synonyms.all()] == [group.members]
    card = synonyms_card(core.file_synonyms.groups, core.admin_synonyms)
    assert "@everyone" not in card.description and r"\*\*x\*\*" in card.description


# --- reindex everywhere ---------------------------------------------------------------


async def test_a_reindex_elsewhere_is_followed_by_every_core_sharing_the_database(
    start_core: StartCore, seed_copy: Path, tmp_path: Path
) -> None:
    """Two processes (cores) on one database, each with its own index folder: a reindex
    on one bumps the generation; the other's catch_up opens its own index again, swaps
    it in and is then current; a question already running keeps its index."""
    leader = await start_core()
    follower = await start_core(index_dir=tmp_path / "index-b")
    assert leader.index_generation == follower.index_generation == 0
    assert await follower.catch_up() is None  # nothing new

    (seed_copy / f"{NEW_ARTICLE_ID}.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    before = follower.index
    await leader.reindex()
    assert leader.index_generation == 1
    assert NEW_ARTICLE_ID not in {d.doc_id for d in follower.index.documents}

    assert await follower.catch_up() == 1
    assert follower.index_generation == 1 and follower.index is not before
    assert NEW_ARTICLE_ID in {d.doc_id for d in follower.index.documents}
    assert bot.core.content_digest(follower.index) == bot.core.content_digest(leader.index)
    assert await follower.catch_up() is None
    assert await leader.catch_up() is None  # its own generation


async def test_a_reindex_is_refused_while_another_process_holds_the_cluster_lock(
    start_core: StartCore,
) -> None:
    core = await start_core()
    other = await core.db.state.take_lease(
        bot.core.REINDEX_LEASE, "another-process", now=time.time(), ttl=600
    )
    assert other.owner == "another-process"
    with pytest.raises(Busy, match=r"already running \(process \d+ on "):
        await core.reindex()
    assert core.index_generation == 0
    await core.db.state.release_lease(bot.core.REINDEX_LEASE, "another-process")
    await core.reindex()
    assert core.index_generation == 1
    assert await core.db.state.lease_holder(bot.core.REINDEX_LEASE) is None  # released


async def test_an_index_built_outside_the_bots_is_adopted_and_followed(
    start_core: StartCore, seed_copy: Path, tmp_path: Path
) -> None:
    """`corpusbot index` builds without a running core and then adopts its build: the
    generation goes up, the new article is recorded for digests, the others follow;
    while a reindex holds the cluster's lease it is refused."""
    from retrieval.build import open_index

    publisher = await start_core(index_dir=tmp_path / "index-cli")
    follower = await start_core(index_dir=tmp_path / "index-bot")
    (seed_copy / f"{NEW_ARTICLE_ID}.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    built, report = await asyncio.to_thread(open_index, seed_copy, tmp_path / "index-cli")
    assert report.rebuilt

    other = await publisher.db.state.take_lease(
        bot.core.REINDEX_LEASE, "another-process", now=time.time(), ttl=600
    )
    assert other.owner == "another-process"
    with pytest.raises(Busy, match="already running"):
        await publisher.adopt(built)
    await publisher.db.state.release_lease(bot.core.REINDEX_LEASE, "another-process")

    assert await publisher.adopt(built) == 1
    assert publisher.index is built
    assert NEW_ARTICLE_ID in {d.doc_id for d in await publisher.db.documents.all_active()}
    assert await follower.catch_up() == 1
    assert NEW_ARTICLE_ID in {d.doc_id for d in follower.index.documents}


async def test_a_core_started_on_an_index_older_than_the_generation_catches_up(
    start_core: StartCore, seed_copy: Path, tmp_path: Path
) -> None:
    """A process that loaded its index just before another one's reindex landed."""
    leader = await start_core()
    (seed_copy / f"{NEW_ARTICLE_ID}.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    await leader.reindex()
    (seed_copy / f"{NEW_ARTICLE_ID}.txt").unlink()  # this host's corpus lags behind
    late = await start_core(index_dir=tmp_path / "index-c")
    assert late.index_generation == 0  # its index is not the published one
    assert await late.catch_up() == 1  # opened again (and warned: its corpus differs)


async def test_a_one_shot_core_loads_the_spelling_dictionary_only_for_a_misspelling(
    tmp_path: Path, seed_copy: Path, clock: Clock
) -> None:
    dictionary.cache_clear()
    core = await Core.start(make_settings(tmp_path, seed_copy), clock=clock, one_shot=True)
    try:
        await core.answer("Who is Dai Shan?", Requester(source="cli"))
        assert dictionary.cache_info().currsize == 0
        await core.answer("what colege did wu yongming go to", Requester(source="cli"))
        assert dictionary.cache_info().currsize == 1
    finally:
        await core.close()
    dictionary.cache_clear()
    core = await Core.start(make_settings(tmp_path / "bot", seed_copy), clock=clock)
    try:  # a core that keeps answering loads it on start
        assert dictionary.cache_info().currsize == 1
    finally:
        await core.close()
