"""The offline console: slash-command lines in, the bot's replies as text out."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import bot.console
import bot.core
from bot.config import Settings
from bot.console import Console
from bot.core import Core
from tests.conftest import describes_dai_shan

EXECUTABLE = Path(sys.executable).parent / "corpusbot"
COMMAND = [str(EXECUTABLE)] if EXECUTABLE.exists() else [sys.executable, "-m", "bot"]


class Clock:
    """Starts at the real time, so relative times in the console read naturally."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Session:
    """A console on a real core, with everything it printed so far."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.out = io.StringIO()
        self.console = Console(core, self.out)

    async def send(self, line: str) -> str:
        """Handle one line and return only what it printed."""
        start = self.out.tell()
        assert await self.console.handle(line) is True
        return self.out.getvalue()[start:]


@pytest.fixture
async def session(tmp_path: Path, seed_copy: Path) -> AsyncIterator[Session]:
    settings = Settings(
        corpus=seed_copy,
        db=tmp_path / "data" / "corpusbot.db",
        index_dir=tmp_path / "index",
    )
    core = await Core.start(settings, clock=Clock())
    try:
        yield Session(core)
    finally:
        await core.close()


async def test_ask_prints_the_answer_with_sources_and_how_to_rate(session: Session) -> None:
    out = await session.send("/ask Who is Dai Shan?")

    assert out.startswith("Who is Dai Shan?\n")
    assert describes_dai_shan(out)
    assert "  [1] " in out
    assert "(Query #1 · Was this helpful?)" in out
    assert "[rate it: /vote 1 up | /vote 1 down REASON]" in out
    assert "**" not in out  # console text carries no markdown
    assert session.console.last_query_id == 1
    record = await session.core.db.queries.get(1)
    assert record is not None and record.source == "console"


async def test_an_empty_ask_prints_the_error(session: Session) -> None:
    out = await session.send("/ask")

    assert out.startswith("Sorry\n")
    assert "Ask a question about the articles" in out
    assert await session.core.db.queries.count() == 0


async def test_a_bare_line_is_a_question(session: Session) -> None:
    out = await session.send("Who is Dai Shan?")

    assert "[rate it: /vote 1 up" in out
    record = await session.core.db.queries.get(1)
    assert record is not None and record.question == "Who is Dai Shan?"


async def test_the_console_asks_without_a_cooldown(session: Session) -> None:
    for _ in range(3):
        out = await session.send("/ask Who is Dai Shan?")
        assert "too fast" not in out

    assert await session.core.db.queries.count() == 3


async def test_a_question_not_in_the_articles(session: Session) -> None:
    out = await session.send("/ask What is the capital of France?")

    assert "Not in these articles." in out
    assert "The closest articles:" in out


async def test_subscribe_posts_the_first_digest_once(session: Session) -> None:
    out = await session.send("/subscribe Alibaba Cloud daily")

    subscribed, _, posted = out.partition("[posted in #console: daily digest]")
    assert subscribed == "Subscribed: this channel gets the daily digest on “Alibaba Cloud”.\n"
    assert "New on “Alibaba Cloud”" in posted
    assert "Employee No. 004 saves Ali" in posted
    assert "each is sent to this channel once" in posted

    again = await session.send("/subscribe alibaba cloud daily")
    assert again == "Updated: this channel gets the daily digest on “Alibaba Cloud”.\n"
    listing = await session.send("/subscriptions")
    assert "“Alibaba Cloud” (daily)" in listing
    assert "active · next digest in 24 h" in listing
    assert "#console · active" in listing and "#0" not in listing


async def test_subscribe_needs_a_cadence(session: Session) -> None:
    out = await session.send("/subscribe Alibaba Cloud")

    assert "Usage: /subscribe TOPIC hourly|daily|weekly" in out
    assert await session.core.channel_subscriptions(0) == []


async def test_unsubscribe(session: Session) -> None:
    await session.send("/subscribe Taobao weekly")

    assert await session.send("/unsubscribe taobao") == "Unsubscribed.\n"
    assert await session.send("/unsubscribe taobao") == "This channel has no digest on “taobao”.\n"


async def test_digest_previews_matching_articles(session: Session) -> None:
    out = await session.send("/digest Taobao")

    assert out.startswith("Preview: New on “Taobao”\n")
    assert "Ali Daishan: It is difficult to take over Taobao" in out
    assert "posted in #console" not in out  # a preview is not a delivery


async def test_a_subscribed_channels_preview_leaves_out_what_it_was_sent(
    session: Session,
) -> None:
    subscribed = await session.send("/subscribe taobao daily")
    assert "posted in #console" in subscribed  # the first digest goes out at once

    out = await session.send("/digest taobao")

    assert out.startswith("Preview: New on “taobao”\n")
    assert "Nothing new for this channel: its digests list only articles not sent" in out
    assert "Ali Daishan" not in out


def _without_progress(out: str) -> str:
    """A reindex's output without the progress lines a slow build prints meanwhile."""
    return re.sub(r"(?m)^  \S[^\n]* · \d+ s\n", "", out)


