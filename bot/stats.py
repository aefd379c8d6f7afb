"""The admin report: what was asked over a period, what went unanswered, what people
disliked, in plain values that the renderers (embed, text, JSON, chart, CSV) show.

Times are UTC: a "day" is a UTC calendar day. Figures count the questions asked in the
period and the votes on those questions.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, TextIO, get_args

from bot.storage import (
    ArticleCount,
    Bucket,
    Database,
    DownvoteReason,
    LogRow,
    LogTotals,
    UnansweredGroup,
)

__all__ = [
    "PERIODS",
    "Period",
    "StatsReport",
    "build_report",
    "csv_header",
    "csv_row",
    "export_span",
    "iso_utc",
    "period_label",
    "write_csv",
]

Period = Literal["day", "week", "month", "all"]
PERIODS: tuple[str, ...] = get_args(Period)
DAY = 86400.0
HOUR = 3600.0
PERIOD_SECONDS: dict[str, float | None] = {
    "day": DAY,
    "week": 7 * DAY,
    "month": 30 * DAY,
    "all": None,
}
UNANSWERED_LIMIT = 10
REASONS_LIMIT = 5
ARTICLES_LIMIT = 5
# Beyond this many days, "all" lists only the days that had questions.
MAX_FILLED_DAYS = 400


def period_label(period: str) -> str:
    return {
        "day": "the last 24 hours",
        "week": "the last 7 days",
        "month": "the last 30 days",
        "all": "all time",
    }[period]


def iso_utc(ts: float) -> str:
    """2025-03-01T12:00:00Z."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class StatsReport:
    """Everything /stats and ``corpusbot stats`` show for one period."""

    period: str
    since: float | None  # None: since the first question ("all")
    until: float
    totals: LogTotals
    by_day: list[Bucket]  # UTC days, oldest first, days without questions included
    chart: list[Bucket]  # what the chart plots: hours for "day", else the days
    chart_width: float  # seconds per chart bucket
    unanswered: list[UnansweredGroup]
    downvotes: list[DownvoteReason]
    articles: list[ArticleCount]
    passages: int | None = None

    @property
    def not_answered(self) -> int:
        return self.totals.questions - self.totals.answered

    def to_json(self) -> dict[str, Any]:
        """The ``corpusbot stats --json`` object (field names are a stable contract)."""
        t = self.totals
        return {
            "period": self.period,
            "since": iso_utc(self.since) if self.since is not None else None,
            "until": iso_utc(self.until),
            "questions": t.questions,
            "answered": t.answered,
            "not_answered": self.not_answered,
            "votes_up": t.votes_up,
            "votes_down": t.votes_down,
            "latency_ms": {"p50": t.latency_p50_ms, "p95": t.latency_p95_ms},
            "by_source": {source: t.by_source.get(source, 0) for source in _SOURCES},
            "unanswered": [
                {"question": g.question, "count": g.count, "last_asked": iso_utc(g.last_asked_at)}
                for g in self.unanswered
            ],
            "downvote_reasons": [
                {
                    "query_id": d.query_id,
                    "question": d.question,
                    "reason": d.reason,
                    "at": iso_utc(d.at),
                }
                for d in self.downvotes
            ],
            "top_articles": [
                {
                    "doc_id": a.doc_id,
                    "title": a.title,
                    "questions": a.questions,
                    "answered": a.answered,
                }
                for a in self.articles
            ],
            "by_day": [
                {
                    "day": _day(b.start),
                    "questions": b.questions,
                    "answered": b.answered,
                    "not_answered": b.questions - b.answered,
                    "votes_up": b.votes_up,
                    "votes_down": b.votes_down,
                    "latency_ms": {"p50": b.latency_p50_ms, "p95": b.latency_p95_ms},
                }
                for b in self.by_day
            ],
        }


_SOURCES = ("discord", "console", "cli")


def _filled(found: list[Bucket], start: float, end: float, width: float) -> list[Bucket]:
    """Buckets from the one holding start to the one holding end, empty ones included."""
    first, last = math.floor(start / width), math.floor(end / width)
    if last - first + 1 > MAX_FILLED_DAYS * (DAY / width):
        return found
    by_start = {round(b.start / width): b for b in found}
    return [
        by_start.get(n) or Bucket(n * width, 0, 0, 0, 0, None, None) for n in range(first, last + 1)
    ]


async def build_report(
    db: Database, period: str, now: float, *, passages: int | None = None
) -> StatsReport:
    """The report for ``period`` (day, week, month or all) ending at ``now``."""
    if period not in PERIOD_SECONDS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    seconds = PERIOD_SECONDS[period]
    until = now + 1e-6  # include a question logged at this very instant
    since = now - seconds if seconds is not None else None
    floor = since if since is not None else float("-inf")
    queries = db.queries
    totals = await queries.totals(floor, until)
    days = await queries.buckets(floor, until, DAY)
    start = since if since is not None else await queries.first_asked_at()
    by_day = _filled(days, start if start is not None else now, now, DAY)
    if period == "day":
        chart_width = HOUR
        chart = _filled(await queries.buckets(floor, until, HOUR), now - DAY, now, HOUR)
    else:
        chart_width, chart = DAY, by_day
    return StatsReport(
        period=period,
        since=since,
        until=now,
        totals=totals,
        by_day=by_day,
        chart=chart,
        chart_width=chart_width,
        unanswered=await queries.unanswered(floor, until, UNANSWERED_LIMIT),
        downvotes=await queries.downvote_reasons(floor, until, REASONS_LIMIT),
        articles=await queries.top_articles(floor, until, ARTICLES_LIMIT),
        passages=passages,
    )


# --- CSV export -----------------------------------------------------------------------

CSV_COLUMNS = (
    "id",
    "time",
    "source",
    "question",
    "answered",
    "top_article",
    "latency_ms",
    "votes_up",
    "votes_down",
    "reason",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """User text made inert for spreadsheets: a leading formula character gets a quote."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_header() -> tuple[str, ...]:
    return CSV_COLUMNS


def csv_row(row: LogRow) -> tuple[object, ...]:
    return (
        row.id,
        iso_utc(row.created_at),
        row.source,
        _cell(row.question),
        "yes" if row.answered else "no",
        row.top_article or "",
        f"{row.latency_ms:.1f}",
        row.votes_up,
        row.votes_down,
        _cell(" | ".join(row.reasons)),
    )


async def write_csv(rows: AsyncIterator[LogRow], out: TextIO) -> int:
    """Write the header and one line per logged question; returns the row count."""
    writer = csv.writer(out)
    writer.writerow(csv_header())
    count = 0
    async for row in rows:
        writer.writerow(csv_row(row))
        count += 1
    return count


def export_span(period: str, now: float) -> tuple[float, float]:
    """[since, until) of a period ending now, for the export."""
    seconds = PERIOD_SECONDS[period]
    return (now - seconds if seconds is not None else float("-inf"), now + 1e-6)
