"""Building an index from a corpus folder, and opening the live build.

An index lives in a root folder with one sub-folder per build and a ``CURRENT`` file
naming the live one (retrieval._store). A build is written to its own folder and only
then does ``CURRENT`` switch to it (an atomic rename), so a crash mid-build leaves the
previous index serving, and readers never see half a build. Whether a rebuild is needed
is decided by content hashes of the corpus files; file size and modification time only
spare re-hashing files that did not change since the last build.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from retrieval import _store
from retrieval.corpus import Document, SkippedFile, list_article_files, load_corpus
from retrieval.engine import BM25Engine
from retrieval.index import FORMAT_VERSION, DocumentInfo, Index, IndexUnavailable, read_meta
from retrieval.passages import make_passages
from retrieval.semantic import SentenceVectors
from retrieval.synonyms import Synonyms, learn_aliases
from retrieval.text import analyze

__all__ = [
    "BuildReport",
    "FileStamp",
    "build_index",
    "index_folder_problem",
    "open_index",
    "scan_corpus",
]

log = logging.getLogger(__name__)

# A build's token lists are freed about this many tokens at a time (see _release).
_RELEASE_TOKENS = 500_000
_OBJECT_TOKENS = 100

Progress = Callable[[str, int, int], None]


class FileStamp(NamedTuple):
    size: int
    mtime_ns: int
    sha256: str


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


def build_index(
    documents: Sequence[Document],
    *,
    stamps: dict[str, FileStamp] | None = None,
    skipped: Sequence[SkippedFile] = (),
    progress: Progress | None = None,
) -> Index:
    """Chunk, tokenize and index documents (CPU-bound: call it off the event loop)."""
    with _gc_paused():
        return _build(documents, stamps=stamps, skipped=skipped, progress=progress)


def _build(
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
    return Index(
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


def _current_dir(root: Path) -> Path | None:
    return _store.current_build(root)


def _previous_build(root: Path) -> tuple[dict[str, FileStamp], dict[str, str]]:
    """File stamps and {doc_id: content hash} of the live build, empty if there is none."""
    current = _current_dir(root)
    if current is None:
        return {}, {}
    try:
        meta = read_meta(current)
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


def index_folder_problem(root: Path) -> str | None:
    """Why root cannot hold the index, or None; a usable folder is claimed (made if
    missing) as open_index would."""
    try:
        _store.claim_root(root)
    except _store.IndexFolderError as exc:
        return str(exc)
    return None


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
    index = build_index(loaded.documents, stamps=stamps, skipped=loaded.skipped, progress=progress)
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