async def test_reindex_reports_what_changed(session: Session, seed_copy: Path) -> None:
    unchanged = await session.send("/reindex")
    (seed_copy / "900_reykjavik.txt").write_text(
        "Alibaba Cloud opens in Reykjavik\n\nAlibaba Cloud opened a data centre in "
        "Reykjavik, Iceland, on Monday.\n",
        encoding="utf-8",
    )
    changed = await session.send("/reindex")
    unchanged, changed = _without_progress(unchanged), _without_progress(changed)

    assert unchanged.startswith("Reindexing…\nCorpus unchanged\n")
    assert "Documents: 5 (0 added, 0 changed, 0 removed)" in unchanged
    assert changed.startswith("Reindexing…\nReindex complete\n")
    assert "Documents: 6 (1 added, 0 changed, 0 removed)" in changed
    assert "900_reykjavik" in changed
    answer = await session.send("/ask Where did Alibaba Cloud open a data centre?")
    assert "Reykjavik" in answer


async def test_a_failed_reindex_keeps_answering(session: Session, seed_copy: Path) -> None:
    shutil.rmtree(seed_copy)

    out = await session.send("/reindex")

    assert "Reindex failed, still serving the previous index" in out
    assert describes_dai_shan(await session.send("/ask Who is Dai Shan?"))


async def test_vote_down_with_a_reason(session: Session) -> None:
    await session.send("/ask Who is Dai Shan?")

    out = await session.send("/vote 1 down too vague")

    assert out == "Thanks for the feedback!\n"
    vote = await session.core.db.queries.get_vote(1, 0)
    assert vote is not None
    assert (vote.vote, vote.reason) == (-1, "too vague")
    stats = await session.send("/stats")
    assert stats.startswith("corpusbot stats · the last 7 days\n")
    assert "Questions: 1 · 1 answered (100%) · 0 not in the articles" in stats
    assert "Feedback: 👍 0 · 👎 1" in stats
    assert "“too vague” on #1: Who is Dai Shan?" in stats


async def test_stats_groups_unanswered_questions_and_takes_a_period(session: Session) -> None:
    for question in ("Who is the mayor of Paris?", "who is the MAYOR of paris", "Who is Dai Shan?"):
        await session.send(f"/ask {question}")

    week = await session.send("/stats")
    assert "Asked from: console 3" in week
    assert "2× Who is the mayor of Paris?" in week or "2× who is the MAYOR of paris" in week
    assert (await session.send("/stats all")).startswith("corpusbot stats · all time\n")
    bad = await session.send("/stats fortnight")
    assert bad.startswith("Sorry\n") and "day, week, month, all" in bad


async def test_resume_a_paused_digest(session: Session) -> None:
    await session.send("/subscribe Alibaba Cloud daily")
    [sub] = await session.core.guild_subscriptions(0)
    await session.core.pause(sub, "no permission to post here")
    listing = await session.send("/subscriptions")
    assert "paused: no permission to post here" in listing

    out = await session.send("/resume alibaba cloud")
    assert out.startswith("Resumed: the daily digest on “Alibaba Cloud” restarts now.")
    again = await session.send("/resume Alibaba Cloud")
    assert "is not paused" in again


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/vote 99 up", "No answer #99 is on record, so the vote was not saved."),
        ("/vote", "Usage: /vote QUERY_ID up|down [reason]"),
        ("/vote 1 sideways", "Usage: /vote QUERY_ID up|down [reason]"),
    ],
)
async def test_bad_votes_print_an_error(session: Session, line: str, message: str) -> None:
    out = await session.send(line)

    assert out.startswith("Sorry\n")
    assert message in out


async def test_an_unknown_command(session: Session) -> None:
    out = await session.send("/unknown stuff")

    assert out == "Unknown command /unknown. Type /help for the list.\n"
    assert await session.core.db.queries.count() == 0


async def test_help_lists_the_commands(session: Session) -> None:
    out = await session.send("/help")

    for command in ("/ask", "/subscribe", "/unsubscribe", "/digest", "/reindex", "/vote"):
        assert command in out


