"""The bot's behaviour in plain values: ask, vote, subscribe, digest, reindex.

Both front ends use this layer: the Discord cogs and the offline console. It owns the
live index (swapped atomically on reindex) and talks to storage; it knows nothing of
Discord. Every method validates its input and raises ``UserError`` (or a subclass)
with a message fit to show the person who asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
import sqlite3
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from bot.config import Settings
from bot.stats import PERIODS, StatsReport, build_report, export_span
from bot.storage import (
    Cadence,
    Claim,
    Database,
    DuplicateGroup,
    LogRow,
    StorageError,
    Subscription,
    SyncReport,
    SynonymGroup,
    topic_key,
)
from bot.workers import WorkerPool
from retrieval import semantic
from retrieval.answer import Reading, Result, answer_question, embed_question, read_question
from retrieval.build import BuildReport, open_index
from retrieval.corpus import CorpusError
from retrieval.index import Index, IndexUnavailable
from retrieval.query import dictionary
from retrieval.synonyms import MAX_MEMBER_CHARS, Synonyms, parse_group, phrase_key
from retrieval.text import tokenize

__all__ = [
    "CADENCE_SECONDS",
    "MAX_QUESTION_CHARS",
    "MAX_TOPIC_CHARS",
    "AskOutcome",
    "Busy",
    "ChannelRefused",
    "Core",
    "Digest",
    "DigestItem",
    "NoticeUndeliverable",
    "OnCooldown",
    "PostDigest",
    "ReindexOutcome",
    "Requester",
    "UserError",
    "digest_nonce",
]

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 300
MAX_TOPIC_CHARS = 100
MAX_REASON_CHARS = 500
# One /synonyms add line: a group of up to 20 names of up to 100 characters each.
MAX_SYNONYM_LINE = 20 * (MAX_MEMBER_CHARS + 2)
DIGEST_MAX_ITEMS = 5
DIGEST_SEARCH_DEPTH = 200
CADENCE_SECONDS: dict[str, int] = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400}
# Reindex everywhere: one process builds at a time (a lease in the database, renewed
# while it builds), then bumps the generation; the others follow it.
REINDEX_LEASE = "reindex"
REINDEX_LEASE_SECONDS = 60.0
INDEX_GENERATION = "index.generation"
INDEX_CONTENT = "index.content"
INDEX_CHANNEL = "corpusbot_index"  # PostgreSQL NOTIFY channel; the payload: the generation


class UserError(Exception):
    """Bad input or a refused action; the message is shown to the user as is."""


class OnCooldown(UserError):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"You're asking too fast: try again in {math.ceil(retry_after)} s.")


class Busy(UserError):
    """Another reindex is already running."""


# Posts a subscription's digest with the given nonce; returns the message id.
PostDigest = Callable[[Subscription, "Digest", str], Awaitable[int]]


def digest_nonce(run_key: str) -> str:
    """The message nonce for a digest run: 25 characters (Discord's limit), the same
    for every attempt to post the run, from whichever process."""
    return "d" + hashlib.sha256(run_key.encode("utf-8")).hexdigest()[:24]


def content_digest(index: Index) -> str:
    """What an index holds, the same on every host with the same articles: a digest of
    its (document id, content hash) pairs (file times, which differ, are left out)."""
    h = hashlib.sha256()
    for doc_id, content_hash in sorted((d.doc_id, d.content_hash) for d in index.documents):
        h.update(f"{doc_id}\0{content_hash}\n".encode())
    return h.hexdigest()


class ChannelRefused(Exception):
    """The channel cannot receive a digest (gone, or no permission); pauses it."""


class NoticeUndeliverable(Exception):
    """Nowhere to tell a server that its digest paused; the message says why."""


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks, and where: ids are None outside Discord."""

    user_id: int | None = None
    guild_id: int | None = None
    channel_id: int | None = None
    source: Literal["discord", "console", "cli"] = "discord"


@dataclass(frozen=True, slots=True)
class AskOutcome:
    query_id: int
    result: Result
    latency_ms: float


class DigestItem(NamedTuple):
    """One article in a digest (a plain tuple, as the renderers take it)."""

    doc_id: str
    title: str
    excerpt: str


@dataclass(frozen=True, slots=True)
class Digest:
    topic: str
    items: tuple[DigestItem, ...]
    # a channel's next digest, which leaves out the articles already sent there
    subscribed: bool = False


@dataclass(slots=True)
class ReindexOutcome:
    build: BuildReport
    documents: SyncReport
    seconds: float


@dataclass(slots=True)
class ReindexProgress:
    """Latest progress of a running reindex, for a front end to show."""

    stage: str = "starting"
    done: int = 0
    total: int = 0
    started_at: float = field(default_factory=time.monotonic)


# C0 and C1 control characters (escape, bell, delete, CSI ...): a terminal acts on them,
# so text people type keeps none of them, in the log or in what is shown back. A whole
# terminal escape sequence goes (colour "ESC[31m", window title "ESC]0;...BEL"), so no
# "[31m" is left stuck to the next word.
_CONTROLS = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: ESC [ parameters, final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: ESC ] text, ended by BEL or ESC backslash
    r"|[\x00-\x1f\x7f-\x9f]"
)


