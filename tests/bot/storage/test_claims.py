"""Digest claims, frozen runs, fenced records, cooldowns and shared values: on both backends."""

import asyncio

from bot.storage import Database

from .test_subscriptions import subscribe


async def test_a_claim_is_exclusive_until_its_lease_runs_out(db: Database) -> None:
    sub, _ = await subscribe(db, first_due_at=100.0)
    (claim,) = await db.subscriptions.claim_due(now=200.0, lease=60.0)
    assert claim.subscription.id == sub.id
    assert await db.subscriptions.claim_due(now=259.0, lease=60.0) == []
    (taken,) = await db.subscriptions.claim_due(now=261.0, lease=60.0)
    assert taken.token != claim.token


async def test_concurrent_claimers_never_get_the_same_subscription(db: Database) -> None:
    for n in range(6):
        await subscribe(db, channel_id=500 + n, first_due_at=100.0)
    batches = await asyncio.gather(
        *(db.subscriptions.claim_due(now=200.0, lease=60.0, limit=2) for _ in range(5))
    )
    ids = [c.subscription.id for batch in batches for c in batch]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 6


async def test_an_open_run_is_reused_and_only_the_holder_records_it(db: Database) -> None:
    sub, _ = await subscribe(db, first_due_at=100.0)
    items = [("a", "A", "about a"), ("b", "B", "about b")]
    (first,) = await db.subscriptions.claim_due(now=200.0, lease=10.0)
    run = await db.subscriptions.freeze_run(first, items, now=200.0)
    assert run is not None and run.doc_ids == ["a", "b"]
    # The first holder "dies"; after the lease another process takes over the same run.
    (second,) = await db.subscriptions.claim_due(now=211.0, lease=10.0)
    assert await db.subscriptions.open_run(sub.id) == run
    assert await db.subscriptions.freeze_run(second, [("c", "C", "x")], now=211.0) == run
    # The old holder can neither freeze nor record any more.
    assert await db.subscriptions.freeze_run(first, items, now=212.0) is None
    assert not await db.subscriptions.complete_run(first, run, 9, now=212.0, next_due_at=999.0)
    assert await db.subscriptions.delivered_doc_ids(sub.id) == set()
    assert await db.subscriptions.complete_run(second, run, 9, now=213.0, next_due_at=999.0)
    assert await db.subscriptions.delivered_doc_ids(sub.id) == {"a", "b"}
    assert await db.subscriptions.open_run(sub.id) is None
    assert (await db.subscriptions.get(sub.id)).next_due_at == 999.0


async def test_the_cooldown_admits_one_of_two_at_once(db: Database) -> None:
    results = await asyncio.gather(*(db.state.take_cooldown(7, 5.0, now=1000.0) for _ in range(4)))
    assert sum(r is None for r in results) == 1
    assert all(r == 5.0 for r in results if r is not None)
    assert await db.state.take_cooldown(7, 5.0, now=1004.0) == 1.0
    assert await db.state.take_cooldown(7, 5.0, now=1005.0) is None


async def test_shared_values_and_an_atomic_counter(db: Database) -> None:
    assert await db.state.get("k") is None
    await db.state.put("k", "v1", now=1.0)
    await db.state.put("k", "v2", now=2.0)
    assert await db.state.get("k") == "v2"
    got = await asyncio.gather(*(db.state.increment("gen", now=3.0) for _ in range(5)))
    assert sorted(got) == [1, 2, 3, 4, 5]
