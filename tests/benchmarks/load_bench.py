"""Load bench: the real ``corpusbot run`` process against the local Discord stand-in.

Fires N (default 500) /ask interactions at once and prints p50/p95/max latency from
dispatch to the bot's callback (the defer) and to its followup (the answer), plus the
bot's worst event loop stall (from its CORPUSBOT_LOOP_MONITOR log). Then does the same
while an admin's /reindex rebuilds a larger generated corpus, and for the rest of the
reindex sends one /ask a second, printing their latencies and the worst stall while
the reindex runs without the burst.

    python -m tests.benchmarks.load_bench [--asks 500] [--articles 3000]
        [--db sqlite|postgresql|both]

``--db postgresql`` runs the bot against a private PostgreSQL server started for the
run (tests/pgserver.py: the Debian package's binaries, as the tests use them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from tests.e2e.conftest import BotProcess, running_bot
from tests.e2e.fakediscord import InteractionRecord, make_user
from tests.pgserver import running_server

QUESTIONS = [
    "Who is Dai Shan?",
    "What is the weather in Paris tomorrow?",
    "What did Alibaba Cloud announce?",
    "Who runs Taobao?",
    "What does Alibaba Group Asset Management do?",
]
_STALL = re.compile(r"event loop: worst stall ([\d.]+) ms since start")
_PERIOD_STALL = re.compile(r"event loop: worst stall ([\d.]+) ms in the last")

_COMPANIES = ["Alibaba", "Tencent", "Baidu", "JD.com", "Meituan", "ByteDance", "Xiaomi", "NIO"]
_NOUNS = ["revenue", "profit", "cloud business", "user base", "logistics arm", "ad sales"]
_VERBS = ["grew", "fell", "rose", "slipped", "jumped", "recovered"]
_PLACES = ["Hangzhou", "Shenzhen", "Beijing", "Shanghai", "Singapore", "Jakarta", "Paris"]
_PEOPLE = ["Zhang Wei", "Li Na", "Wang Fang", "Chen Jie", "Liu Yang", "Huang Min"]


def write_articles(folder: Path, count: int, seed: int = 1) -> None:
    """Generated news-like articles, one .txt file each."""
    rng = random.Random(seed)
    for n in range(count):
        company = rng.choice(_COMPANIES)
        title = f"{company} {rng.choice(_NOUNS)} update {n} from {rng.choice(_PLACES)}"
        paragraphs = []
        for _ in range(rng.randint(4, 8)):
            sentences = [
                f"{rng.choice(_COMPANIES)} said on day {rng.randint(1, 28)} that its "
                f"{rng.choice(_NOUNS)} {rng.choice(_VERBS)} {rng.randint(1, 90)} percent in "
                f"{rng.choice(_PLACES)}, according to {rng.choice(_PEOPLE)} (report {n})."
                for _ in range(rng.randint(3, 6))
            ]
            paragraphs.append(" ".join(sentences))
        text = title + "\n\n" + "\n\n".join(paragraphs) + "\n"
        (folder / f"generated_{n:05d}.txt").write_text(text, encoding="utf-8")


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return (
        f"p50 {statistics.median(values) * 1000:8.1f} ms   "
        f"p95 {p95 * 1000:8.1f} ms   max {values[-1] * 1000:8.1f} ms"
    )


async def fire(bot: BotProcess, count: int, tag: str) -> list[InteractionRecord]:
    """Dispatch count /ask interactions at once (distinct users) and wait for every answer."""
    users = [make_user(f"{tag}{n}") for n in range(count)]
    records = await asyncio.gather(
        *(
            bot.fd.send_slash_command(
                "ask", {"question": f"{QUESTIONS[n % len(QUESTIONS)]} ({tag} {n})"}, user=u
            )
            for n, u in enumerate(users)
        )
    )
    await bot.fd.wait_until(lambda: all(r.followups for r in records), timeout=300, poll=0.1)
    return records


def _reindexed(record: InteractionRecord) -> bool:
    edits = record.original_edits
    return bool(edits) and edits[-1]["embeds"][0]["title"] != "Reindexing…"


async def trickle_until(bot: BotProcess, done) -> list[InteractionRecord]:
    """One /ask a second until done(), then wait for every answer."""
    records = []
    while not done():
        n = len(records)
        records.append(
            await bot.fd.send_slash_command(
                "ask",
                {"question": f"{QUESTIONS[n % len(QUESTIONS)]} (t {n})"},
                user=make_user(f"t{n}"),
            )
        )
        await asyncio.sleep(1.0)
    await bot.fd.wait_until(lambda: all(r.followups for r in records), timeout=300, poll=0.1)
    return records


def latencies(bot: BotProcess, records: list[InteractionRecord]) -> tuple[list[float], ...]:
    """Seconds from dispatch to the callback request and to the followup request."""
    callback_at: dict[str, float] = {}
    followup_at: dict[str, float] = {}
    for request in bot.fd.requests:
        parts = request.path.split("/")
        if request.method != "POST" or len(parts) < 4:
            continue
        if parts[1] == "interactions" and parts[-1] == "callback":
            callback_at.setdefault(parts[3], request.time)
        elif parts[1] == "webhooks":
            followup_at.setdefault(parts[3], request.time)
    to_callback = [callback_at[r.token] - r.created_at for r in records]
    to_followup = [followup_at[r.token] - r.created_at for r in records]
    return to_callback, to_followup


def report(title: str, bot: BotProcess, records: list[InteractionRecord]) -> None:
    to_callback, to_followup = latencies(bot, records)
    late = sum(1 for s in to_callback if s > 3.0)
    print(title)
    print(f"  dispatch -> callback (defer):   {_ms(to_callback)}   (over 3 s: {late})")
    print(f"  dispatch -> followup (answer):  {_ms(to_followup)}")


def worst_stall(bot: BotProcess) -> str:
    found = _STALL.findall(bot.log())
    return f"{float(found[-1]):.1f} ms" if found else "n/a (no monitor line in the log)"


async def count_queries(bot: BotProcess) -> int:
    target = bot.env["CORPUSBOT_DB"]
    if not target.startswith("postgresql://"):
        return bot.sql("SELECT count(*) FROM queries")[0][0]
    import asyncpg

    conn = await asyncpg.connect(target)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM queries"))
    finally:
        await conn.close()


async def bench(asks: int, articles: int, urls: tuple[str, str] | None = None) -> None:
    """Both phases; ``urls`` are two PostgreSQL databases (one per phase), or None
    for SQLite files."""
    env = {"CORPUSBOT_LOOP_MONITOR": "true", "CORPUSBOT_LOG_LEVEL": "INFO"}
    first = {"CORPUSBOT_DB": urls[0]} if urls else {}
    second = {"CORPUSBOT_DB": urls[1]} if urls else {}
    print(f"--- database: {'PostgreSQL' if urls else 'SQLite'}")
    with tempfile.TemporaryDirectory(prefix="corpusbot-bench-") as tmp:
        async with running_bot(Path(tmp) / "asks", **env, **first) as bot:
            started = time.monotonic()
            records = await fire(bot, asks, "a")
            elapsed = time.monotonic() - started
            logged = await count_queries(bot)
            await bot.stop_cleanly()
        report(
            f"{asks} concurrent /ask, seed corpus: all answered in {elapsed:.2f} s", bot, records
        )
        print(f"  queries logged: {logged}")
        print(f"  bot event loop worst stall: {worst_stall(bot)}")

        async with running_bot(Path(tmp) / "reindex", **env, **second) as bot:
            write_articles(bot.corpus, articles)
            reindex = await bot.fd.send_slash_command("reindex", user=bot.admin)
            await bot.fd.wait_for_interaction_response(reindex)
            await bot.fd.wait_until(lambda: "reindex requested" in bot.log(), timeout=30)
            started = time.monotonic()
            records = await fire(bot, asks, "r")
            elapsed = time.monotonic() - started
            # the monitor's next period may still include the burst: skip it
            burst_periods = len(_PERIOD_STALL.findall(bot.log())) + 1
            async with asyncio.timeout(900):
                trickle = await trickle_until(bot, lambda: _reindexed(reindex))
            alone = [float(v) for v in _PERIOD_STALL.findall(bot.log())[burst_periods:]]
            summary = reindex.original_edits[-1]["embeds"][0]
            seconds = re.search(r"\*\*Time:\*\* ([\d.]+) s", summary["description"])
            await bot.stop_cleanly()
        report(
            f"{asks} concurrent /ask during a /reindex of {articles} generated articles: "
            f"all answered in {elapsed:.2f} s",
            bot,
            records,
        )
        print(f"  reindex: {summary['title']} in {seconds.group(1) if seconds else '?'} s")
        print(f"  bot event loop worst stall: {worst_stall(bot)}")
        if trickle:
            report(f"{len(trickle)} /ask, one a second, for the rest of the reindex:", bot, trickle)
        if alone:
            print(f"  bot event loop worst stall after the burst: {max(alone):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asks", type=int, default=500, help="concurrent /ask interactions")
    parser.add_argument(
        "--articles", type=int, default=3000, help="generated articles for the reindex phase"
    )
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgresql", "both"],
        default="sqlite",
        help="the database the bot uses (postgresql: a private server started for the run)",
    )
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        asyncio.run(bench(args.asks, args.articles))
    if args.db in ("postgresql", "both"):
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(running_server())
            urls = (server.create_database(), server.create_database())
            asyncio.run(bench(args.asks, args.articles, urls))


if __name__ == "__main__":
    main()
