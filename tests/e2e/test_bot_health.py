"""Acceptance tests: `corpusbot health` beside a real `corpusbot run` process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import BotProcess

pytestmark = pytest.mark.e2e

EXECUTABLE = Path(sys.executable).parent / "corpusbot"
COMMAND = [str(EXECUTABLE)] if EXECUTABLE.exists() else [sys.executable, "-m", "bot"]


async def health(bot: BotProcess) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *COMMAND,
        "health",
        cwd=bot.workdir,
        env={**os.environ, **bot.env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def healthy_within(bot: BotProcess, seconds: float) -> str:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        code, out = await health(bot)
        if code == 0 or asyncio.get_running_loop().time() > deadline:
            assert code == 0, out
            return out
        await asyncio.sleep(0.5)


async def test_health_follows_the_running_bot(bot: BotProcess) -> None:
    out = await healthy_within(bot, 15)
    assert "ok  gateway: 1 shard connected" in out
    assert f"by process {bot.proc.pid}" in out  # type: ignore[union-attr]
    assert "ok  database:" in out

    await bot.stop_cleanly()
    code, out = await health(bot)
    assert code == 1
    assert "FAIL heartbeat: the bot stopped" in out

    await bot.start()
    await healthy_within(bot, 15)
    pid = bot.proc.pid  # type: ignore[union-attr]
    await bot.kill()  # no shutdown code runs: the file still says "running"
    code, out = await health(bot)
    assert code == 1
    assert f"FAIL heartbeat: process {pid} is not running" in out
