import asyncio

import pytest

from bot.storage import Database, Hit, NoVote, UnknownQuery, Vote

from .conftest import log

HOSTILE = [
    "'); DROP TABLE queries;--",
    '" OR 1=1 --',
    "Robert'); DELETE FROM feedback WHERE ('1'='1",
    "x" * 10_000,
    "Who won? 🗳️🇫🇷👩🏽‍⚖️",
    "מי ניצח בבחירות?",  # Hebrew, right-to-left
    "ما هي الأخبار؟ \u202e reversed \u202c",
    "日本語の質問\n改行\tタブ",
    "%s %d {0} $1 ? :name @var",
]


async def test_logged_query_reads_back_exactly(db: Database) -> None:
    query_id = await log(
        db,
        "Who is the mayor?",
        guild_id=None,
        channel_id=None,
        user_id=None,
        source="cli",
        answered=False,
        answer_doc_id=None,
        answer_text=None,
        top_hits=[("a", 1.5), ("b", 0.25)],
        latency_ms=7.5,
        created_at=123.25,
    )
    record = await db.queries.get(query_id)
    assert record is not None
    assert record.id == query_id
    assert record.question == "Who is the mayor?"
    assert (record.guild_id, record.channel_id, record.user_id) == (None, None, None)
    assert record.source == "cli"
    assert record.answered is False
    assert record.answer_doc_id is None and record.answer_text is None
    assert record.top_hits == (Hit("a", 1.5), Hit("b", 0.25))
    assert record.latency_ms == 7.5
    assert record.created_at == 123.25
    assert await db.queries.get(query_id + 1) is None


async def test_discord_snowflakes_survive_round_trip(db: Database) -> None:
    snowflake = 1_234_567_890_123_456_789
    query_id = await log(db, guild_id=snowflake, channel_id=snowflake + 1, user_id=snowflake + 2)
    record = await db.queries.get(query_id)
    assert record is not None
    assert (record.guild_id, record.channel_id, record.user_id) == (
        snowflake,
        snowflake + 1,
        snowflake + 2,
    )


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_text_is_stored_verbatim_and_harmless(db: Database, text: str) -> None:
    query_id = await log(db, text, answer_text=text, answer_doc_id=text, top_hits=[(text, 1.0)])
    await db.queries.record_vote(query_id, 30, -1, now=5.0)
    await db.queries.set_vote_reason(query_id, 30, text, now=6.0)

    record = await db.queries.get(query_id)
    assert record is not None
    assert record.question == text
    assert record.answer_text == text
    assert record.answer_doc_id == text
    assert record.top_hits == (Hit(text, 1.0),)
    vote = await db.queries.get_vote(query_id, 30)
    assert vote is not None and vote.reason == text.strip()
    # Nothing was dropped or deleted along the way.
    assert await db.queries.count() == 1
    assert await db.queries.votes_for(query_id) == (0, 1)
    assert await db.integrity_check() == ["ok"]


async def test_invalid_source_and_nan_scores_are_rejected(db: Database) -> None:
    with pytest.raises(ValueError, match="source"):
        await log(db, source="web")
    with pytest.raises(ValueError):
        await log(db, top_hits=[("doc", float("nan"))])
    assert await db.queries.count() == 0


async def test_voting_again_changes_the_vote(db: Database) -> None:
    query_id = await log(db)
    first = await db.queries.record_vote(query_id, 30, 1, now=10.0)
    assert first == Vote(query_id, 30, 1, None, 10.0, 10.0)

    second = await db.queries.record_vote(query_id, 30, -1, now=20.0)
    assert (second.vote, second.created_at, second.updated_at) == (-1, 10.0, 20.0)
    assert await db.queries.votes_for(query_id) == (0, 1)

    await db.queries.record_vote(query_id, 31, 1, now=21.0)
    assert await db.queries.votes_for(query_id) == (1, 1)


