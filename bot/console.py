"""The offline console: type the bot's slash commands and see what it would send.

It drives the same core as the Discord cogs, against the same SQLite file, as one user
in one channel (ids 0). Due digests are delivered after every command, as the digest
loop would, and printed as "posted in #console".
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.config import Settings
from bot.core import CADENCE_SECONDS, Core, Digest, Requester, UserError
from bot.render import (
    answer_card,
    digest_card,
    error_card,
    help_card,
    reindex_card,
    stats_card,
    subscriptions_card,
    synonyms_card,
    to_text,
)
from bot.storage import Subscription

__all__ = ["Console", "run_console"]

CONSOLE_USER = 0
CONSOLE_CHANNEL = 0
CONSOLE_GUILD = 0
PROMPT = "corpusbot> "
PROGRESS_EVERY = 2.0  # seconds between progress lines of a running /reindex


# Discord's way of typing a command's options, copied into the console: "/ask
# question:Who is Dai Shan? private:True" asks "Who is Dai Shan?".
_QUESTION_OPTION = re.compile(r"^question:\s*", re.IGNORECASE)
_PRIVATE_OPTION = re.compile(r"(?:^|\s)private:\s*(?:true|false|yes|no)\b", re.IGNORECASE)


def _without_options(question: str) -> str:
    """The question of an /ask line, without Discord's option names."""
    return _QUESTION_OPTION.sub("", _PRIVATE_OPTION.sub(" ", question).strip())


class Console:
    """Parses console lines into core calls and prints the replies."""

    def __init__(self, core: Core, out: TextIO) -> None:
        self.core = core
        self.out = out
        self.last_query_id: int | None = None
        self.who = Requester(CONSOLE_USER, CONSOLE_GUILD, CONSOLE_CHANNEL, source="console")
        self.commands: dict[str, Callable[[str], Awaitable[None]]] = {
            "ask": self.ask,
            "vote": self.vote,
            "subscribe": self.subscribe,
            "unsubscribe": self.unsubscribe,
            "resume": self.resume,
            "subscriptions": self.subscriptions,
            "digest": self.digest,
            "reindex": self.reindex,
            "stats": self.stats,
            "synonyms": self.synonyms,
            "help": self.help,
        }

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def handle(self, line: str) -> bool:
        """Run one line; False when the user wants to leave."""
        line = line.strip()
        if not line:
            return True
        if line.lower() in {"/quit", "/exit", "quit", "exit"}:
            return False
        name, _, rest = line.removeprefix("/").partition(" ")
        command = self.commands.get(name.lower())
        if command is None:
            if line.startswith("/"):
                self.say(f"Unknown command /{name}. Type /help for the list.")
                return True
            command, rest = self.ask, line  # a bare line is a question
        try:
            await command(rest.strip())
        except UserError as exc:
            self.say(to_text(error_card(str(exc))))
        await self.deliver_due()
        return True

    async def ask(self, question: str) -> None:
        question = _without_options(question)
        outcome = await self.core.ask(question, self.who)
        self.last_query_id = outcome.query_id
        card = answer_card(outcome.result.question, outcome.result, outcome.query_id)
        self.say(to_text(card))
        self.say(f"  [rate it: /vote {outcome.query_id} up | /vote {outcome.query_id} down REASON]")

    async def vote(self, args: str) -> None:
        parts = args.split(maxsplit=2)
        if len(parts) < 2 or not parts[0].isdigit() or parts[1] not in {"up", "down"}:
            raise UserError("Usage: /vote QUERY_ID up|down [reason]")
        query_id, up = int(parts[0]), parts[1] == "up"
        await self.core.vote(query_id, CONSOLE_USER, up)
        if not up and len(parts) == 3:
            await self.core.set_reason(query_id, CONSOLE_USER, parts[2])
        self.say("Thanks for the feedback!")

    async def subscribe(self, args: str) -> None:
        words = args.split()
        if len(words) < 2 or words[-1].lower() not in CADENCE_SECONDS:
            raise UserError("Usage: /subscribe TOPIC hourly|daily|weekly")
        topic, cadence = " ".join(words[:-1]), words[-1].lower()
        sub, created = await self.core.subscribe(
            guild_id=CONSOLE_GUILD,
            channel_id=CONSOLE_CHANNEL,
            topic=topic,
            cadence=cadence,  # type: ignore[arg-type]
            user_id=CONSOLE_USER,
        )
        verb = "Subscribed" if created else "Updated"
        self.say(f"{verb}: this channel gets the {sub.cadence} digest on “{sub.topic}”.")

    async def unsubscribe(self, topic: str) -> None:
        removed = await self.core.unsubscribe(CONSOLE_CHANNEL, topic)
        self.say("Unsubscribed." if removed else f"This channel has no digest on “{topic}”.")

    async def resume(self, topic: str) -> None:
        sub = await self.core.resume(CONSOLE_CHANNEL, topic)
        self.say(f"Resumed: the {sub.cadence} digest on “{sub.topic}” restarts now.")

    async def subscriptions(self, _: str) -> None:
        subs = await self.core.guild_subscriptions(CONSOLE_GUILD)
        card = subscriptions_card(subs, self.core.clock(), where="this console")
        self.say(to_text(card, {CONSOLE_CHANNEL: "console"}))

    async def digest(self, topic: str) -> None:
        digest = await self.core.preview_digest(topic, CONSOLE_CHANNEL)
        self.say(
            to_text(
                digest_card(digest.topic, digest.items, preview=True, subscribed=digest.subscribed)
            )
        )

    async def reindex(self, _: str) -> None:
        self.say("Reindexing…")
        task = asyncio.ensure_future(self.core.reindex())
        started = time.monotonic()
        while not task.done():
            await asyncio.wait({task}, timeout=PROGRESS_EVERY)
            progress = self.core.reindex_progress
            if not task.done() and progress is not None:
                share = f" {progress.done}/{progress.total}" if progress.total else ""
                self.say(f"  {progress.stage}{share} · {time.monotonic() - started:.0f} s")
        self.say(to_text(reindex_card(task.result())))

    async def stats(self, period: str) -> None:
        report = await self.core.stats(period.strip().lower() or "week")
        self.say(to_text(stats_card(report)))

    async def synonyms(self, rest: str) -> None:
        """/synonyms, /synonyms add A, B, /synonyms remove N."""
        action, _, names = rest.partition(" ")
        action = action.lower()
        if action == "add":
            group = await self.core.add_synonyms(names, CONSOLE_USER)
            self.say(f"Added #{group.id}: {', '.join(group.members)}")
        elif action == "remove":
            if not names.strip().lstrip("#").isdigit():
                raise UserError("Give the group's number: /synonyms remove 3")
            number = int(names.strip().lstrip("#"))
            found = await self.core.remove_synonyms(number)
            self.say(f"Removed #{number}." if found else f"There is no group #{number}.")
        elif action in {"", "list"}:
            file_groups = self.core.file_synonyms.groups
            self.say(to_text(synonyms_card(file_groups, self.core.admin_synonyms)))
        else:
            raise UserError("Use /synonyms, /synonyms add A, B or /synonyms remove N.")

    async def help(self, _: str) -> None:
        self.say(to_text(help_card()))
        self.say(
            "Console only: /vote QUERY_ID up|down [reason], /stats [day|week|month|all], /quit"
        )
        self.say("Here every answer is shown to you alone: /ask needs no private option.")

    async def deliver_due(self) -> None:
        """Post every due digest to the console channel, as the digest loop would."""

        async def post(sub: Subscription, digest: Digest, nonce: str) -> int:
            self.say(f"[posted in #console: {sub.cadence} digest]")
            self.say(to_text(digest_card(digest.topic, digest.items, preview=False)))
            return 0

        await self.core.deliver_due(post)


