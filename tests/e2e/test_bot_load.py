"""Acceptance test under load: 500 members ask at once, the real bot answers all.

Runs in CI like every e2e test; it takes a few seconds (a minute at most)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.conftest import BotProcess
from tests.e2e.fakediscord import DEFERRED_CHANNEL_MESSAGE, make_user

pytestmark = pytest.mark.e2e

CONCURRENT = 500
QUESTIONS = [
    "Who is Dai Shan?",
    "What is the weather in Paris tomorrow?",
    "What did Alibaba Cloud announce?",
    "Who runs Taobao?",
    "What does Alibaba Group Asset Management do?",
]


async def test_500_concurrent_asks_are_all_answered_and_logged(bot: BotProcess) -> None:
    users = [make_user(f"asker{n}") for n in range(CONCURRENT)]
    started = time.monotonic()
    async with asyncio.timeout(60):
        records = await asyncio.gather(
            *(
                bot.fd.send_slash_command(
                    "ask", {"question": f"{QUESTIONS[n % len(QUESTIONS)]} #{n}"}, user=user
                )
                for n, user in enumerate(users)
            )
        )
        await bot.fd.wait_until(lambda: all(r.followups for r in records), timeout=55, poll=0.1)
    elapsed = time.monotonic() - started

    assert all(r.response_type == DEFERRED_CHANNEL_MESSAGE for r in records)
    assert all(len(r.callbacks) == 1 and len(r.followups) == 1 for r in records)
    assert all(r.followups[0]["embeds"][0]["description"] for r in records)
    # Every callback was in time: Discord drops answers after 3 s.
    assert bot.fd.count_requests("POST", r"/interactions/\d+/[^/]+/callback", status=404) == 0
    rows = bot.sql(
        "SELECT count(*), count(DISTINCT user_id) FROM queries WHERE question LIKE '%#%'"
    )
    assert rows == [(CONCURRENT, CONCURRENT)]
    print(f"{CONCURRENT} asks answered in {elapsed:.1f} s")
