"""The admin report: periods, the chart and the stats card, on real temporary databases."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.chart import MAX_BYTES, render_chart
from bot.render import (
    CHART_FILENAME,
    DESCRIPTION_MAX,
    EMBED_TOTAL_MAX,
    FIELD_VALUE_MAX,
    stats_card,
    to_embed,
    to_text,
)
from bot.stats import StatsReport, build_report
from bot.storage import Database
from tests.bot.storage.conftest import log

DAY = 86_400.0
NOW = 1_700_000_000.0 - 1_700_000_000.0 % DAY + 15 * 3600.0  # 15:00 UTC


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "stats.db")
    try:
        yield database
    finally:
        await database.close()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, checking its signature and header chunk."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]
    return struct.unpack(">II", data[16:24])


async def test_periods_reach_back_one_day_a_week_a_month_or_all(db: Database) -> None:
    for age_days in (0.1, 2, 10, 100):
        await log(db, created_at=NOW - age_days * DAY)
    counts = {
        period: (await build_report(db, period, NOW)).totals.questions
        for period in ("day", "week", "month", "all")
    }
    assert counts == {"day": 1, "week": 2, "month": 3, "all": 4}
    with pytest.raises(ValueError, match="period"):
        await build_report(db, "year", NOW)


async def test_by_day_lists_every_day_of_the_period_oldest_first(db: Database) -> None:
    await log(db, created_at=NOW - 3 * DAY)
    await log(db, created_at=NOW, answered=False, answer_doc_id=None)
    report = await build_report(db, "week", NOW)
    days = report.to_json()["by_day"]
    assert len(days) == 8
    assert [d["questions"] for d in days] == [0, 0, 0, 0, 1, 0, 0, 1]
    assert days[-1]["not_answered"] == 1
    assert days[0]["latency_ms"] == {"p50": None, "p95": None}
    # the chart of a day is by the hour
    day = await build_report(db, "day", NOW)
    assert day.chart_width == 3600.0
    assert len(day.chart) == 25 and sum(b.questions for b in day.chart) == 1
    # all time starts at the first question
    everything = await build_report(db, "all", NOW)
    assert everything.to_json()["since"] is None
    assert len(everything.by_day) == 4


async def _busy_report(db: Database) -> StatsReport:
    for n in range(60):
        query_id = await log(
            db,
            f"@everyone question <@123456789012345678> number {n % 13} " + "padding " * 40,
            created_at=NOW - (n % 7) * DAY - n,
            answered=n % 3 == 0,
            answer_doc_id="doc-1" if n % 3 == 0 else None,
            top_hits=[(f"doc-{n % 9}", 1.0)],
            latency_ms=5.0 + n,
        )
        await db.queries.record_vote(query_id, 1, 1 if n % 2 else -1, now=NOW)
        if n % 2 == 0:
            await db.queries.set_vote_reason(query_id, 1, "@here " + "bad " * 120, now=NOW + n)
    return await build_report(db, "week", NOW, passages=1234)


async def test_stats_card_fits_discord_and_mentions_nobody(db: Database) -> None:
    report = await _busy_report(db)
    card = stats_card(report, chart=True)
    embed = to_embed(card).to_dict()

    assert embed["image"]["url"] == f"attachment://{CHART_FILENAME}"
    assert len(card.description) <= DESCRIPTION_MAX
    assert all(len(value) <= FIELD_VALUE_MAX for _, value in card.fields)
    total = len(card.title) + len(card.description) + len(card.footer)
    assert total + sum(len(n) + len(v) for n, v in card.fields) <= EMBED_TOTAL_MAX
    text = str(embed)
    assert "@everyone" not in text and "@here" not in text
    assert "<@123456789012345678>" not in text
    names = [name for name, _ in card.fields]
    assert names == [
        "Unanswered questions (most asked first)",
        "Latest 👎 reasons",
        "Most asked-about articles",
    ]
    unanswered = card.fields[0][1]
    assert unanswered.startswith("**4×** ")  # 40 unanswered over 13 wordings
    assert "more" in unanswered.splitlines()[-1]  # cut at a whole line, saying so
    assert "**Passages indexed:** 1234" in card.description
    assert "Questions:** 60 · 20 answered (33%) · 40 not in the articles" in card.description


async def test_stats_card_of_an_empty_period(db: Database) -> None:
    report = await build_report(db, "month", NOW)
    card = stats_card(report)
    assert card.description.startswith("No questions in this period.")
    assert card.fields == [] and card.image is None
    assert "No questions in this period." in to_text(card)


async def test_chart_is_a_small_png_for_every_period(db: Database) -> None:
    report = await _busy_report(db)
    for period in ("day", "week", "month", "all"):
        data = render_chart(await build_report(db, period, NOW))
        assert png_size(data) == (1000, 750)
        assert len(data) < MAX_BYTES
    empty = render_chart(await build_report(db, "day", NOW + 400 * DAY))
    assert png_size(empty) == (1000, 750)
    assert report.totals.questions == 60
