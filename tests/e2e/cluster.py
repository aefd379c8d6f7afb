"""Helpers for end-to-end tests with several bot processes (shards) on one stand-in."""

# ruff: noqa: ASYNC109

from __future__ import annotations

import datetime as dt
import math
import re
import time
from typing import Any

from tests.e2e.conftest import BotProcess, make_bot_guild
from tests.e2e.fakediscord import FakeDiscord, FakeGuild

_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def guilds_one_per_shard(shards: int, channels: list[str] | None = None) -> list[FakeGuild]:
    """One guild on each shard (Discord routes a guild by (id >> 22) % shard count)."""
    found: dict[int, FakeGuild] = {}
    while len(found) < shards:
        guild = make_bot_guild(channels, name=f"Guild {len(found)}")
        found.setdefault((guild.id >> 22) % shards, guild)
        time.sleep(0.002)  # the next snowflake falls in another millisecond
    return [found[s] for s in range(shards)]


class Shard:
    """One shard's process slot: the process may be killed and relaunched."""

    def __init__(self, shard_id: int, bot: BotProcess) -> None:
        self.id = shard_id
        self.bot = bot
        self.session_before: str | None = None

    async def launch(self) -> None:
        self.session_before = self.bot.fd.shard_session(self.id)
        await self.bot.launch()

    @property
    def alive(self) -> bool:
        proc = self.bot.proc
        return proc is not None and proc.returncode is None

    @property
    def up(self) -> bool:
        """Alive, and identified on the gateway since its last launch."""
        fd = self.bot.fd
        return (
            self.alive
            and fd.shard_session(self.id) not in (None, self.session_before)
            and fd.gateway_connected(self.id)
        )


def message_text(message: dict[str, Any]) -> str:
    embeds = message.get("embeds") or []
    parts = [message.get("content") or ""]
    for embed in embeds:
        parts += [embed.get("title") or "", embed.get("description") or ""]
    return " ".join(parts)


async def ask_in(
    fd: FakeDiscord, guild: FakeGuild, user: dict[str, Any], question: str, timeout: float = 30
) -> str:
    """/ask in a guild; returns the reply's text (an answer card, or a refusal)."""
    options = {"question": question}
    record = await fd.send_slash_command("ask", options, user=user, guild_id=guild.id)
    await fd.wait_for_interaction_response(record, timeout=timeout)
    if record.response_type == 5:  # deferred: the answer comes as a followup
        await fd.wait_for_followups(record, timeout=timeout)
        return message_text(record.followups[0])
    return message_text(record.response_data)


def log_times(log: str, pattern: str) -> list[tuple[float, re.Match[str]]]:
    """(wall time, match) of each log line whose message matches ``pattern``; the
    log's asctime is local time with milliseconds."""
    found = []
    regex = re.compile(pattern)
    for line in log.splitlines():
        stamp = _LOG_TIME.match(line)
        match = regex.search(line)
        if stamp and match:
            when = dt.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            found.append((when, match))
    return found


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
