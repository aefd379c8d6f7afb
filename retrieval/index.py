"""The searchable index: passages, their BM25 engines and sentence vectors, as a lookup.

``Index`` answers "which passages match this question" and "what does passage i say";
it reads and writes its own files (``save``/``load``). Building one from a corpus and
choosing the live build are retrieval.build's; reading a question into terms is
retrieval.query's; fusing rankings is retrieval.fusion's.
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from retrieval.corpus import SkippedFile
from retrieval.engine import BM25Engine
from retrieval.fusion import fuse
from retrieval.passages import Passage, passage_sentences
from retrieval.query import QueryTerms, Vocabulary, dictionary
from retrieval.semantic import SentenceVectors, encoder
from retrieval.synonyms import Synonyms
from retrieval.text import tokenize

__all__ = [
    "DocumentInfo",
    "Hit",
    "Index",
    "IndexUnavailable",
    "QueryTerms",
]

# Bump when cleaning, passage or tokenizer rules change: old builds are then rebuilt.
FORMAT_VERSION = 6
# Ranking: how many passages each signal contributes to the fusion.
RERANK_DEPTH = 100
# Without sentence vectors for the whole corpus (see SentenceVectors), how many of the
# best BM25 passages get their sentences embedded at query time.
LAZY_DEPTH = 5
# Articles and passages whose terms are kept once computed.
TERMS_CACHE = 4096


class IndexUnavailable(Exception):
    """The index cannot be built or loaded; the message says why."""


class DocumentInfo(NamedTuple):
    doc_id: str
    title: str
    content_hash: str
    bylines: tuple[str, ...]
    first_passage: int
    passage_count: int


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage that matched a query, and the scores that ranked it.

    ``fused`` orders hits (see retrieval.fusion); ``bm25`` is the passage's own
    rank-bm25 score for the query (0.0 when no query word is in it); ``semantic`` is the
    cosine similarity of the question and the passage's closest sentence (None when it
    was not computed)."""

    passage: Passage
    index: int
    fused: float
    bm25: float = 0.0
    semantic: float | None = None


