import asyncio

import pytest

from bot.storage import ConstraintViolation, Database, DocumentRecord, SyncReport


async def test_first_sync_adds_every_document(db: Database) -> None:
    report = await db.documents.sync([("a", "h1", "Alpha"), ("b", "h2", "Beta")], now=100.0)
    assert report == SyncReport(added=["a", "b"], changed=[], removed=[], unchanged=0)
    assert await db.documents.get("a") == DocumentRecord("a", "h1", "Alpha", 100.0, 100.0, None)
    assert [d.doc_id for d in await db.documents.all_active()] == ["a", "b"]
    assert await db.documents.get("missing") is None


async def test_resync_reports_changes_removals_and_unchanged(db: Database) -> None:
    await db.documents.sync([("a", "h1", "Alpha"), ("b", "h2", "Beta"), ("c", "h3", "C")], 100.0)

    report = await db.documents.sync(
        [("a", "h1", "Alpha"), ("b", "h2-edited", "Beta (updated)"), ("d", "h4", "Delta")],
        now=200.0,
    )
    assert report == SyncReport(added=["d"], changed=["b"], removed=["c"], unchanged=1)

    b = await db.documents.get("b")
    assert b == DocumentRecord("b", "h2-edited", "Beta (updated)", 100.0, 200.0, None)
    c = await db.documents.get("c")
    assert c is not None and c.removed and c.removed_at == 200.0
    a = await db.documents.get("a")
    assert a is not None and (a.first_seen_at, a.last_seen_at) == (100.0, 200.0)
    assert [d.doc_id for d in await db.documents.all_active()] == ["a", "b", "d"]

    # Syncing the same corpus again changes nothing.
    same = await db.documents.sync(
        [("a", "h1", "Alpha"), ("b", "h2-edited", "Beta (updated)"), ("d", "h4", "Delta")],
        now=300.0,
    )
    assert same == SyncReport(added=[], changed=[], removed=[], unchanged=3)
    still_removed = await db.documents.get("c")
    assert still_removed is not None and still_removed.removed_at == 200.0


async def test_a_removed_document_that_returns_is_added_back(db: Database) -> None:
    await db.documents.sync([("a", "h1", "Alpha"), ("b", "h2", "Beta")], now=100.0)
    await db.documents.sync([("a", "h1", "Alpha")], now=200.0)

    report = await db.documents.sync([("a", "h1", "Alpha"), ("b", "h2b", "Beta")], now=300.0)
    assert report == SyncReport(added=["b"], changed=[], removed=[], unchanged=1)
    back = await db.documents.get("b")
    assert back == DocumentRecord("b", "h2b", "Beta", 100.0, 300.0, None)
    # It is not "new" to digests: it was first seen long ago.
    assert [d.doc_id for d in await db.documents.new_since(150.0)] == []


async def test_new_since_lists_documents_first_seen_later_and_still_present(
    db: Database,
) -> None:
    await db.documents.sync([("old", "h", "Old")], now=100.0)
    await db.documents.sync([("old", "h", "Old"), ("mid", "h", "Mid")], now=200.0)
    await db.documents.sync(
        [("old", "h", "Old"), ("mid", "h", "Mid"), ("z-new", "h", "New"), ("a-new", "h", "A")],
        now=300.0,
    )
    assert [d.doc_id for d in await db.documents.new_since(100.0)] == ["mid", "a-new", "z-new"]
    assert [d.doc_id for d in await db.documents.new_since(200.0)] == ["a-new", "z-new"]
    assert await db.documents.new_since(300.0) == []

    await db.documents.sync([("old", "h", "Old"), ("mid", "h", "Mid")], now=400.0)
    assert [d.doc_id for d in await db.documents.new_since(100.0)] == ["mid"]


async def test_syncing_an_empty_corpus_removes_everything(db: Database) -> None:
    await db.documents.sync([("a", "h", "A"), ("b", "h", "B")], now=1.0)
    report = await db.documents.sync([], now=2.0)
    assert report == SyncReport(added=[], changed=[], removed=["a", "b"], unchanged=0)
    assert await db.documents.all_active() == []


async def test_a_failed_sync_changes_nothing(db: Database) -> None:
    await db.documents.sync([("a", "h", "A")], now=1.0)
    with pytest.raises(ValueError, match="doc_id"):
        await db.documents.sync([("b", "h", "B"), ("", "h", "blank id")], now=2.0)
    # A value SQLite rejects part-way through rolls the whole sync back.
    with pytest.raises(ConstraintViolation, match=r"(?i)not.null"):
        await db.documents.sync([("b", "h", "B"), ("c", "h", None)], now=2.0)  # type: ignore[list-item]
    assert [d.doc_id for d in await db.documents.all_active()] == ["a"]
    a = await db.documents.get("a")
    assert a is not None and a.last_seen_at == 1.0


async def test_hostile_ids_and_titles_round_trip(db: Database) -> None:
    docs = [
        ("'); DROP TABLE documents;--", "h1", "Robert'); DROP TABLE queries;--"),
        ("emoji-🗞️", "h2", "Breaking 🚨 news"),
        ("rtl", "h3", "חדשות היום"),
        ("long", "h4", "T" * 10_000),
    ]
    report = await db.documents.sync(docs, now=1.0)
    assert sorted(report.added) == sorted(d[0] for d in docs)
    stored = {(d.doc_id, d.content_hash, d.title) for d in await db.documents.all_active()}
    assert stored == set(docs)
    assert await db.queries.count() == 0  # the queries table is still there


async def test_large_sync_is_one_consistent_snapshot(db: Database) -> None:
    docs = [(f"doc-{i:05d}", f"hash-{i}", f"Title {i}") for i in range(5_000)]
    report = await db.documents.sync(docs, now=1.0)
    assert len(report.added) == 5_000
    edited = [*docs[:2_500], *((d, h + "x", t) for d, h, t in docs[2_500:4_000])]
    report = await db.documents.sync(edited, now=2.0)
    assert (len(report.added), len(report.changed), len(report.removed), report.unchanged) == (
        0,
        1_500,
        1_000,
        2_500,
    )
    assert len(await db.documents.all_active()) == 4_000


async def test_readers_never_see_a_half_finished_sync(db: Database) -> None:
    before = [(f"old-{i}", "h", "t") for i in range(300)]
    after = [(f"new-{i}", "h", "t") for i in range(300)]
    await db.documents.sync(before, now=1.0)

    snapshots: list[set[str]] = []

    async def keep_reading(sync: asyncio.Task[SyncReport]) -> None:
        while not sync.done():
            snapshots.append({d.doc_id for d in await db.documents.all_active()})

    sync = asyncio.create_task(db.documents.sync(after, now=2.0))
    await asyncio.gather(sync, *(keep_reading(sync) for _ in range(5)))

    old_ids = {d for d, _, _ in before}
    new_ids = {d for d, _, _ in after}
    assert snapshots
    assert all(snapshot in (old_ids, new_ids) for snapshot in snapshots)
