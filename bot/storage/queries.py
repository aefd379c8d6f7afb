"""The query log and the per-user votes on answers."""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, get_args

from .errors import NoVote, UnknownQuery

if TYPE_CHECKING:
    from .database import Database

Source = Literal["discord", "console", "cli"]
SOURCES: frozenset[str] = frozenset(get_args(Source))


class Hit(NamedTuple):
    """One retrieval hit kept with a logged query."""

    doc_id: str
    score: float


class VoteTally(NamedTuple):
    """Thumbs up and down on one answer."""

    up: int
    down: int


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """A logged question and what the bot did with it."""

    id: int
    created_at: float
    guild_id: int | None
    channel_id: int | None
    user_id: int | None
    source: Source
    question: str
    answered: bool
    answer_doc_id: str | None
    answer_text: str | None
    top_hits: tuple[Hit, ...]
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Vote:
    """One user's current vote (+1 or -1) on one answer, with an optional reason."""

    query_id: int
    user_id: int
    vote: int
    reason: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class QueryStats:
    """Totals for /stats."""

    queries: int
    answered: int
    abstained: int
    up: int
    down: int
    mean_latency_ms: float | None


@dataclass(frozen=True, slots=True)
class Bucket:
    """Questions asked in one time bucket [start, start + width) and what became of them."""

    start: float
    questions: int
    answered: int
    votes_up: int
    votes_down: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None


@dataclass(frozen=True, slots=True)
class LogTotals:
    """Totals over the questions asked in a time range, and the votes on them."""

    questions: int
    answered: int
    votes_up: int
    votes_down: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    by_source: dict[str, int]


@dataclass(frozen=True, slots=True)
class UnansweredGroup:
    """Unanswered questions that differ only in case, punctuation and spacing."""

    question: str  # the most frequent wording (the latest among equals)
    count: int
    last_asked_at: float


@dataclass(frozen=True, slots=True)
class DownvoteReason:
    query_id: int
    question: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class ArticleCount:
    """An article at the top of questions' results: its answer, or its best match."""

    doc_id: str
    title: str | None
    questions: int
    answered: int


@dataclass(frozen=True, slots=True)
class LogRow:
    """One logged question as exported: outcome, top article, votes and 👎 reasons."""

    id: int
    created_at: float
    source: str
    question: str
    answered: bool
    top_article: str | None
    latency_ms: float
    votes_up: int
    votes_down: int
    reasons: tuple[str, ...]


_PUNCTUATION_OR_SPACE = re.compile(r"[\W_]+")


def question_key(question: str) -> str:
    """A question with case, punctuation and spacing ignored: "What's X?" == "whats  x"."""
    text = unicodedata.normalize("NFKC", question).casefold()
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Mn", "Cf"))
    text = text.replace("'", "").replace("’", "")
    return " ".join(_PUNCTUATION_OR_SPACE.sub(" ", text).split())


# The article a question was about: its answer's article, else its best-matching one.
_TOP_ARTICLE = {
    "sqlite": "COALESCE(q.answer_doc_id, json_extract(q.top_hits, '$[0].doc_id'))",
    "postgresql": "COALESCE(q.answer_doc_id, (q.top_hits::jsonb -> 0 ->> 'doc_id'))",
}
# The 👎 reasons on one query as a JSON array.
_REASONS = {
    "sqlite": "(SELECT json_group_array(reason) FROM feedback WHERE query_id = q.id "
    "AND vote = -1 AND reason IS NOT NULL AND reason != '')",
    "postgresql": "(SELECT COALESCE(json_agg(reason ORDER BY updated_at), '[]')::text "
    "FROM feedback WHERE query_id = q.id AND vote = -1 AND reason IS NOT NULL "
    "AND reason != '')",
}
# The bucket a timestamp falls in: floor(created_at / width), as an integer.
_BUCKET = {
    "sqlite": "CAST(created_at / ? AS INTEGER)",
    "postgresql": "CAST(FLOOR(created_at / ?) AS BIGINT)",
}
# Nearest-rank percentiles: the value at rank ceil(n * p / 100), in integer arithmetic.
_PERCENTILE_RANK = "(n * {p} + 99) / 100"


