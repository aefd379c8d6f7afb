import asyncio
from pathlib import Path

import pytest

from bot.storage import ConstraintViolation, Database, Subscription, topic_key

HOUR = 3600.0


async def subscribe(
    db: Database,
    topic: str = "Elections",
    *,
    channel_id: int = 200,
    guild_id: int = 100,
    cadence: str = "daily",
    now: float = 1_000.0,
    first_due_at: float = 2_000.0,
) -> tuple[Subscription, bool]:
    return await db.subscriptions.subscribe(
        guild_id=guild_id,
        channel_id=channel_id,
        topic=topic,
        cadence=cadence,  # type: ignore[arg-type]
        created_by=300,
        now=now,
        first_due_at=first_due_at,
    )


def test_topic_key_ignores_case_spacing_and_unicode_form() -> None:
    assert topic_key("  Climate \t CHANGE ") == "climate change"
    assert topic_key("Straße") == topic_key("STRASSE")
    assert topic_key("Cafe\u0301") == topic_key("Café")
    with pytest.raises(ValueError):
        topic_key(" \n ")


async def test_subscribe_creates_an_active_subscription(db: Database) -> None:
    sub, created = await subscribe(db, "  Local  Elections ")
    assert created is True
    assert sub.topic == "Local  Elections"
    assert sub.topic_key == "local elections"
    assert (sub.guild_id, sub.channel_id, sub.created_by) == (100, 200, 300)
    assert (sub.cadence, sub.status, sub.pause_reason, sub.active) == (
        "daily",
        "active",
        None,
        True,
    )
    assert (sub.next_due_at, sub.created_at, sub.updated_at) == (2_000.0, 1_000.0, 1_000.0)
    assert await db.subscriptions.get(sub.id) == sub
    assert await db.subscriptions.get(sub.id + 1) is None


async def test_same_topic_differently_typed_is_one_subscription(db: Database) -> None:
    first, _ = await subscribe(db, "Elections")
    again, created = await subscribe(db, "  ELECTIONS ", cadence="weekly", now=1_500.0)
    assert created is False
    assert again.id == first.id
    assert again.cadence == "weekly"
    assert again.updated_at == 1_500.0
    assert len(await db.subscriptions.for_channel(200)) == 1
    # The same topic in another channel is a separate subscription.
    other, created_other = await subscribe(db, "elections", channel_id=201)
    assert created_other is True and other.id != first.id


async def test_resubscribing_resumes_a_paused_subscription(db: Database) -> None:
    sub, _ = await subscribe(db, first_due_at=2_000.0)
    assert await db.subscriptions.pause(sub.id, "missing Send Messages permission", now=1_100.0)
    paused = await db.subscriptions.get(sub.id)
    assert paused is not None
    assert (paused.status, paused.active) == ("paused", False)
    assert paused.pause_reason == "missing Send Messages permission"
    assert await db.subscriptions.due(now=10_000.0) == []

    resumed, created = await subscribe(db, now=9_000.0, first_due_at=9_500.0)
    assert created is False
    assert (resumed.status, resumed.pause_reason) == ("active", None)
    # The schedule restarts rather than firing for the whole paused period at once.
    assert resumed.next_due_at == 9_500.0
    assert [s.id for s in await db.subscriptions.due(now=10_000.0)] == [sub.id]
    assert await db.subscriptions.pause(sub.id + 99, "gone", now=1.0) is False


async def test_resubscribing_with_the_same_cadence_keeps_the_schedule(db: Database) -> None:
    sub, _ = await subscribe(db, cadence="daily", first_due_at=2_000.0)
    again, _ = await subscribe(db, cadence="daily", now=1_900.0, first_due_at=1_900.0 + 86_400)
    assert again.next_due_at == sub.next_due_at == 2_000.0


async def test_invalid_cadence_is_rejected(db: Database) -> None:
    with pytest.raises(ValueError, match="cadence"):
        await subscribe(db, cadence="monthly")
    assert await db.subscriptions.for_channel(200) == []


async def test_unsubscribe_matches_the_normalised_topic(db: Database) -> None:
    sub, _ = await subscribe(db, "Elections")
    await db.subscriptions.record_delivery(sub.id, ["d1"], 1, now=1.0, next_due_at=5.0)
    assert await db.subscriptions.unsubscribe(200, "  elections") is True
    assert await db.subscriptions.unsubscribe(200, "elections") is False
    assert await db.subscriptions.get(sub.id) is None
    # Its delivery history went with it.
    assert await db.subscriptions.delivered_doc_ids(sub.id) == set()


async def test_listing_by_channel_and_guild(db: Database) -> None:
    await subscribe(db, "Weather", channel_id=201)
    await subscribe(db, "sports", channel_id=200)
    await subscribe(db, "Arts", channel_id=200)
    await subscribe(db, "Arts", channel_id=300, guild_id=999)

    assert [s.topic for s in await db.subscriptions.for_channel(200)] == ["Arts", "sports"]
    assert [(s.channel_id, s.topic) for s in await db.subscriptions.for_guild(100)] == [
        (200, "Arts"),
        (200, "sports"),
        (201, "Weather"),
    ]
    assert await db.subscriptions.for_guild(12345) == []


