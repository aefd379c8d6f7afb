"""The Discord bot: a discord.py AutoShardedBot that loads the extensions in bot/exts.

``run_bot`` owns the shared resources (settings, the core with its database and index)
and passes them in; nothing is created at import. It points discord.py at
``DISCORD_API_BASE`` and at the gateway that base announces, and shuts down gracefully
on SIGTERM/SIGINT: no new work is taken, in-flight replies finish, the database closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import signal
import time

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot.admins import is_bot_admin
from bot.config import Settings
from bot.core import Core, UserError
from bot.exts.errors import reply_error
from bot.health import Heartbeat, heartbeat_path
from bot.inflight import ShuttingDown, TrackedItem, admit_work
from bot.pacing import wait_identify_turn
from bot.storage import ShardTaken
from bot.storage.postgres import PostgresDatabase, ShardLockHeld

__all__ = ["EXTENSIONS", "CorpusBot", "LoopMonitor", "ShuttingDown", "TrackedItem", "run_bot"]

log = logging.getLogger(__name__)

EXTENSIONS = (
    "bot.exts.errors",
    "bot.exts.ask",
    "bot.exts.digests",
    "bot.exts.admin",
    "bot.exts.synonyms",
)
DRAIN_SECONDS = 20.0
COMMANDS_KEY = "commands.fingerprint"
SHARD_LEASE_SECONDS = 30.0


class LoopMonitor:
    """Measures event loop stalls: how much later than asked a short timer fires.

    Logs the worst stall of each period at INFO and the worst overall when stopped."""

    TICK = 0.1
    REPORT_EVERY = 5.0

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loop-monitor")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period_worst = 0.0
        period_start = loop.time()
        while True:
            before = loop.time()
            await asyncio.sleep(self.TICK)
            now = loop.time()
            stall = max(0.0, now - before - self.TICK)
            period_worst = max(period_worst, stall)
            self.worst = max(self.worst, stall)
            if now - period_start >= self.REPORT_EVERY:
                log.info(
                    "event loop: worst stall %.1f ms in the last %.0f s",
                    period_worst * 1000,
                    now - period_start,
                )
                period_worst, period_start = 0.0, now

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        log.info("event loop: worst stall %.1f ms since start", self.worst * 1000)


class CorpusTree(app_commands.CommandTree):
    """The command tree. Its ``interaction_check`` runs before every command and
    autocomplete: during shutdown it turns them away, otherwise it marks the task in
    flight so shutdown waits for it. Its own error handler covers the moments no error
    cog is loaded, such as interactions that arrive while shutdown unloads the
    extensions."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        client = self.client
        if not isinstance(client, CorpusBot):
            return True
        if admit_work(client):
            return True
        if interaction.type is discord.InteractionType.autocomplete:
            return False  # nothing to show in a list of choices
        raise app_commands.CheckFailure(str(ShuttingDown()))

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        client = self.client
        if isinstance(client, CorpusBot) and client.closing:
            log.info("interaction refused during shutdown: %s", error)
            await reply_error(interaction, str(ShuttingDown()))
            return
        await super().on_error(interaction, error)


class CorpusBot(commands.AutoShardedBot):
    """The bot: extensions, persistent feedback buttons, deliberate command sync."""

    def __init__(
        self, settings: Settings, core: Core, *, heartbeat: Heartbeat | None = None
    ) -> None:
        # a text bot: no warning at start that voice (PyNaCl, davey) is not installed
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True  # channels and permissions; nothing privileged
        shard_options: dict[str, object] = {}
        if settings.shards is not None:
            shard_options = {"shard_count": settings.shard_count, "shard_ids": settings.shards}
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            **shard_options,  # type: ignore[arg-type]
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            max_messages=None,
            tree_cls=CorpusTree,
        )
        self.settings = settings
        self.core = core
        self.closing = False
        self._inflight: set[asyncio.Task] = set()
        self.max_concurrency = 1  # Discord's identify buckets, from GET /gateway/bot
        self.loop_monitor = LoopMonitor() if settings.loop_monitor else None
        self.heartbeat = heartbeat
        if heartbeat is not None:
            heartbeat.shards = self.shard_states

    def shard_states(self) -> dict[int, tuple[bool, float]]:
        """{shard id: (connected, gateway heartbeat latency in seconds)} for the health
        check; the latency is infinite until a heartbeat has been acknowledged."""
        return {sid: (not info.is_closed(), info.latency) for sid, info in self.shards.items()}

    async def on_ready(self) -> None:
        if self.heartbeat is not None and self.heartbeat.state == "starting":
            self.heartbeat.state = "running"
            await self.heartbeat.write()

    async def setup_hook(self) -> None:
        if self.loop_monitor is not None:
            self.loop_monitor.start()
        # discord.py reconnects some paths (re-identify after op 9) to its built-in
        # gateway address; use the one our REST base announces instead.
        _, url, limits = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        self.max_concurrency = max(1, int(limits.get("max_concurrency") or 1))
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()

    @property
    def syncs_commands(self) -> bool:
        """One process syncs the command tree: the only one, or the one running shard 0."""
        shards = self.settings.shards
        return shards is None or 0 in shards

    async def sync_commands(self) -> None:
        """Sync to the dev guild when one is set; otherwise globally, but only when the
        command set changed since the last global sync (a fingerprint in the database,
        shared by every process). Only the process running shard 0 syncs."""
        if not self.syncs_commands:
            log.info("commands are synced by the process running shard 0")
            return
        guild_id = self.settings.dev_guild_id
        if guild_id:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to dev guild %d", len(synced), guild_id)
            return
        payload = [c.to_dict(self.tree) for c in self.tree.get_commands()]
        fingerprint = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        state = self.core.db.state
        if await state.get(COMMANDS_KEY) != fingerprint:
            synced = await self.tree.sync()
            await state.put(COMMANDS_KEY, fingerprint, self.core.clock())
            log.info("synced %d commands globally (command set changed)", len(synced))

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Identify pacing across every process: one shard per max_concurrency bucket
        every CORPUSBOT_IDENTIFY_INTERVAL seconds, a lease in the shared database.
        Without the database it paces this process alone, as discord.py does."""
        try:
            await wait_identify_turn(
                self.core.db.state,
                shard_id or 0,
                self.max_concurrency,
                self.settings.identify_interval,
            )
        except Exception:
            log.warning("identify pacing: the database failed; waiting locally", exc_info=True)
            if not initial:
                await asyncio.sleep(self.settings.identify_interval)

    def track(self, task: asyncio.Task | None) -> None:
        """Mark a unit of user-facing work in flight, so shutdown waits for it."""
        if task is None:
            return
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def is_admin(self, user: discord.abc.User) -> bool:
        """The application's owner or team members, plus CORPUSBOT_ADMIN_IDS."""
        return await is_bot_admin(self, user)

    async def shutdown(self) -> None:
        """Stop taking work, let in-flight replies finish, then disconnect."""
        if self.closing:
            return
        self.closing = True
        log.info("shutting down: waiting for %d in-flight replies", len(self._inflight))
        for cog in self.cogs.values():
            stop = getattr(cog, "stop_background", None)
            if stop is not None:
                await stop()
        pending = [t for t in self._inflight if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_SECONDS)
        await self.close()

    async def close(self) -> None:
        if self.loop_monitor is not None:
            await self.loop_monitor.stop()
        await super().close()