def one_line(text: str) -> str:
    """Text as one line of printable characters: each control character (or terminal
    escape sequence) becomes a space, each run of spaces one space, and the ends are
    trimmed. Letters are composed (NFC): "e" and a combining accent count as one "é"."""
    return unicodedata.normalize("NFC", " ".join(_CONTROLS.sub(" ", text).split()))


def clean_question(question: str) -> str:
    """A question trimmed and checked: non-empty, at most MAX_QUESTION_CHARS."""
    question = one_line(question)
    if not question:
        raise UserError("Ask a question about the articles, e.g. `/ask Who is Dai Shan?`")
    if len(question) > MAX_QUESTION_CHARS:
        raise UserError(
            f"Questions can be at most {MAX_QUESTION_CHARS} characters "
            f"(yours has {len(question)}). Try a shorter one."
        )
    return question


def clean_topic(topic: str) -> str:
    """A topic trimmed and checked: searchable words, at most MAX_TOPIC_CHARS."""
    topic = one_line(topic)
    if not topic:
        raise UserError("Give a topic, e.g. `Alibaba Cloud`.")
    if len(topic) > MAX_TOPIC_CHARS:
        raise UserError(f"Topics can be at most {MAX_TOPIC_CHARS} characters.")
    if not tokenize(topic):
        raise UserError("That topic has no words to search for; try names or keywords.")
    return topic


