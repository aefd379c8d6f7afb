"""The figures behind the admin report, on a real temporary database."""

from __future__ import annotations

import pytest

from bot.storage import Bucket, Database, question_key
from tests.bot.storage.conftest import log

DAY = 86_400.0
T0 = 1_700_000_000.0 - 1_700_000_000.0 % DAY  # a UTC midnight


def test_question_key_ignores_case_punctuation_and_spacing() -> None:
    assert question_key("What's  the CAPITAL of France?!") == question_key(
        "whats the capital of france"
    )
    assert question_key("Wer ist Dai Shan?") == "wer ist dai shan"
    assert question_key("e-commerce") != question_key("commerce")
    assert question_key("Café?") == question_key("cafe\u0301")


async def _vote(
    db: Database, query_id: int, user: int, vote: int, reason: str | None = None
) -> None:
    await db.queries.record_vote(query_id, user, vote, now=T0)
    if reason:
        await db.queries.set_vote_reason(query_id, user, reason, now=T0 + user)


async def test_totals_and_buckets_count_the_period_only(db: Database) -> None:
    old = await log(db, created_at=T0 - 1, latency_ms=999.0)
    a = await log(db, created_at=T0 + 10, latency_ms=10.0)
    b = await log(db, created_at=T0 + 20, latency_ms=30.0, answered=False, answer_doc_id=None)
    c = await log(db, created_at=T0 + DAY + 5, latency_ms=20.0, source="cli")
    for query_id in (old, a, c):
        await _vote(db, query_id, 1, 1)
    await _vote(db, b, 1, -1)
    await _vote(db, b, 2, -1)

    totals = await db.queries.totals(T0, T0 + 2 * DAY)
    assert (totals.questions, totals.answered) == (3, 2)
    assert (totals.votes_up, totals.votes_down) == (2, 2)
    # nearest rank: of 10, 20, 30 the median is the 2nd, p95 the 3rd
    assert (totals.latency_p50_ms, totals.latency_p95_ms) == (20.0, 30.0)
    assert totals.by_source == {"discord": 2, "cli": 1}

    assert await db.queries.buckets(T0, T0 + 2 * DAY, DAY) == [
        Bucket(T0, 2, 1, 1, 2, 10.0, 30.0),
        Bucket(T0 + DAY, 1, 1, 1, 0, 20.0, 20.0),
    ]
    empty = await db.queries.totals(T0 + 5 * DAY, T0 + 6 * DAY)
    assert (empty.questions, empty.latency_p50_ms, empty.by_source) == (0, None, {})


async def test_percentiles_match_a_sorted_list(db: Database) -> None:
    latencies = [
        float(v) for v in (7, 3, 50, 1, 9, 12, 5, 100, 2, 4, 8, 6, 11, 10, 13, 14, 15, 16, 17, 18)
    ]
    for n, latency in enumerate(latencies):
        await log(db, created_at=T0 + n, latency_ms=latency)
    totals = await db.queries.totals(T0, T0 + DAY)
    ordered = sorted(latencies)
    assert totals.latency_p50_ms == ordered[9]  # rank ceil(0.5 * 20) = 10
    assert totals.latency_p95_ms == ordered[18]  # rank ceil(0.95 * 20) = 19


async def test_unanswered_questions_are_grouped_most_frequent_first(db: Database) -> None:
    asked = [
        ("Who founded Taobao?", T0 + 1),
        ("who founded taobao", T0 + 2),
        ("Who  founded Taobao ?!", T0 + 3),
        ("What is Jack Ma's wife called?", T0 + 4),
        ("who founded taobao", T0 + 5),
    ]
    for question, at in asked:
        await log(db, question, created_at=at, answered=False, answer_doc_id=None)
    await log(db, "Who is Dai Shan?", created_at=T0 + 6)  # answered: not listed

    groups = await db.queries.unanswered(T0, T0 + DAY, limit=10)
    assert [(g.question, g.count) for g in groups] == [
        ("who founded taobao", 4),  # the most frequent wording
        ("What is Jack Ma's wife called?", 1),
    ]
    assert groups[0].last_asked_at == T0 + 5
    assert len(await db.queries.unanswered(T0, T0 + DAY, limit=1)) == 1


async def test_downvote_reasons_and_top_articles(db: Database) -> None:
    await db.documents.sync([("doc-1", "h1", "The first article")], now=T0)
    first = await log(db, "q1", created_at=T0 + 1)
    second = await log(db, "q2", created_at=T0 + 2, top_hits=[("doc-2", 1.0)])
    third = await log(
        db, "q3", created_at=T0 + 3, answered=False, answer_doc_id=None, top_hits=[("doc-2", 1.0)]
    )
    await _vote(db, first, 1, -1, "wrong article")
    await _vote(db, third, 2, -1, "it should know this")
    await _vote(db, second, 3, -1)  # no reason: not listed
    await _vote(db, second, 4, 1, "great")  # a 👍: not listed

    reasons = await db.queries.downvote_reasons(T0, T0 + DAY, limit=5)
    assert [(r.query_id, r.question, r.reason) for r in reasons] == [
        (third, "q3", "it should know this"),
        (first, "q1", "wrong article"),
    ]
    articles = await db.queries.top_articles(T0, T0 + DAY, limit=5)
    assert [(a.doc_id, a.title, a.questions, a.answered) for a in articles] == [
        ("doc-1", "The first article", 2, 2),
        ("doc-2", None, 1, 0),
    ]


async def test_export_pages_through_every_question_with_votes(db: Database) -> None:
    ids = [await log(db, f"question {n}", created_at=T0 + n) for n in range(7)]
    await _vote(db, ids[3], 1, -1, "no")
    await _vote(db, ids[3], 2, -1, "also no")
    await _vote(db, ids[3], 3, 1)

    rows = [row async for row in db.queries.export(T0 + 1, T0 + DAY, page=2)]
    assert [r.id for r in rows] == ids[1:]
    row = next(r for r in rows if r.id == ids[3])
    assert (row.votes_up, row.votes_down, sorted(row.reasons)) == (1, 2, ["also no", "no"])
    assert (row.top_article, row.answered, row.source) == ("doc-1", True, "discord")


async def test_bucket_width_must_be_positive(db: Database) -> None:
    with pytest.raises(ValueError):
        await db.queries.buckets(0, 1, 0)