_QUERY_COLUMNS = (
    "id, created_at, guild_id, channel_id, user_id, source, question, answered, "
    "answer_doc_id, answer_text, top_hits, latency_ms"
)
_VOTE_COLUMNS = "query_id, user_id, vote, reason, created_at, updated_at"


class QueryRepository:
    """Logs questions and records feedback on the answers; reach it as `db.queries`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def log_query(
        self,
        *,
        created_at: float,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int | None,
        source: Source,
        question: str,
        answered: bool,
        answer_doc_id: str | None,
        answer_text: str | None,
        top_hits: Sequence[tuple[str, float]],
        latency_ms: float,
    ) -> int:
        """Store one question with its outcome and return the new query id."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {sorted(SOURCES)}, not {source!r}")
        hits_json = json.dumps(
            [{"doc_id": str(doc_id), "score": float(score)} for doc_id, score in top_hits],
            ensure_ascii=False,
            allow_nan=False,
        )
        async with self._db.transaction():
            row = await self._db.execute_returning(
                "INSERT INTO queries (created_at, guild_id, channel_id, user_id, source, "
                "question, answered, answer_doc_id, answer_text, top_hits, latency_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    created_at,
                    guild_id,
                    channel_id,
                    user_id,
                    source,
                    question,
                    int(bool(answered)),
                    answer_doc_id,
                    answer_text,
                    hits_json,
                    latency_ms,
                ),
            )
        assert row is not None  # RETURNING always yields the inserted row
        return int(row["id"])

    async def get(self, query_id: int) -> QueryRecord | None:
        """The logged query with this id, or None."""
        row = await self._db.fetchone(
            f"SELECT {_QUERY_COLUMNS} FROM queries WHERE id = ?", (query_id,)
        )
        return _query_from_row(row) if row is not None else None

    async def count(self) -> int:
        """How many queries have been logged."""
        row = await self._db.fetchone("SELECT COUNT(*) FROM queries")
        return int(row[0]) if row else 0

    async def record_vote(self, query_id: int, user_id: int, vote: int, now: float) -> Vote:
        """Set this user's vote on a query, replacing any earlier one.

        Changing the direction of a vote drops the old reason, which explained the
        other direction. Raises UnknownQuery if the query was never logged.
        """
        if isinstance(vote, bool) or vote not in (1, -1):
            raise ValueError(f"vote must be +1 or -1, not {vote!r}")
        async with self._db.transaction():
            if await self._db.fetchone("SELECT 1 FROM queries WHERE id = ?", (query_id,)) is None:
                raise UnknownQuery(query_id)
            row = await self._db.execute_returning(
                "INSERT INTO feedback (query_id, user_id, vote, reason, created_at, updated_at) "
                "VALUES (?, ?, ?, NULL, ?, ?) "
                "ON CONFLICT (query_id, user_id) DO UPDATE SET "
                "  reason = CASE WHEN feedback.vote = excluded.vote "
                "                THEN feedback.reason ELSE NULL END, "
                "  vote = excluded.vote, "
                "  updated_at = excluded.updated_at "
                f"RETURNING {_VOTE_COLUMNS}",
                (query_id, user_id, vote, now, now),
            )
        assert row is not None  # an upsert with RETURNING always yields the row
        return _vote_from_row(row)

    async def set_vote_reason(
        self, query_id: int, user_id: int, reason: str | None, now: float
    ) -> Vote:
        """Attach (or with a blank reason, clear) the reason for an existing vote.

        Raises UnknownQuery if the query was never logged, NoVote if this user has not
        voted on it.
        """
        cleaned = reason.strip() if reason is not None else None
        async with self._db.transaction():
            row = await self._db.execute_returning(
                f"UPDATE feedback SET reason = ?, updated_at = ? "
                f"WHERE query_id = ? AND user_id = ? RETURNING {_VOTE_COLUMNS}",
                (cleaned or None, now, query_id, user_id),
            )
            if row is None:
                if await self._db.fetchone("SELECT 1 FROM queries WHERE id = ?", (query_id,)):
                    raise NoVote(query_id, user_id)
                raise UnknownQuery(query_id)
        return _vote_from_row(row)

    async def get_vote(self, query_id: int, user_id: int) -> Vote | None:
        """This user's current vote on a query, or None."""
        row = await self._db.fetchone(
            f"SELECT {_VOTE_COLUMNS} FROM feedback WHERE query_id = ? AND user_id = ?",
            (query_id, user_id),
        )
        return _vote_from_row(row) if row is not None else None

    async def votes_for(self, query_id: int) -> VoteTally:
        """(up, down) vote counts on one query."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) FILTER (WHERE vote = 1), COUNT(*) FILTER (WHERE vote = -1) "
            "FROM feedback WHERE query_id = ?",
            (query_id,),
        )
        return VoteTally(int(row[0]), int(row[1])) if row else VoteTally(0, 0)

    async def stats(self, since: float | None = None) -> QueryStats:
        """Totals over all queries, or those created at or after `since`."""
        floor = float("-inf") if since is None else since
        query_row = await self._db.fetchone(
            "SELECT COUNT(*), COALESCE(SUM(answered), 0), AVG(latency_ms) "
            "FROM queries WHERE created_at >= ?",
            (floor,),
        )
        vote_row = await self._db.fetchone(
            "SELECT COUNT(*) FILTER (WHERE f.vote = 1), COUNT(*) FILTER (WHERE f.vote = -1) "
            "FROM feedback AS f JOIN queries AS q ON q.id = f.query_id "
            "WHERE q.created_at >= ?",
            (floor,),
        )
        assert query_row is not None and vote_row is not None  # aggregates return one row
        total, answered = int(query_row[0]), int(query_row[1])
        mean = query_row[2]
        return QueryStats(
            queries=total,
            answered=answered,
            abstained=total - answered,
            up=int(vote_row[0]),
            down=int(vote_row[1]),
            mean_latency_ms=float(mean) if mean is not None else None,
        )

    # --- the admin report ----------------------------------------------------------

    async def totals(self, since: float, until: float) -> LogTotals:
        """Figures over the questions asked in [since, until) and the votes on them."""
        span = (since, until)
        row = await self._db.fetchone(
            "SELECT COUNT(*), COALESCE(SUM(answered), 0) FROM queries AS q "
            "WHERE q.created_at >= ? AND q.created_at < ?",
            span,
        )
        votes = await self._db.fetchone(
            "SELECT COUNT(*) FILTER (WHERE f.vote = 1), COUNT(*) FILTER (WHERE f.vote = -1) "
            "FROM feedback AS f JOIN queries AS q ON q.id = f.query_id "
            "WHERE q.created_at >= ? AND q.created_at < ?",
            span,
        )
        sources = await self._db.fetchall(
            "SELECT source, COUNT(*) FROM queries AS q "
            "WHERE q.created_at >= ? AND q.created_at < ? GROUP BY source ORDER BY source",
            span,
        )
        assert row is not None and votes is not None  # aggregates return one row
        p50 = await self._latency_at_rank(since, until, int(row[0]), 50)
        p95 = await self._latency_at_rank(since, until, int(row[0]), 95)
        return LogTotals(
            questions=int(row[0]),
            answered=int(row[1]),
            votes_up=int(votes[0]),
            votes_down=int(votes[1]),
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            by_source={str(r[0]): int(r[1]) for r in sources},
        )

    async def buckets(self, since: float, until: float, width: float) -> list[Bucket]:
        """Per-bucket figures for [since, until); buckets start at multiples of
        `width` seconds since the epoch (86400: UTC days). Empty buckets are omitted."""
        if width <= 0:
            raise ValueError("width must be positive")
        span = (width, since, until)
        bucket = _BUCKET[self._db.backend].replace("created_at", "q.created_at")
        counts = await self._db.fetchall(
            f"SELECT {bucket} AS b, COUNT(*), SUM(q.answered) "
            "FROM queries AS q WHERE q.created_at >= ? AND q.created_at < ? GROUP BY b",
            span,
        )
        votes = {
            int(r[0]): (int(r[1]), int(r[2]))
            for r in await self._db.fetchall(
                f"SELECT {bucket} AS b, COUNT(*) FILTER (WHERE f.vote = 1), "
                "COUNT(*) FILTER (WHERE f.vote = -1) "
                "FROM feedback AS f JOIN queries AS q ON q.id = f.query_id "
                "WHERE q.created_at >= ? AND q.created_at < ? GROUP BY b",
                span,
            )
        }
        latency = await self._latency_percentiles(since, until, width)
        result = []
        for row in sorted(counts, key=lambda r: int(r[0])):
            b = int(row[0])
            up, down = votes.get(b, (0, 0))
            p50, p95 = latency.get(b, (None, None))
            result.append(Bucket(b * width, int(row[1]), int(row[2]), up, down, p50, p95))
        return result

    async def _latency_at_rank(
        self, since: float, until: float, count: int, percent: int
    ) -> float | None:
        """The nearest-rank percentile of answer latency over `count` questions (a
        bounded sort, cheaper than ranking every row)."""
        if count == 0:
            return None
        rank = (count * percent + 99) // 100
        row = await self._db.fetchone(
            "SELECT latency_ms FROM queries WHERE created_at >= ? AND created_at < ? "
            "ORDER BY latency_ms LIMIT 1 OFFSET ?",
            (since, until, rank - 1),
        )
        return float(row[0]) if row is not None else None

    async def _latency_percentiles(
        self, since: float, until: float, width: float
    ) -> dict[int, tuple[float, float]]:
        """{bucket: (p50, p95)} of answer latency per bucket, nearest-rank."""
        p50, p95 = _PERCENTILE_RANK.format(p=50), _PERCENTILE_RANK.format(p=95)
        rows = await self._db.fetchall(
            "SELECT b, MAX(CASE WHEN rn = p50 THEN latency_ms END), "
            "       MAX(CASE WHEN rn = p95 THEN latency_ms END) FROM ("
            f"  SELECT b, latency_ms, rn, {p50} AS p50, {p95} AS p95 FROM ("
            "    SELECT b, latency_ms, ROW_NUMBER() OVER w AS rn, COUNT(*) OVER w_all AS n FROM ("
            f"      SELECT {_BUCKET[self._db.backend]} AS b, latency_ms FROM queries"
            "       WHERE created_at >= ? AND created_at < ?) AS spans"
            "     WINDOW w AS (PARTITION BY b ORDER BY latency_ms), w_all AS (PARTITION BY b))"
            "   AS ranked"
            ") AS picked WHERE rn IN (p50, p95) GROUP BY b",
            (width, since, until),
        )
        return {int(r[0]): (float(r[1]), float(r[2])) for r in rows}

    async def unanswered(self, since: float, until: float, limit: int) -> list[UnansweredGroup]:
        """The most frequent unanswered questions of [since, until), grouped when they
        differ only in case, punctuation and spacing; most frequent first."""
        rows = await self._db.fetchall(
            "SELECT question, COUNT(*), MAX(created_at) FROM queries AS q "
            "WHERE q.answered = 0 AND q.created_at >= ? AND q.created_at < ? "
            "GROUP BY question",
            (since, until),
        )
        groups: dict[str, list[tuple[str, int, float]]] = {}
        for question, count, last in rows:
            groups.setdefault(question_key(question), []).append(
                (str(question), int(count), float(last))
            )
        result = []
        for variants in groups.values():
            wording = max(variants, key=lambda v: (v[1], v[2]))[0]
            total = sum(v[1] for v in variants)
            result.append(UnansweredGroup(wording, total, max(v[2] for v in variants)))
        result.sort(key=lambda g: (-g.count, -g.last_asked_at, g.question))
        return result[:limit]

    async def downvote_reasons(
        self, since: float, until: float, limit: int
    ) -> list[DownvoteReason]:
        """The latest 👎 reasons on questions asked in [since, until), newest first."""
        rows = await self._db.fetchall(
            "SELECT q.id, q.question, f.reason, f.updated_at "
            "FROM feedback AS f JOIN queries AS q ON q.id = f.query_id "
            "WHERE f.vote = -1 AND f.reason IS NOT NULL AND f.reason != '' "
            "AND q.created_at >= ? AND q.created_at < ? "
            "ORDER BY f.updated_at DESC, q.id DESC LIMIT ?",
            (since, until, limit),
        )
        return [DownvoteReason(int(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in rows]

    async def top_articles(self, since: float, until: float, limit: int) -> list[ArticleCount]:
        """The articles questions of [since, until) were most often about (the answer's
        article, or the best match when the bot abstained), most asked first."""
        rows = await self._db.fetchall(
            "SELECT t.doc_id, d.title, t.questions, t.answered FROM ("
            f"  SELECT {_TOP_ARTICLE[self._db.backend]} AS doc_id, COUNT(*) AS questions,"
            "     SUM(q.answered) AS answered"
            "   FROM queries AS q WHERE q.created_at >= ? AND q.created_at < ?"
            "   GROUP BY 1"
            ") AS t LEFT JOIN documents AS d ON d.doc_id = t.doc_id "
            "WHERE t.doc_id IS NOT NULL ORDER BY t.questions DESC, t.doc_id LIMIT ?",
            (since, until, limit),
        )
        return [ArticleCount(str(r[0]), r[1], int(r[2]), int(r[3])) for r in rows]

    async def export(
        self, since: float, until: float, *, page: int = 1000
    ) -> AsyncIterator[LogRow]:
        """Every question of [since, until) in id order, read a page at a time."""
        after = 0
        while True:
            rows = await self._db.fetchall(
                "SELECT q.id, q.created_at, q.source, q.question, q.answered, "
                f"{_TOP_ARTICLE[self._db.backend]}, q.latency_ms, "
                "  (SELECT COUNT(*) FROM feedback WHERE query_id = q.id AND vote = 1), "
                "  (SELECT COUNT(*) FROM feedback WHERE query_id = q.id AND vote = -1), "
                f"  {_REASONS[self._db.backend]} "
                "FROM queries AS q WHERE q.created_at >= ? AND q.created_at < ? AND q.id > ? "
                "ORDER BY q.id LIMIT ?",
                (since, until, after, page),
            )
            for r in rows:
                yield LogRow(
                    id=int(r[0]),
                    created_at=float(r[1]),
                    source=str(r[2]),
                    question=str(r[3]),
                    answered=bool(r[4]),
                    top_article=r[5],
                    latency_ms=float(r[6]),
                    votes_up=int(r[7]),
                    votes_down=int(r[8]),
                    reasons=tuple(json.loads(r[9])),
                )
            if len(rows) < page:
                return
            after = int(rows[-1][0])

    async def first_asked_at(self) -> float | None:
        """When the oldest logged question was asked, or None for an empty log."""
        row = await self._db.fetchone("SELECT MIN(created_at) FROM queries")
        return float(row[0]) if row and row[0] is not None else None


def _query_from_row(row: sqlite3.Row) -> QueryRecord:
    hits = tuple(Hit(str(h["doc_id"]), float(h["score"])) for h in json.loads(row["top_hits"]))
    return QueryRecord(
        id=row["id"],
        created_at=float(row["created_at"]),
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        source=row["source"],
        question=row["question"],
        answered=bool(row["answered"]),
        answer_doc_id=row["answer_doc_id"],
        answer_text=row["answer_text"],
        top_hits=hits,
        latency_ms=float(row["latency_ms"]),
    )


def _vote_from_row(row: sqlite3.Row) -> Vote:
    return Vote(
        query_id=row["query_id"],
        user_id=row["user_id"],
        vote=row["vote"],
        reason=row["reason"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
    )
