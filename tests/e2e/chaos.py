"""Digest delivery under kill -9: a corpus with many topics, many subscriptions, and
checks that every digest slot was posted exactly once and recorded.

Each subscription has one slot: its first digest (the best DIGEST_MAX_ITEMS articles
on its topic). Topics are invented place names, each with its own articles, so an
article names its topic in its id and every channel's digests must hold disjoint sets.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core import DIGEST_MAX_ITEMS
from tests.e2e.fakediscord import FakeDiscord

PLACES = [
    "Zanzibar", "Kamchatka", "Timbuktu", "Patagonia", "Tasmania",
    "Svalbard", "Madagascar", "Mongolia", "Galapagos", "Yukon",
]  # fmt: skip
ARTICLES_PER_PLACE = 7
TOPICS_PER_CHANNEL = 5
DIGEST_TITLE = re.compile(r"^New on “(?P<topic>.+)”$")


def write_corpus(folder: Path, seeds: Path) -> None:
    """The seed articles plus ARTICLES_PER_PLACE invented ones per place."""
    folder.mkdir(parents=True, exist_ok=True)
    for src in seeds.glob("*.txt"):
        (folder / src.name).write_bytes(src.read_bytes())
    for place in PLACES:
        for n in range(ARTICLES_PER_PLACE):
            (folder / f"{place.lower()}_{n}.txt").write_text(
                f"{place} harbour report number {n}\n\n"
                f"The port authority of {place} said on Tuesday that harbour traffic in "
                f"{place} rose for the {n + 2}th month in a row. Officials in {place} "
                f"expect cargo volume {n} to keep rising through the season, the "
                f"statement said, and new cranes arrive at the {place} docks in spring.\n",
                encoding="utf-8",
            )


def plan(channel_ids: list[int]) -> list[tuple[int, str]]:
    """(channel id, topic) for every subscription: each channel takes
    TOPICS_PER_CHANNEL places, rotating."""
    subs = []
    for i, channel_id in enumerate(channel_ids):
        for k in range(TOPICS_PER_CHANNEL):
            subs.append((channel_id, PLACES[(i + k) % len(PLACES)]))
    return subs


@dataclass
class Outcome:
    """What the channels show, against what the subscriptions expected."""

    slots: int
    messages: int = 0
    article_posts: int = 0
    duplicates: list[tuple[int, str]] = field(default_factory=list)  # (channel, doc id)
    repeated_slots: list[tuple[int, str]] = field(default_factory=list)  # two messages
    lost_slots: list[tuple[int, str]] = field(default_factory=list)  # never posted
    wrong_items: list[tuple[int, str, list[str]]] = field(default_factory=list)
    posted: dict[tuple[int, str], list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.slots} slots, {self.messages} digest messages, {self.article_posts} "
            f"article posts, {len(self.duplicates)} articles posted twice to a channel, "
            f"{len(self.repeated_slots)} slots posted twice, {len(self.lost_slots)} lost, "
            f"{len(self.wrong_items)} with wrong items"
        )


def doc_ids(message: dict[str, Any]) -> list[str]:
    (embed,) = message["embeds"]
    ids = []
    for item in embed.get("fields") or []:
        match = re.search(r"^-# (.+)$", item["value"], re.MULTILINE)
        assert match, item
        ids.append(match.group(1).replace("\\", ""))
    return ids


def examine(fd: FakeDiscord, subs: list[tuple[int, str]]) -> Outcome:
    """Read every channel the subscriptions post to and compare."""
    outcome = Outcome(slots=len(subs))
    for channel_id in sorted({c for c, _ in subs}):
        seen: Counter[str] = Counter()
        for message in fd.channel_messages(channel_id):
            embeds = message.get("embeds") or []
            if not embeds:
                continue
            match = DIGEST_TITLE.match(embeds[0].get("title") or "")
            if match is None:
                continue
            topic = match["topic"]
            ids = doc_ids(message)
            outcome.messages += 1
            outcome.article_posts += len(ids)
            seen.update(ids)
            key = (channel_id, topic)
            if key in outcome.posted:
                outcome.repeated_slots.append(key)
            outcome.posted[key] = ids
            prefix = topic.lower() + "_"
            if len(ids) != DIGEST_MAX_ITEMS or not all(i.startswith(prefix) for i in ids):
                outcome.wrong_items.append((channel_id, topic, ids))
        outcome.duplicates += [(channel_id, d) for d, n in seen.items() if n > 1]
    outcome.lost_slots = [key for key in subs if key not in outcome.posted]
    return outcome


def pid_with_local_port(port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` owns the TCP socket bound locally to ``port`` (Linux /proc):
    tells the stand-in which bot process sent a request, from the request's peer port."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return pid
    return None
