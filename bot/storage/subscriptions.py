"""Channel subscriptions to topic digests, and the documents each one has delivered."""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from .database import Database

Cadence = Literal["hourly", "daily", "weekly"]
Status = Literal["active", "paused"]
Notice = Literal["pending", "sent", "failed"]
CADENCES: frozenset[str] = frozenset(get_args(Cadence))


@dataclass(frozen=True, slots=True)
class Subscription:
    """A channel's standing request for a digest of new documents on one topic."""

    id: int
    guild_id: int | None
    channel_id: int
    topic: str
    topic_key: str
    cadence: Cadence
    status: Status
    pause_reason: str | None
    next_due_at: float
    created_by: int | None
    created_at: float
    updated_at: float
    paused_at: float | None = None
    notice: Notice | None = None
    notice_detail: str | None = None
    notice_at: float | None = None

    @property
    def active(self) -> bool:
        """True unless the subscription has been paused."""
        return self.status == "active"


def topic_key(topic: str) -> str:
    """Normalise a topic so "Climate  Change" and "climate change" are one subscription."""
    key = " ".join(unicodedata.normalize("NFKC", topic).casefold().split())
    if not key:
        raise ValueError("topic must contain something other than whitespace")
    return key


_COLUMNS = (
    "id, guild_id, channel_id, topic, topic_key, cadence, status, pause_reason, "
    "next_due_at, created_by, created_at, updated_at, paused_at, notice, notice_detail, "
    "notice_at"
)
_RESUMED = (
    "status = 'active', pause_reason = NULL, paused_at = NULL, notice = NULL, "
    "notice_detail = NULL, notice_at = NULL"
)


