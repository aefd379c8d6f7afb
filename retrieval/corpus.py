"""Load a folder of scraped news articles and clean them into Documents.

Each ``*.txt`` file is one article; its document id is the file name without ``.txt``.
Scraped text is messy: tracking ids before the title, page furniture ("Leave a Reply",
"Back to top", "Source link", copyright notices), paragraphs split mid-sentence, curly
quotes, stray markup. The rules below are general ones for web news text, not a list of
known lines, so they carry over to a user's own corpus. A file that cannot be an article
(empty, binary, not UTF-8, enormous) is skipped with a reason; the rest still load.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MAX_FILE_BYTES",
    "CorpusError",
    "Document",
    "LoadResult",
    "SkippedFile",
    "clean_article",
    "list_article_files",
    "load_corpus",
    "read_article",
    "scan_folder",
]

MAX_FILE_BYTES = 5 * 1024 * 1024
_TITLE_MAX_CHARS = 200


class CorpusError(Exception):
    """The corpus folder as a whole cannot be used (missing, not a folder, no articles)."""


class SkipArticle(Exception):
    """One file is not a usable article; the message says why."""


@dataclass(frozen=True, slots=True)
class Document:
    """One cleaned article."""

    doc_id: str
    title: str
    paragraphs: tuple[str, ...]
    content_hash: str
    bylines: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


@dataclass(frozen=True, slots=True)
class SkippedFile:
    name: str
    reason: str


@dataclass(slots=True)
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


# --- text-level repairs -------------------------------------------------------------

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u200b": "",
        "\ufeff": "",
    }
)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>\n]{0,200})?/?>")
# A tag that lost its "<" in scraping: "span>", "/div>".
_BROKEN_TAG = re.compile(
    r"(?<![\w<])/?(?:span|div|p|a|b|i|em|strong|br|font|section|article|li|ul|ol|h[1-6])>",
    re.IGNORECASE,
)
_HTML_ENTITIES = {
    "&nbsp;": " ",
    "&amp;": "&",
    "&quot;": '"',
    "&#39;": "'",
    "&lt;": "<",
    "&gt;": ">",
}
_ENTITY = re.compile("|".join(map(re.escape, _HTML_ENTITIES)))
# "Taotian.It is", "speech:If I", "strategy,Ammunition": punctuation glued to the next word.
_GLUED = re.compile(r"(?<=[a-z])([.!?:;,])(?=[A-Z][a-z])|(?<=\d)([,;:])(?=[A-Z][a-z])")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def _repair(line: str) -> str:
    line = line.translate(_QUOTES)
    line = _ENTITY.sub(lambda m: _HTML_ENTITIES[m.group()], line)
    line = _HTML_TAG.sub(" ", line)
    line = _BROKEN_TAG.sub(" ", line)
    line = _GLUED.sub(lambda m: m.group() + " ", line)
    line = _SPACES.sub(" ", line).strip()
    return re.sub(r" ([,.;:!?])", r"\1", line)


# --- page furniture -----------------------------------------------------------------

_FURNITURE_WHOLE = re.compile(
    r"""^(?:
        leave\ a\ (?:reply|comment)|post\ a\ comment|add\ a\ comment|\d*\ ?comments?|reply
        |back\ to\ top|go\ to\ top|scroll\ to\ top|top\ of\ page
        |source(?:\ link)?|original(?:\ link|\ url|\ article)?
        |(?:visit|view|read)\ (?:the\ )?original(?:\ url|\ link|\ article|\ source|\ post)?
        |read\ more|read\ the\ full\ (?:article|story)|continue\ reading|see\ more|more
        |media\ coverage|event\ tracking|related(?:\ articles|\ posts|\ news|\ stories|\ reading)?
        |recommended(?:\ for\ you)?|you\ may\ also\ like|trending|popular|most\ read
        |share(?:\ this)?(?:\ article|\ post|\ story|\ page)?|share\ on\ \w+|tweet|print|e-?mail
        |advertisement|sponsored(?:\ content)?|ad
        |tags?|categories|category|filed\ under
        |previous(?:\ post|\ article)?|next(?:\ post|\ article)?
        |subscribe(?:\ now)?|sign\ up|log\ ?in|register|loading
    )$""",
    re.VERBOSE,
)
_FURNITURE_PREFIX = re.compile(
    r"""^(?:
        this\ article\ (?:is|was)\ (?:reproduced|reprinted|republished|originally\ published)
        |reprinted\ from|reproduced\ from|originally\ published|source\s*:|via\s*:
        |click\ here|sign\ up\ for|subscribe\ to|follow\ us|all\ rights\ reserved|©|\(c\)\ \d{4}
        |your\ email\ address\ will\ not\ be\ published|required\ fields\ are\ marked
    )""",
    re.VERBOSE,
)
_FURNITURE_ANYWHERE = re.compile(
    r"required fields are marked|all rights reserved|©"
    r"|copyright (?:belongs|©|\(c\)|\d{4}|notice|of this article)"
    r"|for (?:inclusion|reference) only"
)
_FURNITURE_MAX_WORDS = 30


def _is_furniture(line: str) -> bool:
    words = line.split()
    if not words or len(words) > _FURNITURE_MAX_WORDS:
        return False
    key = line.casefold().strip(" .:;!|*-–—>»›#\"'")
    if len(words) <= 8 and _FURNITURE_WHOLE.match(key):
        return True
    return bool(_FURNITURE_PREFIX.match(key) or _FURNITURE_ANYWHERE.search(key))


def _alpha_words(line: str) -> list[str]:
    """Words made only of letters (at least two); tokens with digits or symbols don't count."""
    return [w for w in re.findall(r"\S+", line) if re.fullmatch(r"[^\W\d_]{2,}[.,:;!?'\"]*", w)]


