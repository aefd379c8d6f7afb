"""Split Documents into sentence-aware passages of bounded size.

Passages are what BM25 ranks and what an answer is extracted from: a few sentences of one
paragraph-run, never more than ``max_chars`` unless one sentence alone is longer (then it
is cut at word boundaries). Each passage keeps its document id, title and position.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from retrieval.corpus import Document

__all__ = [
    "Passage",
    "leads_with_title",
    "make_passages",
    "passage_sentences",
    "sentence_starts",
    "split_sentences",
]

MAX_CHARS = 600
MIN_CHARS = 200

# Words that end with a period without ending a sentence ("Mr. Ma", "No. 004", "Co., Ltd.").
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt no nos vs etc inc ltd co corp dept gen gov sen rep col
    capt lt sgt fig figs vol approx est jan feb mar apr jun jul aug sep sept oct nov dec
    e.g i.e u.s u.k a.m p.m
    """.split()
)
# Sentence end: . ! ? or … with optional closing quotes/brackets, then whitespace, then
# something that can start a sentence.
_BOUNDARY = re.compile(r"""([.!?…]+["')\]]*)\s+(?=["'(\[]?[^\W_])""")
# A question has a wh-word somewhere or starts (a clause) with an auxiliary verb.
_QUESTION_WORD = re.compile(
    r"\b(?:who|whom|whose|what|which|when|where|why|how)\b"
    r"|(?:^|[,;:]\s*|^\W*\d+\.\s*)(?:is|are|was|were|do|does|did|can|could|will|would|should|"
    r"shall|may|might|must|has|have|had|isn't|aren't|don't|doesn't|didn't)\b",
    re.IGNORECASE,
)
_LAST_WORD = re.compile(r"([\w.]+)[.!?…]+[\"')\]]*$")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, keeping abbreviations, decimals and closing quotes intact.

    A line break always ends a sentence (passages keep their paragraphs on lines)."""
    sentences: list[str] = []
    for line in text.split("\n"):
        sentences.extend(_split_line(line))
    return _attach_fragments(sentences)


def _split_line(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end(1)
        candidate = text[start:end]
        punct = match.group(1)
        if punct.startswith("."):
            last = _LAST_WORD.search(candidate)
            word = last.group(1).casefold() if last else ""
            # Abbreviations, initials ("J. K.") and lone numbers ("1. E-commerce") continue.
            if word in _ABBREVIATIONS or len(word) == 1 or (word.isdigit() and len(word) <= 2):
                continue
        elif punct == "?" and not _QUESTION_WORD.search(candidate):
            # A "?" with no question around it is usually a character lost to a bad
            # encoding ("Yuan? Capital"), not the end of a sentence.
            continue
        sentences.append(candidate.strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _attach_fragments(sentences: list[str]) -> list[str]:
    """Glue credit fragments such as "(Xu Yuanlei)" to the sentence before them."""
    out: list[str] = []
    for sentence in sentences:
        if out and sentence.startswith("(") and len(sentence) < 40:
            out[-1] = f"{out[-1]} {sentence}"
        else:
            out.append(sentence)
    return out


def _cut_words(sentence: str, max_chars: int) -> Iterator[str]:
    """Cut an over-long sentence into pieces of at most max_chars at word boundaries."""
    words = sentence.split()
    piece: list[str] = []
    size = 0
    for word in words:
        extra = len(word) + (1 if piece else 0)
        if piece and size + extra > max_chars:
            yield " ".join(piece)
            piece, size = [], 0
            extra = len(word)
        piece.append(word)
        size += extra
    if piece:
        yield " ".join(piece)


@dataclass(frozen=True, slots=True)
class Passage:
    """A run of sentences from one document, the unit that is indexed and ranked."""

    doc_id: str
    title: str
    position: int  # 0-based order of this passage within its document
    text: str


def _chunk(paragraphs: Iterable[str], max_chars: int, min_chars: int) -> list[str]:
    """Pack sentences into chunks of at most max_chars, paragraphs on their own lines; a
    new paragraph starts a new chunk once the current one holds at least min_chars."""
    chunks: list[str] = []
    current = ""
    for paragraph in paragraphs:
        for n, sentence in enumerate(split_sentences(paragraph)):
            for piece in _cut_words(sentence, max_chars):
                starts_paragraph = n == 0 and len(current) >= min_chars
                if current and (starts_paragraph or len(current) + 1 + len(piece) > max_chars):
                    chunks.append(current)
                    current = ""
                separator = ("\n" if n == 0 else " ") if current else ""
                current += separator + piece
    if current:
        chunks.append(current)
    return chunks


def make_passages(
    documents: Iterable[Document], *, max_chars: int = MAX_CHARS, min_chars: int = MIN_CHARS
) -> list[Passage]:
    """Chunk documents into passages that keep their document id, title and position."""
    return [
        Passage(doc.doc_id, doc.title, position, text)
        for doc in documents
        for position, text in enumerate(_chunk(doc.paragraphs, max_chars, min_chars))
    ]


def leads_with_title(passage: Passage) -> bool:
    """Whether the passage's sentences start with its article's title, which its text
    does not hold (a question may ask for the headline)."""
    title = passage.title.strip()
    return passage.position == 0 and bool(title) and not passage.text.startswith(title)


def sentence_starts(text: str, sentences: list[str]) -> list[int]:
    """Where each of sentences starts in text, looked for in order after the one before
    (-1 for one the text does not hold, as a title leading the first passage's)."""
    starts: list[int] = []
    at = 0
    for sentence in sentences:
        found = text.find(sentence, at)
        starts.append(found)
        if found >= 0:
            at = found + len(sentence)
    return starts


def passage_sentences(passage: Passage) -> list[str]:
    """A passage's sentences as answers are drawn from them; the article's title leads
    its first passage unless the text starts with it."""
    sentences = split_sentences(passage.text) or [passage.text]
    return [passage.title, *sentences] if leads_with_title(passage) else sentences