async def _amain(settings: Settings) -> int:
    token = settings.token
    if token is None:
        log.error("DISCORD_TOKEN is not set")
        return 2
    shard_lease: asyncio.Task | None = None
    heartbeat = Heartbeat(heartbeat_path(settings))
    heartbeat.start()  # "starting" while the index loads
    try:
        core = await Core.start(settings)
    except UserError as exc:
        log.error("cannot start: %s", exc)
        await heartbeat.stop()
        return 2
    try:
        shard_lease = await _hold_shards(settings, core)
    except (ShardTaken, ShardLockHeld) as exc:
        log.error(
            "cannot start: %s. Each shard runs in one process; check CORPUSBOT_SHARD_IDS "
            "(this process: %s of %s)",
            exc,
            ",".join(map(str, settings.shards or [])),
            settings.shard_count,
        )
        await heartbeat.stop()
        await core.close()
        return 2
    await core.follow_reindexes()
    bot = CorpusBot(settings, core, heartbeat=heartbeat)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda s=sig: _on_signal(bot, s))
    try:
        async with bot:
            await bot.start(token)
    except discord.LoginFailure:
        log.error("Discord rejected the token (401): check DISCORD_TOKEN")
        return 2
    except (OSError, aiohttp.ClientError, discord.DiscordException) as exc:
        if not bot.closing:
            log.error(
                "cannot reach Discord at %s: %s; check DISCORD_API_BASE and the network",
                settings.discord_api_base,
                exc,
            )
            return 1
        log.info("connection closed during shutdown: %s", exc)
    finally:
        if shard_lease is not None:
            shard_lease.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await shard_lease
        await _release_shards(settings, core)
        await heartbeat.stop()
        await core.close()
        log.info("stopped; database closed")
    return 0


async def _hold_shards(settings: Settings, core: Core) -> asyncio.Task | None:
    """Take this process's shards in the database, or raise if another live process
    serves one. PostgreSQL: session advisory locks, dropped with the process's
    connection. SQLite (one host): leases renewed by the returned task."""
    shards = settings.shards
    if shards is None:
        return None
    db = core.db
    if isinstance(db, PostgresDatabase):
        await db.hold_shards(shards)
        log.info("holding shards %s of %d", shards, settings.shard_count)
        return None
    owner = await db.state.claim_shards(
        shards, settings.shard_count or 1, now=time.time(), ttl=SHARD_LEASE_SECONDS
    )
    core.shard_owner = owner
    log.info("holding shards %s of %d", shards, settings.shard_count)

    async def renew() -> None:
        while True:
            await asyncio.sleep(SHARD_LEASE_SECONDS / 3)
            try:
                await db.state.renew_shards(owner, now=time.time(), ttl=SHARD_LEASE_SECONDS)
            except Exception:
                log.warning("could not renew the shard leases", exc_info=True)

    return asyncio.create_task(renew(), name="shard-leases")


async def _release_shards(settings: Settings, core: Core) -> None:
    if settings.shards is None or core.db.closed:
        return
    try:
        if isinstance(core.db, PostgresDatabase):
            await core.db.release_shards()
        elif core.shard_owner is not None:
            await core.db.state.release_shards(core.shard_owner)
    except Exception:
        log.warning("could not release the shard locks", exc_info=True)


_background: set[asyncio.Task] = set()


def _on_signal(bot: CorpusBot, sig: signal.Signals) -> None:
    log.info("received %s", sig.name)
    task = asyncio.ensure_future(bot.shutdown())
    _background.add(task)
    task.add_done_callback(_background.discard)


def run_bot(settings: Settings) -> int:
    """Run the bot until it is stopped; returns the exit code."""
    discord.http.Route.BASE = settings.discord_api_base
    return asyncio.run(_amain(settings))