def _read_line(
    loop: asyncio.AbstractEventLoop, stdin: TextIO, prompt: str | None = None
) -> asyncio.Future[str]:
    """Read one line in a daemon thread of its own. Not the default executor: on
    Ctrl-C, asyncio.run waits for that executor's threads, so a thread blocked in
    readline() kept the console from exiting until Enter was pressed.

    With a prompt, the line is read by input(), which shows it and, with readline
    loaded, lets the line be edited and earlier ones recalled (the arrow keys); the line
    then ends in a newline as stdin's would, and end of input is ""."""
    future: asyncio.Future[str] = loop.create_future()

    def deliver(line: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(line or "")

    def read() -> None:
        try:
            if prompt is None:
                line, error = stdin.readline(), None
            else:
                try:
                    line, error = input(prompt) + "\n", None
                except EOFError:
                    line, error = "", None
        except Exception as exc:  # handed to the waiting coroutine
            line, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(deliver, line, error)

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    return future


def _line_editing() -> bool:
    """Load readline, which gives input() line editing and history; False where the
    platform has none."""
    try:
        import readline  # noqa: F401
    except ImportError:
        return False
    return True


async def _main(settings: Settings, stdin: TextIO, out: TextIO) -> int:
    try:
        core = await Core.start(settings)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    console = Console(core, out)
    interactive = stdin.isatty()
    # at a terminal, lines are read with line editing and history (readline)
    editing = interactive and stdin is sys.stdin and out is sys.stdout and _line_editing()
    if interactive:
        console.say("corpusbot console: type /help for commands, /quit to leave.")
    try:
        loop = asyncio.get_running_loop()
        while True:
            if interactive and not editing:
                out.write(PROMPT)
                out.flush()
            line = await _read_line(loop, stdin, PROMPT if editing else None)
            if not line:
                break
            if not await console.handle(line):
                break
    finally:
        await core.close()
    return 0


def run_console(settings: Settings, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Run the console until end of input or /quit; returns the exit code."""
    try:
        return asyncio.run(_main(settings, stdin or sys.stdin, out or sys.stdout))
    except KeyboardInterrupt:
        return 130
