"""SIGTERM while /ask interactions are in flight: they finish, nothing is lost."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.conftest import BotProcess
from tests.e2e.fakediscord import make_user

pytestmark = pytest.mark.e2e


async def test_sigterm_drains_in_flight_answers_and_closes_the_database(bot: BotProcess) -> None:
    users = [make_user(f"asker{n}") for n in range(60)]
    cursor = bot.fd.cursor()
    sends = [
        bot.fd.send_slash_command("ask", {"question": "Who is Dai Shan?"}, user=user)
        for user in users
    ]
    sending = asyncio.gather(*sends)
    # SIGTERM as soon as the first answer is deferred: others are mid-way then.
    await bot.fd.wait_for_request(
        "POST", r"/interactions/\d+/[^/]+/callback", timeout=10, after=cursor
    )
    followups_before = len(bot.fd.find_requests("POST", r"/webhooks/\d+/[^/]+$"))
    code = await bot.stop()
    records = await sending

    assert code == 0
    log = bot.log()
    assert "Traceback" not in log
    assert "received SIGTERM" in log
    # The last line a clean shutdown logs is there: nothing logged was lost.
    assert log.rstrip().splitlines()[-1].endswith("stopped; database closed")

    deferred = [r for r in records if r.callbacks]
    assert deferred, "no interaction reached the bot before SIGTERM"
    for record in deferred:
        # Every interaction the bot accepted was answered exactly once: an answer
        # (deferred, then a followup) or a "restarting" notice.
        assert len(record.callbacks) == 1
        if record.response_type == 5:
            assert record.followups, "a deferred answer was cut off by shutdown"
        else:  # refused once shutdown began, saying why
            assert "restarting" in str(record.response_data)
    answered = sum(1 for r in deferred if r.response_type == 5)
    assert answered >= 1 and answered >= followups_before
    [(logged,)] = bot.sql("SELECT COUNT(*) FROM queries")
    assert logged == answered
    [(integrity,)] = bot.sql("PRAGMA integrity_check")
    assert integrity == "ok"
