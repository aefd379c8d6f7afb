"""The query log and the per-user votes on answers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
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
            "SELECT COALESCE(SUM(vote = 1), 0), COALESCE(SUM(vote = -1), 0) "
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
            "SELECT COALESCE(SUM(f.vote = 1), 0), COALESCE(SUM(f.vote = -1), 0) "
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