async def test_reason_attaches_to_a_downvote_and_survives_a_repeat_vote(db: Database) -> None:
    query_id = await log(db)
    await db.queries.record_vote(query_id, 30, -1, now=10.0)
    with_reason = await db.queries.set_vote_reason(query_id, 30, "  wrong article  ", now=11.0)
    assert (with_reason.vote, with_reason.reason, with_reason.updated_at) == (
        -1,
        "wrong article",
        11.0,
    )

    # Clicking 👎 again keeps the explanation ...
    again = await db.queries.record_vote(query_id, 30, -1, now=12.0)
    assert again.reason == "wrong article"
    # ... switching to 👍 drops it, since it explained the other vote.
    flipped = await db.queries.record_vote(query_id, 30, 1, now=13.0)
    assert flipped.reason is None

    cleared = await db.queries.set_vote_reason(query_id, 30, "   ", now=14.0)
    assert cleared.reason is None


async def test_votes_on_unknown_queries_and_bad_values_are_refused(db: Database) -> None:
    with pytest.raises(UnknownQuery) as info:
        await db.queries.record_vote(999, 30, 1, now=1.0)
    assert info.value.query_id == 999
    with pytest.raises(UnknownQuery):
        await db.queries.set_vote_reason(999, 30, "why", now=1.0)

    query_id = await log(db)
    with pytest.raises(NoVote):
        await db.queries.set_vote_reason(query_id, 30, "never voted", now=1.0)
    for bad in (0, 2, -2, True):
        with pytest.raises(ValueError, match="vote"):
            await db.queries.record_vote(query_id, 30, bad, now=1.0)
    assert await db.queries.votes_for(query_id) == (0, 0)
    assert await db.queries.get_vote(query_id, 30) is None


async def test_stats_totals(db: Database) -> None:
    empty = await db.queries.stats()
    assert (empty.queries, empty.answered, empty.abstained, empty.up, empty.down) == (0,) * 5
    assert empty.mean_latency_ms is None

    a = await log(db, answered=True, latency_ms=10.0, created_at=100.0)
    b = await log(db, answered=False, answer_doc_id=None, latency_ms=30.0, created_at=200.0)
    await log(db, answered=True, latency_ms=50.0, created_at=300.0)
    await db.queries.record_vote(a, 1, 1, now=1.0)
    await db.queries.record_vote(a, 2, 1, now=1.0)
    await db.queries.record_vote(b, 1, -1, now=1.0)

    stats = await db.queries.stats()
    assert (stats.queries, stats.answered, stats.abstained) == (3, 2, 1)
    assert (stats.up, stats.down) == (2, 1)
    assert stats.mean_latency_ms == pytest.approx(30.0)

    recent = await db.queries.stats(since=200.0)
    assert (recent.queries, recent.answered, recent.abstained, recent.up, recent.down) == (
        2,
        1,
        1,
        0,
        1,
    )
    assert recent.mean_latency_ms == pytest.approx(40.0)


async def test_200_concurrent_logs_each_get_their_own_row(db: Database) -> None:
    ids = await asyncio.gather(
        *(log(db, f"question {i}", user_id=i, latency_ms=float(i)) for i in range(200))
    )
    assert len(set(ids)) == 200
    assert await db.queries.count() == 200
    for i, query_id in enumerate(ids):
        record = await db.queries.get(query_id)
        assert record is not None
        assert (record.question, record.user_id, record.latency_ms) == (
            f"question {i}",
            i,
            float(i),
        )


async def test_concurrent_votes_by_one_user_leave_one_consistent_vote(db: Database) -> None:
    query_id = await log(db)
    results = await asyncio.gather(
        *(
            db.queries.record_vote(query_id, 30, 1 if i % 2 else -1, now=float(i))
            for i in range(100)
        ),
        *(db.queries.record_vote(query_id, 40 + i, 1, now=0.0) for i in range(20)),
    )
    final = await db.queries.get_vote(query_id, 30)
    assert final is not None
    # One row for user 30: the outcome of one of the calls, created once, by one of them
    # (which one inserts first is up to the connections, not the order of the calls).
    by_user_30 = [r for r in results if r.user_id == 30]
    assert final in by_user_30
    assert {r.created_at for r in by_user_30} == {final.created_at}
    assert final.created_at in {r.updated_at for r in by_user_30}
    up, down = await db.queries.votes_for(query_id)
    assert up + down == 21
    assert up == 20 + (final.vote == 1)