def _is_tracking_junk(line: str) -> bool:
    """A short line with no real words: analytics ids ("GA4 (398745346)"), hashes, numbers.

    Long lines are text whatever their words look like (codes, tables, other scripts)."""
    if len(line.split()) > 8:
        return False
    return len(_alpha_words(line)) < 2 and not re.search(r"[^\W\d_]{4,}", line)


_TERMINAL = re.compile(r"""[.!?…:"')\]]$""")


def _is_prose(line: str) -> bool:
    return len(line.split()) > 6 or bool(_TERMINAL.search(line))


# --- bylines ------------------------------------------------------------------------

_BYLINE_LINE = re.compile(
    r"^(?:text|by|written by|author|reporter|editor|edited by|compiled by)"
    r"(?:\s*[|:｜]\s*|\s+)\S",
    re.IGNORECASE,
)
_TRAILING_CREDIT = re.compile(r"\((?:[A-Z][a-z]+)(?: [A-Z][a-z]+){1,3}\)$")


def _byline_of(paragraph: str) -> str | None:
    if len(paragraph.split()) <= 12 and (_BYLINE_LINE.match(paragraph) or "reporter" in paragraph):
        return paragraph
    credit = _TRAILING_CREDIT.search(paragraph)
    return credit.group() if credit else None


# --- paragraphs ---------------------------------------------------------------------

_STARTS_WITH_JOINER = re.compile(r"^[,;:)\]]")


def _join_broken(paragraphs: Iterable[str]) -> list[str]:
    """Rejoin paragraphs that a scraper split mid-sentence.

    A paragraph continues the previous one when it starts with a comma-like joiner, or
    starts lowercase after a paragraph that lacks closing punctuation.
    """
    out: list[str] = []
    for para in paragraphs:
        if out and _STARTS_WITH_JOINER.match(para):
            rest = para[1:].lstrip()
            if _TERMINAL.search(out[-1]) or not rest:
                # "cheerleaders." then ", the Alibaba ...": a stray joiner, not a continuation.
                if rest:
                    out.append(rest[0].upper() + rest[1:])
                continue
            out[-1] = f"{out[-1]}{para[0]} {rest}"
        elif out and para[:1].islower() and not _TERMINAL.search(out[-1]):
            out[-1] = f"{out[-1]} {para}"
        else:
            out.append(para)
    return out


def _fallback_title(line: str) -> str:
    """A title for an article that starts straight with prose: its first words."""
    first = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
    if len(first) <= 120:
        return first.rstrip(":;,")
    cut = first[:120].rsplit(" ", 1)[0]
    return cut.rstrip(":;,") + "…"


