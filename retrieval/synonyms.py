"""Aliases: names that mean the same thing ("Jack Ma" and "Ma Yun", "Ali" and "Alibaba").

People ask with the name they know; the articles may use another. A group of aliases
applies at query time: when a question mentions one member, the others that the
articles use are added to it, for BM25 and for the semantic signal alike.

Groups come from three places, merged: a synonyms file (one group per line, members
separated by commas, ``#`` starts a comment), groups a server admin adds (stored by the
bot), and groups the corpus states itself ("Alibaba Cloud (Aliyun)", "Zhang Yong, also
known as Daniel Zhang"), found by ``learn_aliases`` when the index is built.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.text import surface_words

__all__ = [
    "MAX_GROUP_MEMBERS",
    "MAX_MEMBER_CHARS",
    "Synonyms",
    "learn_aliases",
    "load_synonyms",
    "parse_group",
    "phrase_key",
]

MAX_MEMBER_CHARS = 100
MAX_GROUP_MEMBERS = 20

# A capitalised name of one to four words ("Alibaba Cloud", "Ma Yun", "DingTalk").
_NAME = r"[A-Z][\w'’&.-]*(?:\s+[A-Z][\w'’&.-]*){0,3}"
# "Name, also known as Alias", "Name, known as Alias", "Name, called Alias".
_STATED = re.compile(rf"(?P<a>{_NAME}),?\s+(?:also\s+)?(?:known\s+as|called)\s+(?P<b>{_NAME})")
# "Name (Alias)": also a place, a ticker or a date in news text ("Tencent (Beijing)"), so
# taken only when both are names of two words or more, or one is the other's initials.
_BRACKETED = re.compile(rf"(?P<a>{_NAME})\s+\((?P<b>{_NAME})\)")


# Every question compares the keys of every group's members (thousands of groups
# learned from a large corpus): computed once per name, they cost a lookup.
@functools.lru_cache(maxsize=100_000)
def phrase_key(text: str) -> str:
    """How a member is compared: its normalized words joined by single spaces."""
    return " ".join(surface_words(text))


def parse_group(line: str) -> tuple[str, ...]:
    """The members of one group written as "A, B, C"; raise ValueError if it is not one."""
    members: list[str] = []
    seen: set[str] = set()
    for raw in line.split(","):
        member = " ".join(raw.split())
        if not member:
            continue
        if len(member) > MAX_MEMBER_CHARS:
            raise ValueError(f"a name is longer than {MAX_MEMBER_CHARS} characters")
        key = phrase_key(member)
        if not key:
            raise ValueError(f"{member!r} has no letters or digits")
        if key not in seen:
            seen.add(key)
            members.append(member)
    if len(members) < 2:
        raise ValueError("a group needs at least two different names, separated by commas")
    if len(members) > MAX_GROUP_MEMBERS:
        raise ValueError(f"a group has at most {MAX_GROUP_MEMBERS} names")
    return tuple(members)


@dataclass(frozen=True)
class Synonyms:
    """Groups of aliases, each a tuple of member names as written."""

    groups: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def parse(cls, text: str) -> tuple[Synonyms, list[str]]:
        """Groups of a synonyms file, and one problem per line that is not a group."""
        groups: list[tuple[str, ...]] = []
        problems: list[str] = []
        for number, line in enumerate(text.splitlines(), 1):
            content = line.split("#", 1)[0].strip()
            if not content:
                continue
            try:
                groups.append(parse_group(content))
            except ValueError as exc:
                problems.append(f"line {number}: {exc}")
        return cls(tuple(groups)), problems

    def merged(self, *others: Iterable[Sequence[str]]) -> Synonyms:
        """These groups and others, groups sharing a member joined into one."""
        merged: list[list[str]] = []
        where: dict[str, int] = {}
        for group in [*self.groups, *(g for other in others for g in other)]:
            targets = sorted({where[k] for k in map(phrase_key, group) if k in where})
            if targets:
                into = targets[0]
                for extra in targets[1:]:
                    merged[into].extend(merged[extra])
                    merged[extra] = []
            else:
                into = len(merged)
                merged.append([])
            merged[into].extend(group)
            for member in merged[into]:
                where[phrase_key(member)] = into
        out = []
        for members in merged:
            first: dict[str, str] = {}
            for member in members:  # the first spelling of a name is kept
                first.setdefault(phrase_key(member), member)
            if len(first) > 1:
                out.append(tuple(first.values()))
        return Synonyms(tuple(out))

    @functools.cached_property
    def words(self) -> frozenset[str]:
        """Every word of every member, normalized: names, never typos to correct."""
        return frozenset(w for group in self.groups for m in group for w in surface_words(m))

    def __iter__(self):
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    def expansions(self, question: str) -> list[str]:
        """Members of the groups the question mentions that it does not already say."""
        words = f" {phrase_key(question)} "
        added: list[str] = []
        for group in self.groups:
            keys = [phrase_key(m) for m in group]
            if any(f" {k} " in words for k in keys):
                added.extend(m for m, k in zip(group, keys, strict=True) if f" {k} " not in words)
        return added


def learn_aliases(texts: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of names a text states as aliases of each other ("X (Y)", "X, also known
    as Y"), each pair once."""
    pairs: dict[tuple[str, str], tuple[str, str]] = {}
    for text in texts:
        found = [(m, True) for m in _STATED.finditer(text)]
        found += [(m, False) for m in _BRACKETED.finditer(text)]
        for match, stated in found:
            a, b = match.group("a").strip(" ."), match.group("b").strip(" .")
            ka, kb = phrase_key(a), phrase_key(b)
            if not ka or not kb or ka == kb:
                continue
            if stated or _initials(ka) == kb or _initials(kb) == ka or (" " in ka and " " in kb):
                pairs.setdefault((min(ka, kb), max(ka, kb)), (a, b))
    return list(pairs.values())


def _initials(key: str) -> str:
    return "".join(word[0] for word in key.split()) if " " in key else ""


def load_synonyms(path: Path) -> tuple[Synonyms, list[str]]:
    """The groups of a synonyms file and its problems, one line each; a missing file has
    no groups and no problem (the file is optional)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Synonyms(), []
    except (OSError, UnicodeDecodeError) as exc:
        return Synonyms(), [f"{path}: cannot be read ({exc})"]
    groups, problems = Synonyms.parse(text)
    return groups, [f"{path}: {problem}" for problem in problems]