async def test_due_returns_active_overdue_subscriptions_oldest_first(db: Database) -> None:
    later, _ = await subscribe(db, "b", first_due_at=300.0)
    earliest, _ = await subscribe(db, "a", first_due_at=100.0)
    middle, _ = await subscribe(db, "c", first_due_at=200.0)
    exactly_now, _ = await subscribe(db, "d", first_due_at=400.0)
    await subscribe(db, "e", first_due_at=401.0)  # not yet due
    paused, _ = await subscribe(db, "f", first_due_at=50.0)
    await db.subscriptions.pause(paused.id, "muted", now=60.0)

    due = await db.subscriptions.due(now=400.0, limit=10)
    assert [s.id for s in due] == [earliest.id, middle.id, later.id, exactly_now.id]
    assert [s.id for s in await db.subscriptions.due(now=400.0, limit=2)] == [
        earliest.id,
        middle.id,
    ]


async def test_record_delivery_advances_schedule_and_never_duplicates(db: Database) -> None:
    sub, _ = await subscribe(db, first_due_at=100.0)
    assert await db.subscriptions.record_delivery(
        sub.id, ["d1", "d2", "d2"], message_id=555, now=100.0, next_due_at=100.0 + HOUR
    )
    assert await db.subscriptions.delivered_doc_ids(sub.id) == {"d1", "d2"}
    after = await db.subscriptions.get(sub.id)
    assert after is not None and after.next_due_at == 100.0 + HOUR
    assert await db.subscriptions.due(now=200.0) == []

    # Replaying the same delivery (e.g. after a crash before the ack) adds nothing twice.
    assert await db.subscriptions.record_delivery(
        sub.id, ["d2", "d3"], message_id=556, now=200.0, next_due_at=200.0 + HOUR
    )
    assert await db.subscriptions.delivered_doc_ids(sub.id) == {"d1", "d2", "d3"}
    rows = await db.fetchall(
        "SELECT doc_id, message_id FROM deliveries WHERE subscription_id = ? ORDER BY doc_id",
        (sub.id,),
    )
    assert [tuple(r) for r in rows] == [("d1", 555), ("d2", 555), ("d3", 556)]


async def test_delivery_and_schedule_move_together_or_not_at_all(db: Database) -> None:
    sub, _ = await subscribe(db, first_due_at=100.0)
    # A doc id that cannot be stored makes the insert fail part-way through.
    with pytest.raises(ConstraintViolation, match=r"(?i)not.null"):
        await db.subscriptions.record_delivery(
            sub.id,
            ["ok-doc", None],
            message_id=1,
            now=100.0,
            next_due_at=999.0,  # type: ignore[list-item]
        )
    unchanged = await db.subscriptions.get(sub.id)
    assert unchanged is not None and unchanged.next_due_at == 100.0
    assert await db.subscriptions.delivered_doc_ids(sub.id) == set()


async def test_deliveries_persist_across_a_restart(db_path: Path) -> None:
    db = await Database.open(db_path)
    sub, _ = await subscribe(db, first_due_at=100.0)
    await db.subscriptions.record_delivery(sub.id, ["d1", "d2"], 9, now=100.0, next_due_at=500.0)
    await db.close()

    restarted = await Database.open(db_path)
    try:
        assert await restarted.subscriptions.delivered_doc_ids(sub.id) == {"d1", "d2"}
        assert await restarted.subscriptions.due(now=400.0) == []
        assert [s.id for s in await restarted.subscriptions.due(now=500.0)] == [sub.id]
    finally:
        await restarted.close()


async def test_advance_moves_schedule_without_deliveries(db: Database) -> None:
    sub, _ = await subscribe(db, first_due_at=100.0)
    assert await db.subscriptions.advance(sub.id, next_due_at=100.0 + HOUR, now=100.0)
    moved = await db.subscriptions.get(sub.id)
    assert moved is not None
    assert (moved.next_due_at, moved.updated_at) == (100.0 + HOUR, 100.0)
    assert await db.subscriptions.delivered_doc_ids(sub.id) == set()
    assert await db.subscriptions.advance(sub.id + 1, next_due_at=1.0, now=1.0) is False


async def test_delivery_for_a_subscription_removed_meanwhile_is_dropped(db: Database) -> None:
    sub, _ = await subscribe(db, first_due_at=100.0)
    await db.subscriptions.unsubscribe(sub.channel_id, sub.topic)
    assert (
        await db.subscriptions.record_delivery(sub.id, ["d1"], 1, now=1.0, next_due_at=2.0) is False
    )
    count = await db.fetchone("SELECT COUNT(*) FROM deliveries")
    assert count is not None and count[0] == 0