async def test_quit_and_blank_lines(session: Session) -> None:
    assert await session.console.handle("   ") is True
    assert await session.console.handle("/quit") is False
    assert await session.console.handle("exit") is False
    assert await session.console.handle("/QUIT") is False
    assert session.out.getvalue() == ""


async def test_discords_option_names_are_not_part_of_the_question(session: Session) -> None:
    out = await session.send("/ask question:Who is Dai Shan? private:True")

    assert describes_dai_shan(out)
    record = await session.core.db.queries.get(1)
    assert record is not None and record.question == "Who is Dai Shan?"


async def test_a_title_with_markdown_is_underlined_as_printed(session: Session) -> None:
    out = await session.send("/ask **Who** is `Dai Shan`?")

    title, underline = out.splitlines()[:2]
    assert title == "**Who** is `Dai Shan`?"  # as typed, its escapes undone
    assert underline == "-" * len(title)


def test_corpusbot_console_reads_commands_from_stdin(tmp_path: Path, seed_copy: Path) -> None:
    workdir = tmp_path / "cwd"  # an empty folder, so no .env file is picked up
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORPUSBOT_", "DISCORD_"))}
    env.update(
        CORPUSBOT_CORPUS=str(seed_copy),
        CORPUSBOT_DB=str(tmp_path / "data" / "bot.db"),
        CORPUSBOT_INDEX=str(tmp_path / "index"),
        PYTHONIOENCODING="utf-8",
        NO_COLOR="1",
    )
    lines = [
        "/ask Who is Dai Shan?",
        "/ask",
        "/vote 1 down too vague",
        "/subscribe Alibaba Cloud daily",
        "/unknown",
        "/quit",
        "/ask Where was Wu Yongming born?",  # never read: /quit ends the session
    ]

    done = subprocess.run(
        [*COMMAND, "console"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=workdir,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[rate it: /vote 1 up" in out
    assert "Ask a question about the articles" in out
    assert "Thanks for the feedback!" in out
    assert "[posted in #console: daily digest]" in out
    assert "Unknown command /unknown." in out
    assert "/vote 2 up" not in out  # only the first question was answered
    assert "corpusbot>" not in out  # no prompt when stdin is not a terminal
    assert "Traceback" not in done.stderr


async def test_synonyms_are_added_listed_and_removed(session: Session) -> None:
    assert "Added #1: Zorblax, Alibaba" in await session.send("/synonyms add Zorblax, Alibaba")
    listed = await session.send("/synonyms")
    assert "#1" in listed and "Zorblax, Alibaba" in listed and "Jack Ma, Ma Yun" in listed
    assert "8000" in await session.send("/ask how many employees does Zorblax have in Beijing")
    assert "Removed #1." in await session.send("/synonyms remove 1")
    assert "There is no group #1." in await session.send("/synonyms remove #1")
    assert "group's number" in await session.send("/synonyms remove one")
    assert "Not a synonym group" in await session.send("/synonyms add lonely")


def test_ctrl_c_at_the_console_prompt_exits_without_waiting_for_enter(
    tmp_path: Path, seed_copy: Path
) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORPUSBOT_", "DISCORD_"))}
    env.update(
        CORPUSBOT_CORPUS=str(seed_copy),
        CORPUSBOT_DB=str(tmp_path / "data" / "bot.db"),
        CORPUSBOT_INDEX=str(tmp_path / "index"),
        PYTHONIOENCODING="utf-8",
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    proc = subprocess.Popen(
        [*COMMAND, "console"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=workdir,
        # Ctrl-C as a terminal delivers it, even when this test runs where SIGINT is
        # ignored (a background job without job control): an ignored SIGINT is
        # inherited, and Python then installs no KeyboardInterrupt handler at all
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"/help\n")
        proc.stdin.flush()
        assert proc.stdout.readline()  # the console answered
        time.sleep(1.0)  # and now waits in readline for the next line
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=15)  # stdin stays open: no Enter, no end of input
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 130


async def test_a_long_reindex_shows_its_progress(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open_index = bot.core.open_index

    def slow_open_index(*args: Any, progress: Any = None, **kwargs: Any) -> Any:
        progress("reading", 1, 2)
        time.sleep(0.5)
        return real_open_index(*args, progress=progress, **kwargs)

    monkeypatch.setattr(bot.core, "open_index", slow_open_index)
    monkeypatch.setattr(bot.console, "PROGRESS_EVERY", 0.1)

    out = await session.send("/reindex")

    assert out.startswith("Reindexing…\n  reading 1/2 · ")
    assert "Corpus unchanged" in out