def clean_article(raw: str) -> tuple[str, list[str], list[str]]:
    """Clean one article's text into (title, paragraphs, bylines)."""
    lines = [_repair(line) for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    title = ""
    body_start = 0
    for i, line in enumerate(lines):
        if _is_tracking_junk(line) or _is_furniture(line):
            continue
        if len(line) <= _TITLE_MAX_CHARS:
            title, body_start = line, i + 1
        else:
            title, body_start = _fallback_title(line), i
        break
    body = [ln for ln in lines[body_start:] if ln != title and not _is_tracking_junk(ln)]
    # Pages end in furniture, often mixed with short list lines ("Sina Technology NetEase
    # News" under "media coverage"): walking back from the end over furniture and short
    # non-prose lines, cut at the earliest furniture line met.
    cut = len(body)
    for i in range(len(body) - 1, -1, -1):
        if _is_furniture(body[i]):
            cut = i
        elif _is_prose(body[i]):
            break
    body = [ln for ln in body[:cut] if not _is_furniture(ln)]
    paragraphs = _join_broken(body)
    bylines = [b for b in map(_byline_of, paragraphs) if b]
    return title, paragraphs, bylines


# --- files --------------------------------------------------------------------------


def list_article_files(folder: Path) -> list[Path]:
    """The ``*.txt`` files directly in folder, sorted by name."""
    return scan_folder(folder)[0]


def scan_folder(folder: Path) -> tuple[list[Path], list[SkippedFile]]:
    """The ``*.txt`` files directly in folder, sorted by name, and the entries that look
    like articles but are not read, with why: sub-folders (their files are not read),
    and ``.txt`` names that are not regular files (broken or looping links, folders,
    pipes). Hidden entries and other names are ignored."""
    if not folder.exists():
        raise CorpusError(f"corpus folder {folder} does not exist")
    if not folder.is_dir():
        raise CorpusError(f"corpus path {folder} is not a folder")
    files: list[Path] = []
    skipped: list[SkippedFile] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                is_txt = entry.name.endswith(".txt")
                reason = _not_an_article(entry, is_txt)
                if reason is None and is_txt:
                    files.append(Path(entry.path))
                elif reason is not None:
                    skipped.append(SkippedFile(entry.name, reason))
    except OSError as exc:
        raise CorpusError(f"cannot read corpus folder {folder}: {exc.strerror}") from exc
    return sorted(files), sorted(skipped, key=lambda s: s.name)


def _not_an_article(entry: os.DirEntry, is_txt: bool) -> str | None:
    """Why a folder entry is skipped, or None (an article file, or a name ignored)."""
    try:
        if entry.is_file():
            return None
        if entry.is_dir():
            return "a sub-folder: only .txt files directly in the corpus folder are read"
    except OSError as exc:  # a symlink loop, say
        return f"unreadable link ({exc.strerror})"
    if not is_txt:
        return None
    if entry.is_symlink():
        return "a broken or looping link"
    return "not a regular file"


def read_article(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Read and clean one article file; raise SkipArticle with a reason if it is unusable."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise SkipArticle("empty file")
        if size > max_bytes:
            raise SkipArticle(f"too large ({size / 1e6:.1f} MB, limit {max_bytes / 1e6:.1f} MB)")
        data = path.read_bytes()
    except OSError as exc:
        raise SkipArticle(f"unreadable ({exc.strerror})") from exc
    if b"\x00" in data:
        raise SkipArticle("binary file (contains NUL bytes)")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkipArticle(f"not UTF-8 text (invalid byte at offset {exc.start})") from exc
    title, paragraphs, bylines = clean_article(raw)
    if not paragraphs:
        raise SkipArticle("no article text after cleaning")
    return Document(
        doc_id=path.stem,
        title=title,
        paragraphs=tuple(paragraphs),
        content_hash=hashlib.sha256(data).hexdigest(),
        bylines=tuple(bylines),
    )


def load_corpus(folder: Path, *, progress: Callable[[int, int], None] | None = None) -> LoadResult:
    """Load every article in folder; unusable files are listed in ``skipped`` with a reason."""
    files, skipped = scan_folder(folder)
    result = LoadResult(skipped=list(skipped))
    for n, path in enumerate(files, 1):
        try:
            result.documents.append(read_article(path))
        except SkipArticle as exc:
            result.skipped.append(SkippedFile(path.name, str(exc)))
        if progress is not None:
            progress(n, len(files))
    return result
