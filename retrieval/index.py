"""The searchable index: passages, their BM25 engine, and persistence on disk.

An index lives in a root folder with one sub-folder per build and a ``CURRENT`` file
naming the live one. A build is written to its own folder and only then does ``CURRENT``
switch to it (an atomic rename), so a crash mid-build leaves the previous index serving,
and readers never see half a build. Whether a rebuild is needed is decided by content
hashes of the corpus files; file size and modification time only spare re-hashing files
that did not change since the last build.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import mmap
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from retrieval import _store
from retrieval.corpus import Document, SkippedFile, list_article_files, load_corpus
from retrieval.engine import BM25Engine
from retrieval.fusion import fuse
from retrieval.passages import Passage, make_passages, passage_sentences
from retrieval.semantic import SentenceVectors, encoder
from retrieval.synonyms import Synonyms, learn_aliases
from retrieval.text import analyze, tokenize

__all__ = [
    "BuildReport",
    "Hit",
    "Index",
    "IndexUnavailable",
    "QueryTerms",
    "open_index",
]

log = logging.getLogger(__name__)

# Bump when cleaning, passage or tokenizer rules change: old builds are then rebuilt.
FORMAT_VERSION = 4
# A build's token lists are freed about this many tokens at a time (see _release).
_RELEASE_TOKENS = 500_000
_OBJECT_TOKENS = 100
# Ranking: how many passages each signal contributes to the fusion.
RERANK_DEPTH = 100
# Without sentence vectors for the whole corpus (see SentenceVectors), how many of the
# best BM25 passages get their sentences embedded at query time.
LAZY_DEPTH = 5
# Articles and passages whose terms are kept once computed.
TERMS_CACHE = 4096

Progress = Callable[[str, int, int], None]


class IndexUnavailable(Exception):
    """The index cannot be built or loaded; the message says why."""


class FileStamp(NamedTuple):
    size: int
    mtime_ns: int
    sha256: str


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


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """What a question turned into: index terms, typo corrections and unknown words."""

    terms: tuple[str, ...]  # index terms in query order, after corrections
    surfaces: tuple[str, ...]  # the words they came from (corrected spelling)
    corrections: dict[str, str]  # typed word -> corrected word
    unknown: tuple[str, ...]  # typed words the index has never seen, even corrected


@dataclass(slots=True)
class BuildReport:
    """What opening or rebuilding the index did."""

    documents: int
    passages: int
    skipped: list[SkippedFile]
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rebuilt: bool = True
    seconds: float = 0.0


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while reading, building and saving.

    A build allocates millions of small acyclic objects (token lists), and the full
    collections they trigger hold the GIL for a tenth of a second or more, stalling a
    bot's event loop that keeps answering during a reindex. Reference counting still
    frees them; collection resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _release(items: list) -> None:
    """Empty a large list a slice at a time, about _RELEASE_TOKENS tokens per slice
    (an object other than a token list counts as _OBJECT_TOKENS). Freeing a build's
    millions of objects in one go holds the GIL for as long (0.4 s for 100,000
    articles), while between slices a bot's event loop, which keeps answering during a
    reindex, gets its turn."""
    total = sum(len(item) if isinstance(item, list) else _OBJECT_TOKENS for item in items)
    step = max(1, _RELEASE_TOKENS * len(items) // max(total, 1))
    while items:
        del items[-step:]


def scan_corpus(folder: Path, previous: dict[str, FileStamp]) -> dict[str, FileStamp]:
    """Stamp every article file, re-hashing only files whose size or mtime changed."""
    stamps: dict[str, FileStamp] = {}
    for path in list_article_files(folder):
        try:
            st = path.stat()
            old = previous.get(path.name)
            if old and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
                stamps[path.name] = old
            else:
                stamps[path.name] = FileStamp(st.st_size, st.st_mtime_ns, _store.file_sha256(path))
        except OSError:
            stamps[path.name] = FileStamp(-1, -1, "unreadable")
    return stamps


def _fingerprint(stamps: dict[str, FileStamp]) -> str:
    digest = hashlib.sha256(f"corpusbot-index-v{FORMAT_VERSION}".encode())
    for name in sorted(stamps):
        digest.update(f"{name}\0{stamps[name].sha256}\n".encode())
    return digest.hexdigest()


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
        self._surfaces = surfaces
        self._surface_list: list[str] | None = None
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

    # --- building ---------------------------------------------------------------

    @classmethod
    def build(
        cls,
        documents: Sequence[Document],
        *,
        stamps: dict[str, FileStamp] | None = None,
        skipped: Sequence[SkippedFile] = (),
        progress: Progress | None = None,
    ) -> Index:
        """Chunk, tokenize and index documents (CPU-bound: call it off the event loop)."""
        with _gc_paused():
            return cls._build(documents, stamps=stamps, skipped=skipped, progress=progress)

    @classmethod
    def _build(
        cls,
        documents: Sequence[Document],
        *,
        stamps: dict[str, FileStamp] | None,
        skipped: Sequence[SkippedFile],
        progress: Progress | None,
    ) -> Index:
        passages = make_passages(documents)
        corpus_tokens: list[list[str]] = []
        doc_tokens: dict[str, list[str]] = {}
        surfaces: dict[str, str] = {}
        total = len(passages)
        for n, passage in enumerate(passages, 1):
            # The title belongs to the article's first passage; repeating it in every
            # passage would make title words look common in long articles.
            text = f"{passage.title}\n{passage.text}" if passage.position == 0 else passage.text
            pairs = analyze(text)
            for surface, term in pairs:
                surfaces.setdefault(surface, term)
            tokens = [term for _, term in pairs]
            corpus_tokens.append(tokens)
            doc_tokens.setdefault(passage.doc_id, []).extend(tokens)
            if progress is not None and (n % 1000 == 0 or n == total):
                progress("tokenizing", n, total)
        if progress is not None:
            progress("scoring", 0, 1)
        engine = BM25Engine.build(corpus_tokens)
        _release(corpus_tokens)
        doc_lists = [doc_tokens.pop(d.doc_id, []) for d in documents]
        doc_engine = BM25Engine.build(doc_lists)
        _release(doc_lists)
        if progress is not None:
            progress("scoring", 1, 1)
        encoded = [p.text.encode() for p in passages]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        infos: list[DocumentInfo] = []
        doc_index = {d.doc_id: i for i, d in enumerate(documents)}
        counts = [0] * len(documents)
        for p in passages:
            counts[doc_index[p.doc_id]] += 1
        start = 0
        for doc, count in zip(documents, counts, strict=True):
            infos.append(
                DocumentInfo(doc.doc_id, doc.title, doc.content_hash, doc.bylines, start, count)
            )
            start += count
        passage_doc = np.repeat(np.arange(len(documents), dtype=np.int32), counts)
        texts = b"".join(encoded)
        _release(encoded)
        sentences = SentenceVectors.build(passages, progress=progress)
        aliases = Synonyms().merged(learn_aliases(p.text for p in passages))
        _release(passages)
        stamps = stamps or {}
        return cls(
            engine=engine,
            doc_engine=doc_engine,
            texts=texts,
            offsets=offsets,
            passage_doc=passage_doc,
            documents=infos,
            surfaces=surfaces,
            stamps=stamps,
            skipped=list(skipped),
            fingerprint=_fingerprint(stamps),
            sentences=sentences,
            aliases=aliases,
        )

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
            "surfaces": self._surfaces,
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
            meta = _read_meta(directory)
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

    def _correct(self, word: str) -> str | None:
        """The closest indexed word to an unknown one (typo tolerance), or None."""
        if len(word) < 5 or not word.isalpha():
            return None
        if self._surface_list is None:
            self._surface_list = list(self._surfaces)
        max_distance = 1 if len(word) <= 6 else 2
        matches = process.extract(
            word,
            self._surface_list,
            scorer=Levenshtein.distance,
            score_cutoff=max_distance,
            limit=10,
        )
        if not matches:
            return None
        # Closest first; among equally close words the one in more passages.
        best = min(matches, key=lambda m: (m[1], -self.engine.doc_freq(self._surfaces[m[0]]), m[0]))
        return best[0]

    def query_terms(self, question: str) -> QueryTerms:
        """Turn a question into index terms, correcting words the index has never seen."""
        terms: list[str] = []
        surfaces: list[str] = []
        corrections: dict[str, str] = {}
        unknown: list[str] = []
        for surface, term in analyze(question):
            if self.engine.doc_freq(term) == 0:
                fixed = self._correct(surface)
                if fixed is None:
                    unknown.append(surface)
                else:
                    corrections[surface] = fixed
                    surface, term = fixed, self._surfaces[fixed]
            terms.append(term)
            surfaces.append(surface)
        return QueryTerms(tuple(terms), tuple(surfaces), corrections, tuple(unknown))

    def passage_sentences(self, i: int) -> list[str]:
        """The sentences of passage i, its article's title first in the first passage."""
        return passage_sentences(self.passage(i))

    def search(
        self, query: str | QueryTerms, k: int = 5, *, vector: np.ndarray | None = None
    ) -> list[Hit]:
        """Best passages for a query, best first.

        Three rankings are fused (retrieval.fusion): passages by BM25, passages by the
        semantic similarity of their closest sentence to the question, and passages by
        the BM25 score of their whole article (an article about the question beats an
        aside in another). The semantic ranking needs the question's vector (``vector``,
        or the query's own when it is text): a query given only as terms (a digest
        topic) is ranked by the two BM25 lists.
        """
        terms = self.query_terms(query) if isinstance(query, str) else query
        if vector is None and isinstance(query, str) and query.strip():
            vector = encoder().encode([query])[0]
        tokens = list(terms.terms)
        depth = max(k, RERANK_DEPTH)
        bm25 = self.engine.search(tokens, depth) if tokens else []
        docs = self.doc_engine.search(tokens, depth) if tokens else []
        semantic: list[tuple[int, float]] = []
        if vector is not None:
            pool = None if self.sentences.complete else [i for i, _ in bm25[:LAZY_DEPTH]]
            semantic = self.sentences.rank(vector, depth, self.passage_sentences, pool)
        doc_rank = {d: r for r, (d, _) in enumerate(docs)}
        passage_doc = self._passage_doc
        fused = fuse(
            bm25=[i for i, _ in bm25],
            semantic=[i for i, _ in semantic],
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


def _read_meta(directory: Path) -> dict:
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


def _current_dir(root: Path) -> Path | None:
    return _store.current_build(root)


def _previous_build(root: Path) -> tuple[dict[str, FileStamp], dict[str, str]]:
    """File stamps and {doc_id: content hash} of the live build, empty if there is none."""
    current = _current_dir(root)
    if current is None:
        return {}, {}
    try:
        meta = _read_meta(current)
        stamps = {k: FileStamp(*v) for k, v in meta["stamps"].items()}
        return stamps, {d[0]: d[2] for d in meta["documents"]}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return {}, {}


def _publish(index: Index, root: Path) -> Path:
    """Save index as a new build under root, with a manifest of checksums, and make it
    CURRENT atomically; older builds of corpusbot's own are pruned."""
    return _store.publish(root, f"build-{index.fingerprint[:12]}", index.save)


def open_index(
    corpus: Path,
    root: Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> tuple[Index, BuildReport]:
    """Load the index for corpus from root, rebuilding it only if the corpus changed.

    Raises CorpusError for an unusable corpus folder and IndexUnavailable if nothing can be
    indexed. CPU-bound when it rebuilds: call it off the event loop.
    """
    with _gc_paused():
        return _open_index(corpus, root, force=force, progress=progress)


def _open_index(
    corpus: Path, root: Path, *, force: bool, progress: Progress | None
) -> tuple[Index, BuildReport]:
    started = time.perf_counter()
    try:
        _store.claim_root(root)
    except _store.IndexFolderError as exc:
        raise IndexUnavailable(str(exc)) from None
    previous, old = _previous_build(root)
    stamps = scan_corpus(corpus, previous)
    fingerprint = _fingerprint(stamps)
    with _store.reading(root) as current:
        if not force and current is not None:
            try:
                _store.verify_build(current)
                index = Index.load(current)
            except (IndexUnavailable, _store.IndexFolderError) as exc:
                log.warning("rebuilding the index: %s", exc)
            else:
                if index.fingerprint == fingerprint:
                    _store.serve(root, current)
                    return index, BuildReport(
                        documents=len(index.documents),
                        passages=index.num_passages,
                        skipped=index.skipped,
                        rebuilt=False,
                        seconds=time.perf_counter() - started,
                    )

    def on_file(n: int, total: int) -> None:
        if progress is not None:
            progress("reading", n, total)

    loaded = load_corpus(corpus, progress=on_file)
    if not loaded.documents:
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in loaded.skipped[:5])
        detail = f" (skipped {reasons})" if reasons else ""
        raise IndexUnavailable(f"no usable articles in {corpus}{detail}")
    index = Index.build(loaded.documents, stamps=stamps, skipped=loaded.skipped, progress=progress)
    try:
        _publish(index, root)
    except OSError as exc:
        # Still usable from memory; the next start builds again.
        log.warning("could not save the index to %s: %s", root, exc)
    new = {d.doc_id: d.content_hash for d in loaded.documents}
    _release(loaded.documents)
    report = BuildReport(
        documents=len(new),
        passages=index.num_passages,
        skipped=loaded.skipped,
        added=sorted(set(new) - set(old)),
        changed=sorted(d for d in set(new) & set(old) if new[d] != old[d]),
        removed=sorted(set(old) - set(new)),
        seconds=time.perf_counter() - started,
    )
    return index, report