class _Records(Sequence[DocumentInfo]):
    """Document records kept as plain tuples of plain values, read as DocumentInfo.

    The cyclic garbage collector stops tracking such tuples once it has seen them
    (never a tuple subclass such as a NamedTuple), so the 100,000 records of a large
    index add nothing to its full collections. As objects they made each full
    collection take 85 ms, holding the GIL a bot's event loop needs."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[tuple]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i):  # an int or a slice, as for a list
        if isinstance(i, slice):
            return [DocumentInfo._make(row) for row in self._rows[i]]
        return DocumentInfo._make(self._rows[i])


class Index:
    """Passages of a corpus with a BM25 engine over them."""

    def __init__(
        self,
        *,
        engine: BM25Engine,
        doc_engine: BM25Engine,
        texts: bytes | mmap.mmap,
        offsets: np.ndarray,
        passage_doc: np.ndarray,
        documents: Sequence[tuple],
        surfaces: dict[str, str],
        stamps: dict[str, tuple[int, int, str]],
        skipped: list[SkippedFile],
        fingerprint: str,
        sentences: SentenceVectors,
        aliases: Synonyms | None = None,
    ) -> None:
        self.engine = engine
        self.doc_engine = doc_engine
        self._texts = texts
        self._offsets = offsets
        self._passage_doc = passage_doc
        # DocumentInfo or plain tuples in its field order; kept as plain tuples
        self.documents: Sequence[DocumentInfo] = _Records([tuple(d) for d in documents])
        self._doc_by_id = {d[0]: i for i, d in enumerate(documents)}
        # the index's words, for reading questions (retrieval.query)
        self.vocabulary = Vocabulary(surfaces, engine.doc_freq, dictionary)
        # plain tuples too (see _Records): (size, mtime_ns, sha256)
        self.stamps: dict[str, tuple[int, int, str]] = {k: tuple(v) for k, v in stamps.items()}
        self.skipped = skipped
        self.fingerprint = fingerprint
        self.sentences = sentences
        # Tokenizing an article takes milliseconds; questions come back to the same ones.
        self.document_terms = lru_cache(maxsize=TERMS_CACHE)(self._document_terms)
        self.sentence_terms = lru_cache(maxsize=TERMS_CACHE)(self._sentence_terms)
        # alias groups the articles state themselves (retrieval.synonyms)
        self.aliases = aliases or Synonyms()

    # --- persistence ------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the index into directory (new, or empty but for corpusbot's marker)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.engine.save(directory / "engine")
        self.doc_engine.save(directory / "doc_engine")
        (directory / "passages.bin").write_bytes(self._texts)
        np.save(directory / "offsets.npy", self._offsets)
        np.save(directory / "passage_doc.npy", self._passage_doc)
        self.sentences.save(directory / "sentences")
        meta = {
            "format": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "documents": [
                [
                    d.doc_id,
                    d.title,
                    d.content_hash,
                    list(d.bylines),
                    d.first_passage,
                    d.passage_count,
                ]
                for d in self.documents
            ],
            "stamps": {k: list(v) for k, v in self.stamps.items()},
            "skipped": [[s.name, s.reason] for s in self.skipped],
            "surfaces": dict(self.vocabulary.surfaces),
            "aliases": [list(group) for group in self.aliases],
        }
        with (directory / "meta.json").open("w", encoding="utf-8") as fh:
            json.dump(meta, fh, ensure_ascii=False, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())

    @classmethod
    def load(cls, directory: Path) -> Index:
        """Load a saved index; raise IndexUnavailable if it is missing, partial or outdated."""
        try:
            meta = read_meta(directory)
            engine = BM25Engine.load(directory / "engine")
            doc_engine = BM25Engine.load(directory / "doc_engine")
            offsets = np.load(directory / "offsets.npy", mmap_mode="r")
            passage_doc = np.load(directory / "passage_doc.npy", mmap_mode="r")
            texts = _map_bytes(directory / "passages.bin")
            sentences = SentenceVectors.load(directory / "sentences", engine.num_passages)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexUnavailable(f"index at {directory} is unusable: {exc}") from exc
        if len(offsets) != engine.num_passages + 1 or offsets[-1] != len(texts):
            raise IndexUnavailable(f"index at {directory} is inconsistent; rebuild it")
        if doc_engine.num_passages != len(meta["documents"]):
            raise IndexUnavailable(f"index at {directory} is inconsistent; rebuild it")
        return cls(
            engine=engine,
            doc_engine=doc_engine,
            texts=texts,
            offsets=offsets,
            passage_doc=passage_doc,
            documents=[(i, t, h, tuple(b), f, c) for i, t, h, b, f, c in meta["documents"]],
            surfaces=meta["surfaces"],
            stamps={k: tuple(v) for k, v in meta["stamps"].items()},
            skipped=[SkippedFile(n, r) for n, r in meta["skipped"]],
            fingerprint=meta["fingerprint"],
            sentences=sentences,
            aliases=Synonyms(tuple(tuple(g) for g in meta["aliases"])),
        )

    # --- lookup -----------------------------------------------------------------

    @property
    def num_passages(self) -> int:
        return self.engine.num_passages

    def passage(self, i: int) -> Passage:
        doc = self.documents[int(self._passage_doc[i])]
        text = self._texts[int(self._offsets[i]) : int(self._offsets[i + 1])].decode()
        return Passage(doc.doc_id, doc.title, i - doc.first_passage, text)

    def document(self, doc_id: str) -> DocumentInfo | None:
        i = self._doc_by_id.get(doc_id)
        return None if i is None else self.documents[i]

    def document_passages(self, doc_id: str) -> list[Passage]:
        doc = self.document(doc_id)
        if doc is None:
            return []
        return [
            self.passage(i) for i in range(doc.first_passage, doc.first_passage + doc.passage_count)
        ]

    def idf(self, term: str) -> float:
        """Robertson-Sparck Jones idf of term, floored at a small positive value."""
        n = self.engine.doc_freq(term)
        total = self.engine.num_passages
        return max(float(np.log((total - n + 0.5) / (n + 0.5))), 0.05)

    # --- searching --------------------------------------------------------------

    def query_terms(self, question: str, names: Collection[str] = ()) -> QueryTerms:
        """The index terms of a question, typos corrected except in names
        (retrieval.query)."""
        return self.vocabulary.read(question, names)

    def passage_sentences(self, i: int) -> list[str]:
        """The sentences of passage i, its article's title first in the first passage."""
        return passage_sentences(self.passage(i))

    def search(
        self, query: str | QueryTerms, k: int = 5, *, vector: np.ndarray | None = None
    ) -> list[Hit]:
        """Best passages for a query, best first.

        Four rankings are fused (retrieval.fusion): passages by BM25, passages by the
        semantic similarity of their closest sentence to the question and of the whole
        passage (when the corpus was embedded whole at build time), and passages by the
        BM25 score of their whole article (an article about the question beats an aside
        in another). The semantic rankings need the question's vector (``vector``, or
        the query's own when it is text): a query given only as terms (a digest topic)
        is ranked by the two BM25 lists.
        """
        terms = self.query_terms(query) if isinstance(query, str) else query
        if vector is None and isinstance(query, str) and query.strip():
            vector = encoder().encode([query])[0]
        tokens = list(terms.terms)
        depth = max(k, RERANK_DEPTH)
        bm25 = self.engine.search(tokens, depth) if tokens else []
        docs = self.doc_engine.search(tokens, depth) if tokens else []
        semantic: list[tuple[int, float]] = []
        whole: list[tuple[int, float]] = []
        if vector is not None:
            pool = None if self.sentences.complete else [i for i, _ in bm25[:LAZY_DEPTH]]
            semantic = self.sentences.rank(vector, depth, self.passage_sentences, pool)
            whole = self.sentences.rank_passages(vector, depth)
        doc_rank = {d: r for r, (d, _) in enumerate(docs)}
        passage_doc = self._passage_doc
        fused = fuse(
            bm25=[i for i, _ in bm25],
            semantic=[i for i, _ in semantic],
            passages=[i for i, _ in whole],
            document=lambda i: doc_rank.get(int(passage_doc[i])),
        )
        if not bm25 and not semantic:
            return []
        bm25_score = dict(bm25)
        semantic_score = dict(semantic)
        return [
            Hit(
                self.passage(i),
                i,
                score,
                bm25_score.get(i, 0.0),
                semantic_score.get(i),
            )
            for i, score in fused[:k]
        ]

    def passage_terms(self, passage: Passage) -> set[str]:
        """Index terms of a passage and of its article's title."""
        return set(tokenize(f"{passage.title}\n{passage.text}"))

    def _document_terms(self, doc_id: str) -> frozenset[str]:
        """Index terms of a whole article, title included."""
        terms: set[str] = set()
        for passage in self.document_passages(doc_id):
            terms |= self.passage_terms(passage)
        return frozenset(terms)

    def _sentence_terms(self, i: int) -> tuple[frozenset[str], ...]:
        """Index terms of each of passage i's sentences (passage_sentences order)."""
        return tuple(frozenset(tokenize(s)) for s in self.passage_sentences(i))


def read_meta(directory: Path) -> dict:
    with (directory / "meta.json").open(encoding="utf-8") as fh:
        meta = json.load(fh)
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"index format {meta.get('format')} is not {FORMAT_VERSION}")
    return meta


def _map_bytes(path: Path) -> bytes | mmap.mmap:
    """Memory-map a file read-only (an empty file reads as b"")."""
    with path.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return b""
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
