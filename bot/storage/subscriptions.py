"""Channel subscriptions to topic digests, and the documents each one has delivered."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
import uuid
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


@dataclass(frozen=True, slots=True)
class Claim:
    """A process's lease on a due subscription: only the holder of ``token`` may
    freeze, record or release its digest; after ``until`` another process may take it."""

    subscription: Subscription
    token: str
    until: float


@dataclass(frozen=True, slots=True)
class DigestRun:
    """A digest frozen before it is posted: its items ((doc_id, title, excerpt), in
    order) and the idempotency key its post's nonce derives from. Open until recorded."""

    id: int
    subscription_id: int
    run_key: str
    items: tuple[tuple[str, str, str], ...]
    created_at: float
    message_id: int | None = None
    completed_at: float | None = None

    @property
    def doc_ids(self) -> list[str]:
        return [item[0] for item in self.items]


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
            await self._db.lock(f"subscription:{channel_id}:{key}")
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

    # --- claiming and delivering, exactly once across processes ----------------------

    async def claim_due(self, now: float, lease: float, limit: int = 1) -> list[Claim]:
        """Lease up to ``limit`` due, active subscriptions nobody holds (or whose lease
        ran out), the longest overdue first. Concurrent claimers never get the same
        one: SQLite's single writer, PostgreSQL's ``FOR UPDATE SKIP LOCKED``."""
        token = uuid.uuid4().hex
        until = now + lease
        async with self._db.transaction():
            rows = await self._db.fetchall(
                "SELECT id FROM subscriptions WHERE status = 'active' AND next_due_at <= ? "
                "AND (claimed_until IS NULL OR claimed_until <= ?) "
                f"ORDER BY next_due_at, id LIMIT ?{self._db.skip_locked}",
                (now, now, limit),
            )
            claimed = []
            for row in rows:
                got = await self._db.execute_returning(
                    "UPDATE subscriptions SET claim_token = ?, claimed_until = ? "
                    "WHERE id = ? AND status = 'active' "
                    "AND (claimed_until IS NULL OR claimed_until <= ?) "
                    f"RETURNING {_COLUMNS}",
                    (token, until, row[0], now),
                )
                if got is not None:
                    claimed.append(Claim(_from_row(got), token, until))
        return claimed

    async def open_run(self, subscription_id: int) -> DigestRun | None:
        """The subscription's frozen digest that was never recorded as delivered: a
        process died or lost its claim between freezing and recording. Reposting it
        under the same key is what makes the delivery exactly once."""
        row = await self._db.fetchone(
            f"SELECT {_RUN_COLUMNS} FROM digest_runs "
            "WHERE subscription_id = ? AND completed_at IS NULL",
            (subscription_id,),
        )
        return _run_from_row(row) if row is not None else None

    async def freeze_run(
        self, claim: Claim, items: Iterable[tuple[str, str, str]], now: float
    ) -> DigestRun | None:
        """Record the digest about to be posted, with a new idempotency key, while the
        claim is still held; returns the subscription's open run instead if one
        exists, or None (freezing nothing) if the claim was lost."""
        items = [tuple(i) for i in items]
        sub_id = claim.subscription.id
        async with self._db.transaction():
            if not await self._holds(claim):
                return None
            row = await self._db.fetchone(
                f"SELECT {_RUN_COLUMNS} FROM digest_runs "
                "WHERE subscription_id = ? AND completed_at IS NULL",
                (sub_id,),
            )
            if row is None:
                row = await self._db.execute_returning(
                    "INSERT INTO digest_runs (subscription_id, run_key, items, created_at) "
                    f"VALUES (?, ?, ?, ?) RETURNING {_RUN_COLUMNS}",
                    (sub_id, f"{sub_id}-{uuid.uuid4().hex}", json.dumps(items), now),
                )
        assert row is not None
        return _run_from_row(row)

    async def complete_run(
        self,
        claim: Claim,
        run: DigestRun,
        message_id: int | None,
        *,
        now: float,
        next_due_at: float,
    ) -> bool:
        """Record a posted run: its documents as delivered, the run closed, the
        schedule moved on and the claim released, in one transaction, fenced on the
        claim. False (recording nothing) if the claim was lost: whoever holds it now
        reposts the same run under the same key and records it."""
        rows = [(run.subscription_id, d, message_id, now) for d in dict.fromkeys(run.doc_ids)]
        async with self._db.transaction():
            moved = await self._db.execute(
                "UPDATE subscriptions SET next_due_at = ?, updated_at = ?, claim_token = NULL, "
                "claimed_until = NULL WHERE id = ? AND claim_token = ?",
                (next_due_at, now, claim.subscription.id, claim.token),
            )
            if moved == 0:
                return False
            closed = await self._db.execute(
                "UPDATE digest_runs SET completed_at = ?, message_id = ? "
                "WHERE id = ? AND completed_at IS NULL",
                (now, message_id, run.id),
            )
            if closed == 0:
                raise RuntimeError(f"digest run {run.id} was already recorded")
            if rows:
                await self._db.executemany(
                    "INSERT INTO deliveries (subscription_id, doc_id, message_id, delivered_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (subscription_id, doc_id) DO NOTHING",
                    rows,
                )
        return True

    async def release(self, claim: Claim, *, now: float, next_due_at: float | None) -> bool:
        """Give a claim up: with ``next_due_at`` the schedule moves on (nothing new to
        post), without it the subscription is due again at once (the post failed and
        is retried next round). False if the claim was lost meanwhile."""
        async with self._db.transaction():
            if next_due_at is None:
                changed = await self._db.execute(
                    "UPDATE subscriptions SET claim_token = NULL, claimed_until = NULL "
                    "WHERE id = ? AND claim_token = ?",
                    (claim.subscription.id, claim.token),
                )
            else:
                changed = await self._db.execute(
                    "UPDATE subscriptions SET next_due_at = ?, updated_at = ?, "
                    "claim_token = NULL, claimed_until = NULL WHERE id = ? AND claim_token = ?",
                    (next_due_at, now, claim.subscription.id, claim.token),
                )
        return changed > 0

    async def _holds(self, claim: Claim) -> bool:
        row = await self._db.fetchone(
            f"SELECT 1 FROM subscriptions WHERE id = ? AND claim_token = ?{self._db.row_lock}",
            (claim.subscription.id, claim.token),
        )
        return row is not None

    async def pause(self, subscription_id: int, reason: str, now: float) -> bool:
        """Stop delivering (e.g. the bot lost access to the channel) and queue one notice
        to its owner; False if there is no such id or it was already paused."""
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE subscriptions SET status = 'paused', pause_reason = ?, paused_at = ?, "
                "notice = 'pending', notice_detail = NULL, notice_at = NULL, updated_at = ?, "
                "claim_token = NULL, claimed_until = NULL "
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


_RUN_COLUMNS = "id, subscription_id, run_key, items, created_at, message_id, completed_at"


def _run_from_row(row: sqlite3.Row) -> DigestRun:
    return DigestRun(
        id=int(row["id"]),
        subscription_id=int(row["subscription_id"]),
        run_key=str(row["run_key"]),
        items=tuple((str(d), str(t), str(e)) for d, t, e in json.loads(row["items"])),
        created_at=float(row["created_at"]),
        message_id=row["message_id"],
        completed_at=None if row["completed_at"] is None else float(row["completed_at"]),
    )


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
