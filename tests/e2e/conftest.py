"""Fixtures for end-to-end tests against the local Discord stand-in."""

# Wait helpers take a default timeout so that no test can hang on a missing event.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import discord
import pytest
import pytest_asyncio

from tests.e2e.fakediscord import (
    FakeDiscord,
    FakeGuild,
    FakeMember,
    FakeRole,
    InteractionRecord,
    make_token,
    make_user,
)


@pytest.fixture
def fake_guild() -> FakeGuild:
    """A guild with #general and #news, one human member (the owner) and the bot."""
    return FakeGuild(name="Corpus Test Guild", channels=["general", "news"])


@pytest.fixture
async def fake_discord(fake_guild: FakeGuild) -> AsyncIterator[FakeDiscord]:
    """A running stand-in on 127.0.0.1 holding ``fake_guild``."""
    async with FakeDiscord(guilds=[fake_guild]) as fd:
        yield fd


@pytest.fixture
def bot_token(fake_discord: FakeDiscord) -> str:
    return make_token(fake_discord.bot_user_id)


@pytest.fixture
def bot_env(fake_discord: FakeDiscord, bot_token: str) -> dict[str, str]:
    """Environment variables that point a bot process at the stand-in."""
    return {"DISCORD_TOKEN": bot_token, "DISCORD_API_BASE": fake_discord.api_base}


# --------------------------------------------------------------------------- bot process

MANAGE_CHANNELS = discord.Permissions(manage_channels=True).value
MANAGE_GUILD = discord.Permissions(manage_guild=True).value
SEEDS = Path(__file__).resolve().parents[2] / "seeds"
READY_TIMEOUT = 30.0


def make_bot_guild(channels: list[str] | None = None, name: str = "Corpus Test Guild") -> FakeGuild:
    """#general (the system channel) and #news with four humans: the owner, a bot admin
    (in CORPUSBOT_ADMIN_IDS, not the owner), a moderator with Manage Channels and a
    plain member with @everyone's permissions only."""
    admins = FakeRole("Admins", MANAGE_GUILD)
    mods = FakeRole("Moderators", MANAGE_CHANNELS)
    members = [
        FakeMember(make_user("owner")),
        FakeMember(make_user("admin"), roles=[admins.id]),
        FakeMember(make_user("moderator"), roles=[mods.id]),
        FakeMember(make_user("member")),
    ]
    return FakeGuild(
        name=name,
        channels=["general", "news", *(channels or [])],
        roles=[admins, mods],
        members=members,
        system_channel="general",
    )