async def test_hostile_topics_are_stored_verbatim(db: Database) -> None:
    topics = ["'); DROP TABLE subscriptions;--", "🌍 climate", "בחירות", "t" * 10_000]
    for topic in topics:
        await subscribe(db, topic)
    stored = {s.topic for s in await db.subscriptions.for_channel(200)}
    assert stored == set(topics)
    assert await db.subscriptions.unsubscribe(200, topics[0]) is True
    assert len(await db.subscriptions.for_channel(200)) == 3


async def test_concurrent_subscribes_to_one_topic_make_one_row(db: Database) -> None:
    results = await asyncio.gather(
        *(subscribe(db, "Elections" if i % 2 else " elections ") for i in range(30))
    )
    assert sum(created for _, created in results) == 1
    assert len({sub.id for sub, _ in results}) == 1
    assert len(await db.subscriptions.for_channel(200)) == 1


async def test_concurrent_deliveries_are_recorded_exactly_once(db: Database) -> None:
    sub, _ = await subscribe(db, first_due_at=100.0)
    doc_ids = [f"doc-{i}" for i in range(50)]
    await asyncio.gather(
        *(
            db.subscriptions.record_delivery(
                sub.id, doc_ids[i : i + 10], i, now=float(i), next_due_at=1_000.0
            )
            for i in range(0, 50, 5)
        )
    )
    assert await db.subscriptions.delivered_doc_ids(sub.id) == set(doc_ids)
    count = await db.fetchone("SELECT COUNT(*) FROM deliveries")
    assert count is not None and count[0] == 50


# --- pause notices and resume ----------------------------------------------------------


async def test_a_pause_queues_exactly_one_notice(db: Database) -> None:
    sub, _ = await subscribe(db)
    assert await db.subscriptions.pause(sub.id, "no permission", now=1_100.0)
    # pausing again (another round that failed) neither changes the reason nor queues more
    assert await db.subscriptions.pause(sub.id, "something else", now=1_200.0) is False

    [pending] = await db.subscriptions.pending_notices()
    assert (pending.id, pending.notice, pending.paused_at) == (sub.id, "pending", 1_100.0)
    assert pending.pause_reason == "no permission"

    assert await db.subscriptions.record_notice(sub.id, sent=True, detail="#general", now=1_300.0)
    assert await db.subscriptions.pending_notices() == []
    told = await db.subscriptions.get(sub.id)
    assert told is not None
    assert (told.notice, told.notice_detail, told.notice_at) == ("sent", "#general", 1_300.0)
    # a second report of the same notice records nothing
    assert not await db.subscriptions.record_notice(sub.id, sent=False, detail="x", now=1_400.0)
    assert (await db.subscriptions.get(sub.id)).notice == "sent"  # type: ignore[union-attr]


async def test_an_undeliverable_notice_is_recorded_with_why(db: Database) -> None:
    sub, _ = await subscribe(db)
    await db.subscriptions.pause(sub.id, "channel gone", now=1_100.0)
    assert await db.subscriptions.record_notice(
        sub.id, sent=False, detail="no system channel", now=1_200.0
    )
    failed = await db.subscriptions.get(sub.id)
    assert failed is not None
    assert (failed.notice, failed.notice_detail) == ("failed", "no system channel")
    assert await db.subscriptions.pending_notices() == []


async def test_resume_restarts_a_paused_subscription_and_keeps_its_deliveries(
    db: Database,
) -> None:
    sub, _ = await subscribe(db, "Elections")
    await db.subscriptions.record_delivery(sub.id, ["d1", "d2"], 5, now=1_050.0, next_due_at=9e9)
    await db.subscriptions.pause(sub.id, "no permission", now=1_100.0)

    found = await db.subscriptions.resume(200, " ELECTIONS ", now=2_000.0, first_due_at=2_000.0)
    assert found is not None
    resumed, changed = found
    assert changed is True
    assert (resumed.status, resumed.pause_reason, resumed.next_due_at) == ("active", None, 2_000.0)
    assert (resumed.paused_at, resumed.notice, resumed.notice_detail) == (None, None, None)
    assert await db.subscriptions.delivered_doc_ids(sub.id) == {"d1", "d2"}
    # a notice that was still pending is dropped with the pause
    assert await db.subscriptions.pending_notices() == []

    again = await db.subscriptions.resume(200, "elections", now=2_100.0, first_due_at=2_100.0)
    assert again is not None and again[1] is False  # already active: unchanged
    assert again[0].next_due_at == 2_000.0
    assert await db.subscriptions.resume(200, "other", now=1.0, first_due_at=1.0) is None


async def test_resubscribing_clears_the_pause_notice(db: Database) -> None:
    sub, _ = await subscribe(db)
    await db.subscriptions.pause(sub.id, "no permission", now=1_100.0)
    await db.subscriptions.record_notice(sub.id, sent=True, detail="#general", now=1_150.0)
    resumed, _ = await subscribe(db, now=1_200.0, first_due_at=1_200.0)
    assert (resumed.status, resumed.notice, resumed.paused_at) == ("active", None, None)
    # paused again later: a new notice is due
    await db.subscriptions.pause(sub.id, "no permission", now=1_300.0)
    assert [s.id for s in await db.subscriptions.pending_notices()] == [sub.id]