class SubscriptionRepository:
    """Creates, schedules and pauses digest subscriptions; reach it as `db.subscriptions`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def subscribe(
        self,
        *,
        guild_id: int | None,
        channel_id: int,
        topic: str,
        cadence: Cadence,
        created_by: int | None,
        now: float,
        first_due_at: float,
    ) -> tuple[Subscription, bool]:
        """Subscribe a channel to a topic; returns (subscription, created).

        Subscribing again to the same topic (after normalisation) keeps the one row:
        it takes the new cadence and resumes a paused subscription. When the cadence
        changes or a paused one resumes, the schedule restarts at `first_due_at`.
        """
        if cadence not in CADENCES:
            raise ValueError(f"cadence must be one of {sorted(CADENCES)}, not {cadence!r}")
        key = topic_key(topic)
        async with self._db.transaction():
            existing = await self._db.fetchone(
                f"SELECT {_COLUMNS} FROM subscriptions WHERE channel_id = ? AND topic_key = ?",
                (channel_id, key),
            )
            if existing is None:
                row = await self._db.execute_returning(
                    "INSERT INTO subscriptions (guild_id, channel_id, topic, topic_key, cadence, "
                    "status, pause_reason, next_due_at, created_by, created_at, updated_at) "
                    f"VALUES (?, ?, ?, ?, ?, 'active', NULL, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                    (
                        guild_id,
                        channel_id,
                        topic.strip(),
                        key,
                        cadence,
                        first_due_at,
                        created_by,
                        now,
                        now,
                    ),
                )
                created = True
            else:
                reschedule = existing["status"] != "active" or existing["cadence"] != cadence
                row = await self._db.execute_returning(
                    f"UPDATE subscriptions SET cadence = ?, {_RESUMED}, "
                    "next_due_at = ?, updated_at = ? "
                    f"WHERE id = ? RETURNING {_COLUMNS}",
                    (
                        cadence,
                        first_due_at if reschedule else existing["next_due_at"],
                        now,
                        existing["id"],
                    ),
                )
                created = False
        assert row is not None  # RETURNING on a row we just found or inserted
        return _from_row(row), created

    async def unsubscribe(self, channel_id: int, topic: str) -> bool:
        """Remove a channel's subscription (and its delivery history); False if none."""
        async with self._db.transaction():
            removed = await self._db.execute(
                "DELETE FROM subscriptions WHERE channel_id = ? AND topic_key = ?",
                (channel_id, topic_key(topic)),
            )
        return removed > 0

    async def get(self, subscription_id: int) -> Subscription | None:
        """The subscription with this id, or None."""
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
        )
        return _from_row(row) if row is not None else None

    async def for_channel(self, channel_id: int) -> list[Subscription]:
        """Every subscription in one channel, by topic."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE channel_id = ? ORDER BY topic_key, id",
            (channel_id,),
        )
        return [_from_row(row) for row in rows]

    async def for_guild(self, guild_id: int) -> list[Subscription]:
        """Every subscription in one guild, by channel then topic."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE guild_id = ? "
            "ORDER BY channel_id, topic_key, id",
            (guild_id,),
        )
        return [_from_row(row) for row in rows]

    async def due(self, now: float, limit: int = 50) -> list[Subscription]:
        """Active subscriptions whose digest is due at `now`, the longest overdue first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM subscriptions "
            "WHERE status = 'active' AND next_due_at <= ? "
            "ORDER BY next_due_at, id LIMIT ?",
            (now, limit),
        )
        return [_from_row(row) for row in rows]

    async def pause(self, subscription_id: int, reason: str, now: float) -> bool:
        """Stop delivering (e.g. the bot lost access to the channel) and queue one notice
        to its owner; False if there is no such id or it was already paused."""
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE subscriptions SET status = 'paused', pause_reason = ?, paused_at = ?, "
                "notice = 'pending', notice_detail = NULL, notice_at = NULL, updated_at = ? "
                "WHERE id = ? AND status = 'active'",
                (reason, now, now, subscription_id),
            )
        return changed > 0

    async def resume(
        self, channel_id: int, topic: str, *, now: float, first_due_at: float
    ) -> tuple[Subscription, bool] | None:
        """Restart a channel's paused subscription, its next digest due at
        `first_due_at`; returns (subscription, resumed), resumed False if it was not
        paused, or None if the channel has no subscription on the topic. What it has
        already delivered stays recorded, so nothing is sent twice."""
        key = topic_key(topic)
        async with self._db.transaction():
            row = await self._db.execute_returning(
                f"UPDATE subscriptions SET {_RESUMED}, next_due_at = ?, updated_at = ? "
                "WHERE channel_id = ? AND topic_key = ? AND status = 'paused' "
                f"RETURNING {_COLUMNS}",
                (first_due_at, now, channel_id, key),
            )
            if row is not None:
                return _from_row(row), True
            row = await self._db.fetchone(
                f"SELECT {_COLUMNS} FROM subscriptions WHERE channel_id = ? AND topic_key = ?",
                (channel_id, key),
            )
        return (_from_row(row), False) if row is not None else None

    async def pending_notices(self, limit: int = 50) -> list[Subscription]:
        """Paused subscriptions whose owner has not been told yet, oldest pause first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM subscriptions WHERE notice = 'pending' "
            "ORDER BY paused_at, id LIMIT ?",
            (limit,),
        )
        return [_from_row(row) for row in rows]

    async def record_notice(
        self, subscription_id: int, *, sent: bool, detail: str, now: float
    ) -> bool:
        """Record that the pause notice went out (detail: where) or could not (why).

        False, recording nothing, if the subscription resumed or was removed meanwhile.
        """
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE subscriptions SET notice = ?, notice_detail = ?, notice_at = ? "
                "WHERE id = ? AND notice = 'pending'",
                ("sent" if sent else "failed", detail, now, subscription_id),
            )
        return changed > 0

    async def delivered_doc_ids(self, subscription_id: int) -> set[str]:
        """Documents this subscription has already posted."""
        rows = await self._db.fetchall(
            "SELECT doc_id FROM deliveries WHERE subscription_id = ?", (subscription_id,)
        )
        return {row[0] for row in rows}

    async def record_delivery(
        self,
        subscription_id: int,
        doc_ids: Iterable[str],
        message_id: int | None,
        now: float,
        next_due_at: float,
    ) -> bool:
        """Mark documents as posted and move the schedule on, in one transaction.

        Replaying a delivery adds nothing twice. Returns False (recording nothing) if
        the subscription was removed while its digest was being sent.
        """
        rows = [(subscription_id, doc_id, message_id, now) for doc_id in dict.fromkeys(doc_ids)]
        async with self._db.transaction():
            moved = await self._db.execute(
                "UPDATE subscriptions SET next_due_at = ?, updated_at = ? WHERE id = ?",
                (next_due_at, now, subscription_id),
            )
            if moved == 0:
                return False
            if rows:
                await self._db.executemany(
                    # Like INSERT OR IGNORE for replays, but only the duplicate is ignored:
                    # any other constraint failure still rolls the whole delivery back.
                    "INSERT INTO deliveries (subscription_id, doc_id, message_id, delivered_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (subscription_id, doc_id) DO NOTHING",
                    rows,
                )
        return True

    async def advance(self, subscription_id: int, next_due_at: float, now: float) -> bool:
        """Move the schedule on when there was nothing new to post; False if no such id."""
        async with self._db.transaction():
            moved = await self._db.execute(
                "UPDATE subscriptions SET next_due_at = ?, updated_at = ? WHERE id = ?",
                (next_due_at, now, subscription_id),
            )
        return moved > 0


def _from_row(row: sqlite3.Row) -> Subscription:
    return Subscription(
        id=row["id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        topic=row["topic"],
        topic_key=row["topic_key"],
        cadence=row["cadence"],
        status=row["status"],
        pause_reason=row["pause_reason"],
        next_due_at=float(row["next_due_at"]),
        created_by=row["created_by"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        paused_at=None if row["paused_at"] is None else float(row["paused_at"]),
        notice=row["notice"],
        notice_detail=row["notice_detail"],
        notice_at=None if row["notice_at"] is None else float(row["notice_at"]),
    )