class BotProcess:
    """The real ``corpusbot run`` process against a stand-in, on a temporary database
    and a temporary copy of the seed corpus (so tests can add articles).

    ``start()`` may be called again after ``stop()`` or ``kill()``: the new process
    uses the same database, corpus and stand-in. Every run's standard error goes to
    its own file, printed by the fixtures when a test fails.
    """

    def __init__(
        self, fd: FakeDiscord, workdir: Path, *, guild: FakeGuild | None = None, **env: str
    ) -> None:
        self.fd = fd
        self.guild = guild or fd.guilds[0]
        self.workdir = workdir
        self.corpus = workdir / "corpus"
        self.db = workdir / "corpusbot.db"
        if not self.corpus.exists():
            shutil.copytree(SEEDS, self.corpus)
        self.owner, self.admin, self.moderator, self.member = (
            m.user for m in self.guild.members[:4]
        )
        self.env = {
            "DISCORD_TOKEN": make_token(fd.bot_user_id),
            "DISCORD_API_BASE": fd.api_base,
            "CORPUSBOT_DB": str(self.db),
            "CORPUSBOT_CORPUS": str(self.corpus),
            "CORPUSBOT_DEV_GUILD": str(self.guild.id),
            "CORPUSBOT_DIGEST_INTERVAL": "0.5",
            "CORPUSBOT_ASK_COOLDOWN": "0",
            # identify pacing stays on, shorter than Discord's 5 s: tests restart often
            "CORPUSBOT_IDENTIFY_INTERVAL": "0.5",
            "CORPUSBOT_ADMIN_IDS": self.admin["id"],
            "CORPUSBOT_LOG_LEVEL": "INFO",
            **env,
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.name = "bot"  # names its log files; give processes sharing a workdir their own
        self.runs = 0
        self.stderr_paths: list[Path] = []

    @property
    def stderr_path(self) -> Path:
        return self.stderr_paths[-1]

    def log(self) -> str:
        """Standard error of the current (last) run."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def all_logs(self) -> str:
        return "\n".join(
            f"----- run {n} ({p.name}) -----\n{p.read_text(encoding='utf-8', errors='replace')}"
            for n, p in enumerate(self.stderr_paths, 1)
        )

    def channel(self, name: str) -> int:
        return self.guild.channel(name).id

    async def launch(self) -> None:
        """Start the process without waiting for anything."""
        assert self.proc is None or self.proc.returncode is not None, "already running"
        self.runs += 1
        path = self.workdir / f"{self.name}-{self.runs}.stderr"
        self.stderr_paths.append(path)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        env.pop("CORPUSBOT_LOG_FILE", None)
        with path.open("wb") as stderr:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=self.workdir, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
            )  # fmt: skip

    async def start(self, timeout: float = READY_TIMEOUT, *, synced: bool = True) -> None:
        """Launch the process and wait until it has synced its commands (unless
        ``synced`` is False: another process syncs them), identified, and answers
        interactions in its guild (a /help round trip)."""
        assert self.proc is None or self.proc.returncode is not None, "already running"
        self.runs += 1
        path = self.workdir / f"{self.name}-{self.runs}.stderr"
        self.stderr_paths.append(path)
        cursor = self.fd.cursor()
        identified = self.fd.identify_count
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        env.pop("CORPUSBOT_LOG_FILE", None)
        with path.open("wb") as stderr:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=self.workdir,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
            )
        if synced:
            await self.fd.wait_for_request(
                "PUT", r"/applications/\d+/guilds/\d+/commands", timeout=timeout, after=cursor
            )
        await self.fd.wait_until_identified(identified + 1, timeout=timeout)
        probe = await self.fd.send_slash_command("help", user=self.member, guild_id=self.guild.id)
        await self.fd.wait_for_interaction_response(probe, timeout=timeout)

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        proc = self.proc
        assert proc is not None
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise AssertionError(
                    f"the bot did not stop within {timeout} s of SIGTERM"
                ) from None
        assert proc.returncode is not None
        return proc.returncode

    async def stop_cleanly(self) -> None:
        """SIGTERM, then assert a clean exit: code 0 and no traceback in the log."""
        code = await self.stop()
        assert code == 0, f"exit code {code}"
        assert "Traceback" not in self.log(), "traceback in the bot's log"

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        proc = self.proc
        assert proc is not None
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    async def restart(self) -> None:
        await self.stop_cleanly()
        await self.start()

    async def ask(
        self,
        question: str,
        *,
        user: dict[str, Any] | None = None,
        private: bool = False,
        timeout: float = 10.0,
    ) -> InteractionRecord:
        """Send /ask and wait for the deferred reply's followup."""
        options: dict[str, Any] = {"question": question}
        if private:
            options["private"] = True
        record = await self.fd.send_slash_command("ask", options, user=user or self.member)
        await self.fd.wait_for_followups(record, timeout=timeout)
        return record

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read the bot's database (WAL makes this safe while it runs)."""
        with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as conn:
            return conn.execute(query, params).fetchall()

    def execute(self, query: str, params: tuple[Any, ...] = ()) -> None:
        with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as conn, conn:
            conn.execute(query, params)


@contextlib.asynccontextmanager
async def running_bot(
    workdir: Path, failed: Callable[[], bool] = lambda: False, **env: str
) -> AsyncIterator[BotProcess]:
    """A stand-in holding ``make_bot_guild()`` and a started bot process. On exit a
    still-running bot must stop cleanly (code 0, no traceback); its logs are printed
    when something failed."""
    async with FakeDiscord(guilds=[make_bot_guild()]) as fd:
        bot = BotProcess(fd, workdir, **env)
        ok = False
        try:
            await bot.start()
            yield bot
            if bot.proc is not None and bot.proc.returncode is None:
                await bot.stop_cleanly()
            ok = True
        finally:
            if bot.proc is not None:
                await bot.kill()
            if not ok or failed():
                print(bot.all_logs() if bot.stderr_paths else "(the bot never started)")


def _failure_watch(request: pytest.FixtureRequest) -> Callable[[], bool]:
    before = request.session.testsfailed
    return lambda: request.session.testsfailed > before


@pytest.fixture
async def bot(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[BotProcess]:
    """A bot process of its own: fresh stand-in, database and corpus copy."""
    async with running_bot(tmp_path, _failure_watch(request)) as process:
        yield process


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_bot(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[BotProcess]:
    """One bot process for a whole module, for tests that only read shared state
    (tests using it need ``pytest.mark.asyncio(loop_scope="module")``)."""
    workdir = tmp_path_factory.mktemp("shared-bot")
    async with running_bot(workdir, _failure_watch(request)) as process:
        yield process