class _Cooldowns:
    """One question per user per ``seconds`` (per process, forgotten on restart)."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self._clock = clock
        self._last: dict[int, float] = {}

    def hit(self, user_id: int | None) -> None:
        if user_id is None or self.seconds <= 0:
            return
        now = self._clock()
        last = self._last.get(user_id)
        if last is not None and now - last < self.seconds:
            raise OnCooldown(self.seconds - (now - last))
        self._last[user_id] = now
        if len(self._last) > 10_000:  # forget users whose cooldown has long expired
            cutoff = now - self.seconds
            self._last = {u: t for u, t in self._last.items() if t >= cutoff}


class Core:
    """Shared behaviour behind every front end. Create with ``await Core.start(...)``."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        index: Index,
        *,
        clock: Callable[[], float] = time.time,
        workers: WorkerPool | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.index = index
        self.clock = clock
        # answering and digest matching: bounded, and behind Discord acknowledgements
        self.workers = workers or WorkerPool()
        self._cooldowns = _Cooldowns(settings.ask_cooldown, time.monotonic)
        self._reindex_lock = asyncio.Lock()
        self.shard_owner: str | None = None  # SQLite shard leases held by this process
        self.reindex_progress: ReindexProgress | None = None
        # the index generation this process serves (bumped by any process's reindex)
        self.index_generation = 0
        self._following: asyncio.Task | None = None
        self._follow_wake = asyncio.Event()
        self.file_synonyms: Synonyms = settings.load_synonyms()
        self.admin_synonyms: list[SynonymGroup] = []
        self.synonyms: Synonyms = self.file_synonyms

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        one_shot: bool = False,
    ) -> Core:
        """Open the database and the index (building it if the corpus changed).

        The embedding model loads now, not on the first question; so does the spelling
        dictionary (0.1 s), unless the core answers once and exits (one_shot): then
        only a misspelled question loads it."""
        try:
            index, report = await asyncio.to_thread(
                open_index, settings.corpus, settings.index_path
            )
            await asyncio.to_thread(semantic.warm_up, settings.index_path)
            if not one_shot:
                await asyncio.to_thread(dictionary)
        except IndexUnavailable as exc:
            raise UserError(settings.index_problem(str(exc))) from None
        except (CorpusError, semantic.SemanticUnavailable) as exc:
            raise UserError(str(exc)) from None
        try:
            db = await Database.open(settings.db)
        except (OSError, sqlite3.Error, StorageError) as exc:
            raise UserError(f"cannot open the database {settings.db_label}: {exc}") from None
        core = cls(settings, db, index, clock=clock)
        core.index_generation = await core._stored_generation()
        if await db.state.get(INDEX_CONTENT) not in (None, content_digest(index)):
            # a reindex elsewhere may have landed between loading the index and now:
            # let the first check open the index again
            core.index_generation -= 1
        await core._load_synonyms()
        synced = await core._sync_documents()
        log.info(
            "index ready: %d documents, %d passages (%s); %d new documents",
            report.documents,
            report.passages,
            "rebuilt" if report.rebuilt else "reused",
            len(synced.added),
        )
        return core

    async def close(self) -> None:
        if self._following is not None:
            self._following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._following
            self._following = None
        self.workers.close()
        await self.db.close()

    async def _sync_documents(self) -> SyncReport:
        # read in the repository's worker thread: the index is never changed in place
        docs = ((d.doc_id, d.content_hash, d.title) for d in self.index.documents)
        return await self.db.documents.sync(docs, now=self.clock())

    # --- ask ----------------------------------------------------------------------

    async def admit(self, question: str, who: Requester) -> str:
        """Check a question and the asker's cooldown before any work; returns the
        cleaned question or raises UserError (OnCooldown).

        The cooldown is kept in the database (one atomic statement), so it holds across
        processes sharing it and across restarts; this process's own memory of recent
        askers turns a repeat away before it costs a write."""
        question = clean_question(question)
        seconds = self.settings.ask_cooldown
        if who.source == "discord" and who.user_id is not None and seconds > 0:
            self._cooldowns.hit(who.user_id)
            # wall time, not self.clock: processes on several hosts compare it
            wait = await self.db.state.take_cooldown(who.user_id, seconds, time.time())
            if wait is not None:
                raise OnCooldown(wait)
        return question

    async def ask(self, question: str, who: Requester, *, k: int | None = None) -> AskOutcome:
        """Admit, answer and log a question."""
        return await self.answer(await self.admit(question, who), who, k=k)

    async def answer(self, question: str, who: Requester, *, k: int | None = None) -> AskOutcome:
        """Answer an admitted question and log it; ``k`` passages (the default if None)."""
        started = time.perf_counter()
        index, synonyms = self.index, self.synonyms

        def read() -> tuple[Reading, np.ndarray]:
            reading = read_question(index, question, synonyms)
            return reading, embed_question(reading)

        # the question's vector in the model's thread, its answer in a worker: in a
        # burst, one question is embedded while the one before it is answered
        reading, vector = await self.workers.run_model(read)
        options: dict[str, object] = {"vector": vector}
        if k is not None:
            options["k"] = k
        result = await self.workers.run(answer_question, index, reading, **options)  # type: ignore[arg-type]
        latency_ms = (time.perf_counter() - started) * 1000
        answer = result.answer
        query_id = await self.db.queries.log_query(
            created_at=self.clock(),
            guild_id=who.guild_id,
            channel_id=who.channel_id,
            user_id=who.user_id,
            source=who.source,
            question=question,
            answered=answer is not None,
            answer_doc_id=answer.doc_id if answer else None,
            answer_text=answer.text if answer else None,
            top_hits=[(h.passage.doc_id, float(h.fused)) for h in result.hits],
            latency_ms=latency_ms,
        )
        log.info("query %d answered=%s latency=%.1fms", query_id, answer is not None, latency_ms)
        return AskOutcome(query_id, result, latency_ms)

    async def vote(self, query_id: int, user_id: int, up: bool) -> None:
        """Record (or change) a user's vote on an answer."""
        try:
            await self.db.queries.record_vote(query_id, user_id, 1 if up else -1, self.clock())
        except LookupError:
            raise UserError(
                f"No answer #{query_id} is on record, so the vote was not saved."
            ) from None

    async def set_reason(self, query_id: int, user_id: int, reason: str) -> None:
        reason = one_line(reason)[:MAX_REASON_CHARS]
        try:
            await self.db.queries.set_vote_reason(query_id, user_id, reason, self.clock())
        except LookupError:
            raise UserError("Vote first, then add a reason.") from None

    # --- the admin report -----------------------------------------------------------

    async def stats(self, period: str = "week") -> StatsReport:
        """The admin report for a period: day, week, month or all."""
        period = period.strip().lower()
        if period not in PERIODS:
            raise UserError(f"The period must be one of {', '.join(PERIODS)}.")
        return await build_report(self.db, period, self.clock(), passages=self.index.num_passages)

    def query_log(self, period: str = "week") -> AsyncIterator[LogRow]:
        """Every question logged in the period, oldest first (for the CSV export)."""
        period = period.strip().lower()
        if period not in PERIODS:
            raise UserError(f"The period must be one of {', '.join(PERIODS)}.")
        since, until = export_span(period, self.clock())
        return self.db.queries.export(since, until)

    # --- synonyms -----------------------------------------------------------------

    async def _load_synonyms(self) -> None:
        """Read the admins' groups and merge them with the file's for answering."""
        self.admin_synonyms = await self.db.synonyms.all()
        self.synonyms = self.file_synonyms.merged(g.members for g in self.admin_synonyms)

    async def add_synonyms(self, names: str, user_id: int | None) -> SynonymGroup:
        """Store a group written as "A, B, C"; answers use it at once."""
        if len(names) > MAX_SYNONYM_LINE:
            raise UserError(f"Give at most {MAX_SYNONYM_LINE} characters of names.")
        try:
            members = parse_group(one_line(names))
        except ValueError as exc:
            raise UserError(f"Not a synonym group: {exc}.") from None
        keys = {phrase_key(m) for m in members}
        for existing in self.file_synonyms.groups:
            if keys <= {phrase_key(m) for m in existing}:
                raise UserError(
                    f"The synonyms file already has these names together: {', '.join(existing)}."
                )
        try:
            group = await self.db.synonyms.add(members, created_by=user_id, now=self.clock())
        except DuplicateGroup as exc:
            where = f" as #{exc.existing_id}" if exc.existing_id > 0 else ""
            raise UserError(f"That group is already stored{where}.") from None
        await self._load_synonyms()
        log.info("synonym group %d added by %s", group.id, user_id)
        return group

    async def remove_synonyms(self, group_id: int) -> bool:
        """Delete an admin's group by its number; False if there is none."""
        removed = await self.db.synonyms.remove(group_id)
        if removed:
            await self._load_synonyms()
            log.info("synonym group %d removed", group_id)
        return removed

    # --- subscriptions ------------------------------------------------------------

    async def subscribe(
        self,
        *,
        guild_id: int | None,
        channel_id: int,
        topic: str,
        cadence: Cadence,
        user_id: int | None,
    ) -> tuple[Subscription, bool]:
        """Subscribe a channel to a topic (or resume/update an existing subscription).

        The first digest is due right away."""
        topic = clean_topic(topic)
        if cadence not in CADENCE_SECONDS:
            raise UserError("Cadence must be hourly, daily or weekly.")
        now = self.clock()
        return await self.db.subscriptions.subscribe(
            guild_id=guild_id,
            channel_id=channel_id,
            topic=topic,
            cadence=cadence,
            created_by=user_id,
            now=now,
            first_due_at=now,
        )

    async def unsubscribe(self, channel_id: int, topic: str) -> bool:
        try:
            topic_key(topic)
        except ValueError:
            raise UserError("Give the topic to unsubscribe from.") from None
        return await self.db.subscriptions.unsubscribe(channel_id, topic)

    async def resume(self, channel_id: int, topic: str) -> Subscription:
        """Restart a channel's paused digest; the next one is due at once and lists
        only articles this channel has not been sent."""
        try:
            topic_key(topic)
        except ValueError:
            raise UserError("Give the topic to resume.") from None
        now = self.clock()
        found = await self.db.subscriptions.resume(channel_id, topic, now=now, first_due_at=now)
        if found is None:
            raise UserError(f"This channel has no digest on “{' '.join(topic.split())}”.")
        sub, resumed = found
        if not resumed:
            raise UserError(f"The digest on “{sub.topic}” is not paused.")
        log.info("resumed subscription %d in channel %d", sub.id, sub.channel_id)
        return sub

    async def channel_subscriptions(self, channel_id: int) -> list[Subscription]:
        return await self.db.subscriptions.for_channel(channel_id)

    async def guild_subscriptions(self, guild_id: int) -> list[Subscription]:
        return await self.db.subscriptions.for_guild(guild_id)

    # --- digests ------------------------------------------------------------------

    def _matching(self, topic: str, exclude: set[str], limit: int) -> list[DigestItem]:
        """Articles that match every word of the topic (two thirds of them for long
        topics), best first, each with its best-matching passage as excerpt."""
        index = self.index
        terms = index.query_terms(topic)
        wanted = set(terms.terms)
        if not wanted or terms.unknown:
            return []
        needed = len(wanted) if len(wanted) <= 2 else math.ceil(len(wanted) * 2 / 3)
        items: list[DigestItem] = []
        seen: set[str] = set()
        for hit in index.search(terms, k=DIGEST_SEARCH_DEPTH):
            doc_id = hit.passage.doc_id
            if doc_id in seen or doc_id in exclude:
                continue
            seen.add(doc_id)
            if len(wanted & index.document_terms(doc_id)) < needed:
                continue
            items.append(DigestItem(doc_id, hit.passage.title, hit.passage.text))
            if len(items) >= limit:
                break
        return items

    async def preview_digest(self, topic: str, channel_id: int | None = None) -> Digest:
        """What a digest on topic would list now: the channel's next one if it has a
        digest on that topic (never an article already sent there), else a first one
        (the best matches, any age)."""
        topic = clean_topic(topic)
        if channel_id is not None:
            key = topic_key(topic)
            for sub in await self.db.subscriptions.for_channel(channel_id):
                if sub.topic_key == key:
                    return await self.build_digest(sub)
        items = await self.workers.run(self._matching, topic, set(), DIGEST_MAX_ITEMS)
        return Digest(topic, tuple(items))

    async def due_subscriptions(self, limit: int = 50) -> list[Subscription]:
        """Subscriptions due now (claimed or not), the longest overdue first."""
        return await self.db.subscriptions.due(self.clock(), limit)

    async def build_digest(self, sub: Subscription) -> Digest:
        """The next digest for a subscription: matching articles never sent to it.

        Until a digest has been delivered, it lists the best matches of any age (a
        first post that failed, say on a refused channel, is not a delivery); later
        ones only articles first seen after it subscribed."""
        delivered = await self.db.subscriptions.delivered_doc_ids(sub.id)
        items = await self.workers.run(self._matching, sub.topic, delivered, DIGEST_SEARCH_DEPTH)
        if delivered:
            fresh = []
            for item in items:
                record = await self.db.documents.get(item.doc_id)
                if record is not None and record.first_seen_at > sub.created_at:
                    fresh.append(item)
            items = fresh
        return Digest(sub.topic, tuple(items[:DIGEST_MAX_ITEMS]), subscribed=True)

    def next_due(self, sub: Subscription) -> float:
        return self.clock() + CADENCE_SECONDS[sub.cadence]

    async def claim_digest(self) -> Claim | None:
        """Lease the longest overdue subscription nobody else is delivering, or None."""
        claims = await self.db.subscriptions.claim_due(
            self.clock(), self.settings.digest_lease, limit=1
        )
        return claims[0] if claims else None

    async def deliver_due(
        self, post: PostDigest, *, limit: int = 50, stop: Callable[[], bool] = lambda: False
    ) -> int:
        """Deliver up to ``limit`` due digests, claiming one subscription at a time so
        that several processes share the work; returns how many digests were posted.
        A digest that fails for another reason than a refused channel is logged and
        retried next round."""
        posted = 0
        for _ in range(limit):
            if stop():
                break
            claim = await self.claim_digest()
            if claim is None:
                break
            try:
                if await self.deliver_digest(claim, post) is not None:
                    posted += 1
            except Exception:
                log.exception(
                    "digest for subscription %d failed; will retry next round",
                    claim.subscription.id,
                )
                await self.db.subscriptions.release(claim, now=self.clock(), next_due_at=None)
        return posted

    async def deliver_digest(self, claim: Claim, post: PostDigest) -> Digest | None:
        """One digest turn for a claimed subscription, delivered exactly once whatever
        crashes: freeze the articles with an idempotency key (or take the run a dead
        process froze), post with a nonce derived from that key (Discord returns the
        message already created for a repeated nonce), then record the delivery fenced
        on the claim. Nothing new posts nothing; ChannelRefused pauses."""
        sub = claim.subscription
        subs = self.db.subscriptions
        run = await subs.open_run(sub.id)
        if run is None:
            digest = await self.build_digest(sub)
            if not digest.items:
                await subs.release(claim, now=self.clock(), next_due_at=self.next_due(sub))
                return None
            run = await subs.freeze_run(claim, digest.items, self.clock())
            if run is None:
                log.info("lost the claim on subscription %d before posting", sub.id)
                return None
        digest = Digest(sub.topic, tuple(DigestItem(*item) for item in run.items))
        try:
            message_id = await post(sub, digest, digest_nonce(run.run_key))
        except ChannelRefused as exc:
            await self.pause(sub, str(exc))
            return None
        recorded = await subs.complete_run(
            claim, run, message_id, now=self.clock(), next_due_at=self.next_due(sub)
        )
        if not recorded:
            log.info(
                "subscription %d was taken over while posting; its new holder records run %s",
                sub.id,
                run.run_key,
            )
        return digest

    async def skip_digest(self, sub: Subscription) -> None:
        """Nothing new: schedule the next turn without posting (unclaimed callers)."""
        await self.db.subscriptions.advance(sub.id, self.next_due(sub), self.clock())

    async def record_digest(self, sub: Subscription, digest: Digest, message_id: int) -> None:
        """Record what was posted and schedule the next digest, in one transaction
        (unclaimed callers such as tests; the loop records through its claim)."""
        await self.db.subscriptions.record_delivery(
            sub.id,
            [item.doc_id for item in digest.items],
            message_id,
            self.clock(),
            self.next_due(sub),
        )

    async def pause(self, sub: Subscription, reason: str) -> None:
        """Pause a subscription; its owner is told once (see ``send_pause_notices``)."""
        log.warning("pausing subscription %d in channel %d: %s", sub.id, sub.channel_id, reason)
        await self.db.subscriptions.pause(sub.id, reason, self.clock())

    async def send_pause_notices(
        self, notify: Callable[[Subscription], Awaitable[str | None]]
    ) -> int:
        """Tell the owners of newly paused subscriptions, once each.

        ``notify`` posts the notice wherever the front end can and returns where it
        went, or raises NoticeUndeliverable saying why it could not. Returns how many
        notices went out."""
        sent = 0
        for sub in await self.db.subscriptions.pending_notices():
            try:
                where = await notify(sub)
            except NoticeUndeliverable as exc:
                log.warning("could not tell anyone subscription %d paused: %s", sub.id, exc)
                await self.db.subscriptions.record_notice(
                    sub.id, sent=False, detail=str(exc), now=self.clock()
                )
                continue
            await self.db.subscriptions.record_notice(
                sub.id, sent=True, detail=where or "", now=self.clock()
            )
            log.info("pause notice for subscription %d sent to %s", sub.id, where)
            sent += 1
        return sent

    # --- reindex ------------------------------------------------------------------

    @property
    def reindexing(self) -> bool:
        return self._reindex_lock.locked()

    async def reindex(self) -> ReindexOutcome:
        """Rebuild the index off the event loop and swap it in; the old index keeps
        answering until the swap and stays if the build fails (UserError says why).

        One reindex at a time across every process sharing the database (a lease; Busy
        says who holds it). A finished reindex bumps the index generation in the
        database and, on PostgreSQL, notifies the others, which follow it."""
        async with self._reindexing():
            return await self._reindex()

    async def adopt(self, index: Index) -> int:
        """Serve an index built outside this core (``corpusbot index``) and publish it
        as a reindex does: its articles recorded for digests, the generation bumped so
        that every running process follows. Returns the generation; Busy while a
        reindex runs anywhere (it publishes its own build when it ends)."""
        async with self._reindexing():
            self.index = index
            await self._sync_documents()
            return await self._publish_generation(index)

    @contextlib.asynccontextmanager
    async def _reindexing(self) -> AsyncIterator[None]:
        """Be the one reindex of this process and of every process sharing the database
        (a lease, renewed until the block ends); Busy says who else is."""
        if self._reindex_lock.locked():
            raise Busy("A reindex is already running; wait for it to finish.")
        async with self._reindex_lock, self._cluster_reindex():
            yield

    @contextlib.asynccontextmanager
    async def _cluster_reindex(self) -> AsyncIterator[None]:
        """Hold the reindex lease of every process sharing the database, renewed until
        the block ends (Busy says who holds it)."""
        owner = uuid.uuid4().hex
        state = self.db.state
        holder = await state.take_lease(
            REINDEX_LEASE, owner, now=time.time(), ttl=REINDEX_LEASE_SECONDS
        )
        if holder.owner != owner:
            raise Busy(
                f"A reindex is already running (process {holder.pid} on {holder.host}); "
                "wait for it to finish."
            )
        renew = asyncio.create_task(self._hold_reindex_lease(owner), name="reindex-lease")
        try:
            yield
        finally:
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renew
            try:
                await state.release_lease(REINDEX_LEASE, owner)
            except Exception:  # it expires on its own
                log.warning("could not release the reindex lease", exc_info=True)

    async def _hold_reindex_lease(self, owner: str) -> None:
        while True:
            await asyncio.sleep(REINDEX_LEASE_SECONDS / 3)
            try:
                await self.db.state.take_lease(
                    REINDEX_LEASE, owner, now=time.time(), ttl=REINDEX_LEASE_SECONDS
                )
            except Exception:
                log.warning("could not renew the reindex lease", exc_info=True)

    async def _reindex(self) -> ReindexOutcome:
        loop = asyncio.get_running_loop()
        progress = self.reindex_progress = ReindexProgress()

        def on_progress(stage: str, done: int, total: int) -> None:
            def update() -> None:
                progress.stage, progress.done, progress.total = stage, done, total

            loop.call_soon_threadsafe(update)

        started = time.perf_counter()
        try:
            index, report = await asyncio.to_thread(
                open_index,
                self.settings.corpus,
                self.settings.index_path,
                progress=on_progress,
            )
        except (CorpusError, IndexUnavailable, OSError) as exc:
            log.warning("reindex failed, still serving the previous index: %s", exc)
            raise UserError(f"Reindex failed, still serving the previous index: {exc}") from None
        finally:
            self.reindex_progress = None
        self.index = index  # the swap: one reference assignment
        synced = await self._sync_documents()
        seconds = time.perf_counter() - started
        generation = await self._publish_generation(index)
        log.info(
            "reindexed in %.2fs: %d added, %d changed, %d removed; index generation %d",
            seconds,
            len(synced.added),
            len(synced.changed),
            len(synced.removed),
            generation,
        )
        return ReindexOutcome(report, synced, seconds)

    # --- following other processes' reindexes -------------------------------------

    async def _stored_generation(self) -> int:
        value = await self.db.state.get(INDEX_GENERATION)
        return int(value) if value and value.isdigit() else 0

    async def _publish_generation(self, index: Index) -> int:
        """Bump the index generation (after the build is on disk and swapped in here)
        and tell the other processes."""
        state = self.db.state
        await state.put(INDEX_CONTENT, content_digest(index), time.time())
        generation = await state.increment(INDEX_GENERATION, time.time())
        self.index_generation = max(self.index_generation, generation)
        notify = getattr(self.db, "notify", None)
        if notify is not None:
            try:
                await notify(INDEX_CHANNEL, str(generation))
            except Exception:  # the others' periodic check finds it
                log.warning("could not notify the other processes", exc_info=True)
        return generation

    async def follow_reindexes(self, interval: float | None = None) -> None:
        """Follow reindexes done by other processes: at once on a PostgreSQL notice,
        and every ``interval`` seconds (CORPUSBOT_INDEX_CHECK) for notices missed, the
        only way on SQLite. Runs until ``close``."""
        every = self.settings.index_check if interval is None else interval
        listen = getattr(self.db, "listen", None)
        if listen is not None:

            def on_notice(payload: str) -> None:
                log.debug("index notice: generation %s", payload)
                self._follow_wake.set()

            try:
                await listen(INDEX_CHANNEL, on_notice)
            except Exception:
                log.warning("cannot listen for reindex notices; checking every %.0f s", every)
        self._following = asyncio.create_task(self._follow(every), name="follow-reindexes")

    async def _follow(self, every: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._follow_wake.wait(), every)
            self._follow_wake.clear()
            try:
                await self.catch_up()
            except Exception:
                log.exception("following another process's reindex failed; will retry")

    async def catch_up(self) -> int | None:
        """Swap to the newest index generation if another process published one:
        open the index (this host's build, verified, or rebuilt from this host's
        corpus), check it holds what the reindexing process's did, and swap it in.
        Questions in flight finish on the index they started with. Returns the
        generation swapped to, or None."""
        generation = await self._stored_generation()
        if generation <= self.index_generation or self._reindex_lock.locked():
            return None
        async with self._reindex_lock:
            generation = await self._stored_generation()
            if generation <= self.index_generation:
                return None
            started = time.perf_counter()
            try:
                index, report = await asyncio.to_thread(
                    open_index, self.settings.corpus, self.settings.index_path
                )
            except (CorpusError, IndexUnavailable, OSError) as exc:
                log.warning(
                    "cannot follow index generation %d, still serving the previous index: %s",
                    generation,
                    exc,
                )
                return None
            expected = await self.db.state.get(INDEX_CONTENT)
            if expected is not None and expected != content_digest(index):
                log.warning(
                    "index generation %d: this host's corpus (%s) differs from the one the "
                    "reindexing process read; serving this host's articles",
                    generation,
                    self.settings.corpus,
                )
            self.index = index
            self.index_generation = generation
            log.info(
                "swapped to index generation %d (%s, %.2fs): %d documents",
                generation,
                "rebuilt" if report.rebuilt else "verified and loaded",
                time.perf_counter() - started,
                report.documents,
            )
            return generation
