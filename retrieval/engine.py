"""BM25Okapi retrieval over a precomputed impact index.

Scores equal ``rank_bm25.BM25Okapi.get_scores`` (rank-bm25 0.2.2): the idf is
``log(N - n + 0.5) - log(n + 0.5)``, terms with a negative idf get
``epsilon * average_idf`` where the average is taken over every term before
the floor, and a query term counts once per occurrence in the query.

Layout (see ``_postings``): one CSR block per term, postings in impact order
(decreasing weight) as passage ids plus run-length encoded ids into a table of
tf parts, so a weight is ``idf * gains[pair]`` computed exactly as rank-bm25
does. For exact lookups of a passage's weight, frequent terms keep a bitmap
with rank counts and the others their passage ids in passage order, split into
a directory of high parts and 16-bit low parts.

Queries with one term read the top of its list; short queries sum the postings
of the passages they touch (``_kernels.top_k_gathered``); longer ones sum every posting
of every passage, reading each term's postings in passage order (its bitmap or
passage-ordered ids, with the pair ids beside them) one block of passages at a time
into a cache-sized accumulator (for a small k, once the heap is full, leaving out the
longest lists where they cannot lift a passage to it, and looking them up for the
passages within reach), and keep the best k in a heap
(``_kernels.top_k_passage_order``); on an index small enough for one accumulator over
all passages to stay in the CPU's caches, a term at a time into it
(``_kernels.top_k_term_order``), as bm25s does: with several
frequent terms nearly every passage is a candidate, and the bookkeeping of pruning (MaxScore with a
threshold from partial or seeded exact scores) cost more than it saved in
measurements at 100k passages. Planning runs in numpy; summing runs in compiled
loops (``_kernels``). Exact lookups of single passages (``_exact``) use the
bitmaps and passage-ordered lists.
An index of fewer than _COMPILED_PASSAGES passages is scored with numpy alone and never
imports numba: loading the compiled loops (0.3-0.6 s, or seconds to compile them) would
cost a one-shot question on a small corpus more than all its scoring.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np

from retrieval._postings import Postings, build_postings

log = logging.getLogger(__name__)

FORMAT_NAME = "corpusbot-bm25-impact"
FORMAT_VERSION = 3
_META = "meta.json"
_VOCAB = "vocab.bin"
_SEP = "\x00"
# Arrays persisted as .npy files, memory-mapped on load unless small.
_ARRAYS = (
    "idf",
    "gains",
    "offsets",
    "docs",
    "run_offsets",
    "run_pairs",
    "run_stops",
    "sorted_pairs",
    "group_offsets",
    "group_highs",
    "group_starts",
    "sparse_lows",
    "dense_terms",
    "bitmaps",
    "ranks",
)
_MAPPED = frozenset(
    {"docs", "sorted_pairs", "group_highs", "group_starts", "sparse_lows", "bitmaps", "ranks"}
)
# Terms in at least this fraction of passages get a bitmap instead of a sorted list.
_DENSE_FRACTION = 1 / 16
# Up to this many postings per passage of the index a query gathers only the passages
# it touches; beyond, it sums into a dense accumulator over every passage, whose fixed
# cost (reading and clearing it, ~0.1 ms at 100k passages) the cheaper adds then repay
# (measured at 100k: 2k-5k postings 0.09 ms dense vs 0.15 gathered at k=10, below
# 2k gathering wins).
_SMALL_QUERY_SHARE = 1 / 50
# Indexes with fewer passages are scored exhaustively with numpy: every query of such an
# index touches at most this many passages, a fraction of a millisecond of numpy work,
# less than importing numba and loading the compiled loops costs a fresh process
# (about 0.5 s; see the README's performance section).
_COMPILED_PASSAGES = 20_000
# Candidate buffers of up to this many entries are kept per thread between queries:
# writing into fresh arrays costs a page fault per 4 kB, more than the arithmetic
# (gathering 93k postings: 2.0 ms into fresh arrays, 0.5 ms into reused ones).
_SCRATCH_KEEP = 1 << 18
# Memory-mapped files are read ahead on load in requests of this size: Linux reads at
# most the device's readahead window (often 128 kB) per POSIX_FADV_WILLNEED call.
_PREFETCH_BYTES = 128 << 10


class _Scratch(threading.local):
    """Per-thread reusable output buffers of the kernels."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, size: int, dtype: type) -> np.ndarray:
        """An uninitialised array of size entries; its contents are only valid until
        this thread's next get(name)."""
        if size > _SCRATCH_KEEP:
            return np.empty(size, dtype=dtype)
        array = self.arrays.get(name)
        if array is None or len(array) < size:
            capacity = min(max(size, 2 * len(array) if array is not None else 0), _SCRATCH_KEEP)
            array = self.arrays[name] = np.empty(capacity, dtype=dtype)
        return array[:size]

    def zeros(self, size: int) -> np.ndarray:
        """A float64 accumulator of size zeros, kept for this thread; whoever uses it
        leaves it all zero."""
        array = self.arrays.get("zeros")
        if array is None or len(array) != size:
            array = self.arrays["zeros"] = np.zeros(size)
        return array

    def table(self, size: int) -> np.ndarray:
        """A float64 array of size entries kept for this thread, contents undefined."""
        array = self.arrays.get("table")
        if array is None or len(array) != size:
            array = self.arrays["table"] = np.empty(size)
        return array


_scratch = _Scratch()


class _Term(NamedTuple):
    """A distinct query term present in the index."""

    start: int  # block in docs
    stop: int
    runs: int  # first run of equal pair ids in run_pairs/run_stops
    runs_stop: int
    mult: int  # occurrences in the query
    idf: float
    slot: int  # bitmap row, or -1
    groups: int  # first group of its passage-ordered ids (none if it has a bitmap)
    groups_stop: int


class BM25Engine:
    """Exact BM25Okapi scores (rank_bm25 semantics) from a precomputed impact index."""

    k1: float
    b: float
    epsilon: float

    def __init__(self, postings: Postings, *, k1: float, b: float, epsilon: float) -> None:
        self._p = postings
        # Read-only plain ndarray views, whether built in memory or memory-mapped:
        # memmap's Python-level indexing hooks cost more than the small lookups the
        # query path makes, and the compiled kernels then see one array type.
        for name in (*_MAPPED, "gains", "idf", "offsets", "run_offsets", "run_pairs", "run_stops"):
            view = getattr(postings, name).view(np.ndarray)
            view.flags.writeable = False
            setattr(self, f"_{name}", view)
        self._group_offsets = postings.group_offsets.view(np.ndarray)
        self._slot = np.full(len(postings.vocab), -1, dtype=np.int64)
        self._slot[postings.dense_terms] = np.arange(len(postings.dense_terms))
        self._n = postings.num_passages
        self.avgdl = postings.avgdl
        self.average_idf = postings.average_idf
        self.k1 = k1
        self.b = b
        self.epsilon = epsilon
        # load(): the thread reading the memory-mapped files into the page cache
        self.prefetch: threading.Thread | None = None

    @classmethod
    def build(
        cls,
        corpus_tokens: Sequence[Sequence[str]],
        *,
        k1: float = 1.5,
        b: float = 0.75,
        epsilon: float = 0.25,
    ) -> BM25Engine:
        """Index tokenised passages; passage i of the corpus is result index i."""
        postings = build_postings(corpus_tokens, k1, b, epsilon, _DENSE_FRACTION)
        log.info(
            "indexed %d passages, %d terms, %d postings",
            postings.num_passages,
            len(postings.vocab),
            len(postings.docs),
        )
        engine = cls(postings, k1=k1, b=b, epsilon=epsilon)
        engine.warm_up()
        return engine

    @property
    def compiled(self) -> bool:
        """Whether queries run the compiled loops (a large index) or numpy alone."""
        return self._n >= _COMPILED_PASSAGES

    def warm_up(self) -> None:
        """Compile the query kernels for this index's array types, or load them from
        numba's on-disk cache: the first process after an install pays a few seconds
        of compilation, so building or loading an index pays it rather than the first
        question. An index scored with numpy alone needs none."""
        if not self.compiled:
            return
        none = np.zeros(0, dtype=np.int64)
        self._search_gathered(none, none, 1, 1)
        self._exact([], none)
        self._search_lists(none, none, 1)
        self._search_lists(none, none, 100)  # large k on a small index: term order

    # ---------------------------------------------------------------- lookups

    @property
    def num_passages(self) -> int:
        return self._n

    def vocabulary(self) -> Sequence[str]:
        """Every indexed term (used for typo-tolerant query expansion)."""
        return self._p.vocab

    @cached_property
    def _term_ids(self) -> dict[str, int]:
        return {term: i for i, term in enumerate(self._p.vocab)}

    def doc_freq(self, term: str) -> int:
        """Passages containing term, 0 if unknown."""
        tid = self._term_ids.get(term)
        if tid is None:
            return 0
        return int(self._offsets[tid + 1] - self._offsets[tid])

    def _query_terms(self, query_tokens: Sequence[str]) -> list[_Term]:
        ids = self._term_ids
        out = []
        for token, mult in Counter(query_tokens).items():
            tid = ids.get(token)
            if tid is None:
                continue
            start, stop = int(self._offsets[tid]), int(self._offsets[tid + 1])
            if stop > start:
                idf = float(self._idf[tid])
                slot = int(self._slot[tid])
                runs, runs_stop = int(self._run_offsets[tid]), int(self._run_offsets[tid + 1])
                groups = int(self._group_offsets[tid])
                groups_stop = int(self._group_offsets[tid + 1])
                out.append(
                    _Term(start, stop, runs, runs_stop, mult, idf, slot, groups, groups_stop)
                )
        # fewest postings first, as the compiled loops order them (_shortest_first): a
        # passage's weights are summed in this order on every path
        out.sort(key=lambda term: term.stop - term.start)
        return out

    def _weights(self, term: _Term, count: int) -> np.ndarray:
        """Query-weighted BM25 weights of the term's first count impact postings."""
        stops = self._run_stops[term.runs : term.runs_stop]
        last = int(np.searchsorted(stops, count, side="left"))
        lengths = np.diff(stops[: last + 1], prepend=0)
        lengths[-1] -= int(stops[last]) - count
        gains = self._gains[self._run_pairs[term.runs : term.runs + last + 1]]
        weights = np.repeat(term.idf * gains, lengths)
        return weights * term.mult if term.mult != 1 else weights

    def _best(self, term: _Term) -> float:
        """Largest query-weighted weight of the term (never below zero)."""
        gain = float(self._gains[self._run_pairs[term.runs]])
        return max(term.mult * term.idf * gain, 0.0)

    # ---------------------------------------------------------------- scoring

    def get_scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Dense scores for every passage, equal to rank_bm25.BM25Okapi.get_scores."""
        scores = np.zeros(self._n)
        for term in self._query_terms(query_tokens):
            docs = self._docs[term.start : term.stop]
            scores[docs] += self._weights(term, term.stop - term.start)
        return scores

    def search(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(passage index, score) best first, at most k, only passages that contain at least
        one query term; ties broken by lower passage index."""
        if k <= 0:
            return []
        if self.compiled:
            ids = self._term_ids
            known = [
                (tid, mult)
                for token, mult in Counter(query_tokens).items()
                if (tid := ids.get(token)) is not None
            ]
            if not known:
                return []
            tids = np.array([tid for tid, _ in known], dtype=np.int64)
            mults = np.array([mult for _, mult in known], dtype=np.int64)
            least = _SMALL_QUERY_SHARE * self._n
            if len(known) > 1:
                found = self._search_lists(tids, mults, k, least)
                if found is not None:
                    return found
            # at most least postings (or one list): gather the passages they touch
            return self._search_gathered(tids, mults, k, int(least) + 1)
        terms = self._query_terms(query_tokens)
        if not terms:
            return []
        if len(terms) == 1 and terms[0].idf > 0:
            # impact order is the answer: weight descending, then passage ascending
            term = terms[0]
            hi = min(k, term.stop - term.start)
            docs = self._docs[term.start : term.start + hi]
            return list(zip(docs.tolist(), self._weights(term, hi).tolist(), strict=True))
        return self._search_numpy(terms, k)

    def _search_numpy(self, terms: list[_Term], k: int) -> list[tuple[int, float]]:
        """Exhaustive scoring with numpy, for small indexes: weights are computed and
        summed in list order with the same float operations as the compiled loops, so
        the results are the same."""
        scores = np.zeros(self._n)
        touched = np.zeros(self._n, dtype=bool)
        for term in terms:
            docs = self._docs[term.start : term.stop]
            scores[docs] += self._weights(term, term.stop - term.start)
            touched[docs] = True
        cand = np.flatnonzero(touched)
        return _top_k(cand, scores[cand], k)

    def _kernel_lists(self, terms: list[_Term]) -> tuple[np.ndarray, ...]:
        """Per-list arrays the complete kernel reads."""
        return (
            np.array([t.start for t in terms], dtype=np.int64),
            np.array([t.idf for t in terms]),
            np.array([t.mult for t in terms], dtype=np.int64),
            np.array([t.slot for t in terms], dtype=np.int64),
            np.array([t.groups for t in terms], dtype=np.int64),
            np.array([t.groups_stop for t in terms], dtype=np.int64),
        )

    def _complete(
        self,
        terms: list[_Term],
        cand: np.ndarray,
        partial: np.ndarray,
        seen: np.ndarray,
        missing: np.ndarray,
        k: int,
        budget: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact scores of the candidates that can still reach budget (see
        _kernels.complete); missing[j] is 0 for lists read whole. The results are
        per-thread buffers, valid until the thread's next _complete."""
        num = len(terms)
        probes = np.array(
            sorted((j for j in range(num) if missing[j] > 0), key=lambda j: -missing[j]),
            dtype=np.int64,
        )
        absent = (np.arange(1 << num)[:, None] >> np.arange(num)) & 1 == 0
        out_docs = _scratch.get("out_docs", len(cand), np.int64)
        out_scores = _scratch.get("out_scores", len(cand), np.float64)
        from retrieval._kernels import complete

        found = complete(
            cand,
            partial,
            seen,
            probes,
            missing,
            absent @ missing,
            k,
            budget,
            self._kernel_lists(terms),
            (
                self._bitmaps,
                self._ranks,
                self._sorted_pairs,
                self._group_highs,
                self._group_starts,
                self._sparse_lows,
                self._gains,
            ),
            out_docs,
            out_scores,
        )
        return out_docs[:found], out_scores[:found]

    def _exact(self, terms: list[_Term], cand: np.ndarray) -> np.ndarray:
        """Exact scores of the passages in cand."""
        cand = cand.astype(np.int64, copy=False)
        size = len(cand)
        # every list is probed (nonzero bounds); nothing is pruned below budget -inf
        missing = np.ones(len(terms))
        _, scores = self._complete(
            terms, cand, np.zeros(size), np.zeros(size, dtype=np.int64), missing, 0, -math.inf
        )
        return scores.copy()

    def _search_gathered(
        self, tids: np.ndarray, mults: np.ndarray, k: int, size: int
    ) -> list[tuple[int, float]]:
        """Top k of the given terms (ids and query multiplicities, int64 arrays) from the
        passages their lists touch (_kernels.top_k_gathered), with candidate buffers of
        size entries, or as many as the lists' passages if that is too few."""
        from retrieval import _kernels

        k = min(k, self._n)
        out_docs = _scratch.get("top_docs", k, np.int64)
        out_scores = _scratch.get("top_scores", k, np.float64)
        arrays = (
            self._offsets,
            self._run_offsets,
            self._idf,
            self._docs,
            self._run_pairs,
            self._run_stops,
            self._gains,
            self._n,
            k,
        )
        while True:
            size = min(size, self._n)
            found = _kernels.top_k_gathered(
                tids,
                mults,
                *arrays,
                _scratch.get("cand", size, np.int64),
                _scratch.get("partial", size, np.float64),
                _scratch.get("seen", size, np.int64),
                out_docs,
                out_scores,
            )
            if found >= 0:
                return list(
                    zip(out_docs[:found].tolist(), out_scores[:found].tolist(), strict=True)
                )
            size = int(self._offsets[tids + 1].sum() - self._offsets[tids].sum())

    def _search_lists(
        self, tids: np.ndarray, mults: np.ndarray, k: int, least: float = -1.0
    ) -> list[tuple[int, float]] | None:
        """Top k of the given terms (ids and query multiplicities, int64 arrays) by
        summing every posting block by block of passages in passage order (see
        _kernels.top_k_passage_order; a term at a time on a small index,
        _kernels.top_k_term_order), or None if they have no more than least postings.
        The kernel reads the per-term entries itself and sorts its answer: gathering
        them with numpy, summing the list lengths and sorting with lexsort
        cost 15-20 us of a 0.2 ms query."""
        from retrieval import _kernels

        k = min(k, self._n)
        out_docs = _scratch.get("top_docs", k, np.int64)
        out_scores = _scratch.get("top_scores", k, np.float64)
        arrays = (
            self._offsets,
            self._run_offsets,
            self._idf,
            self._slot,
            self._group_offsets,
            self._run_pairs,
            self._gains,
            self._sorted_pairs,
            self._bitmaps,
            self._ranks,
            self._group_highs,
            self._group_starts,
            self._sparse_lows,
        )
        term_order_limit = (
            _kernels._CHUNK_SELECT_PASSAGES
            if k >= _kernels._CHUNK_SELECT_K
            else _kernels._TERM_ORDER_PASSAGES
        )
        if self._n <= term_order_limit:
            # an accumulator that stays in the CPU's caches: see _kernels.top_k_term_order
            found = _kernels.top_k_term_order(
                tids,
                mults,
                least,
                *arrays,
                k,
                _scratch.zeros(self._n),
                _scratch.table(len(self._gains)),
                out_docs,
                out_scores,
            )
        else:
            found = _kernels.top_k_passage_order(
                tids,
                mults,
                least,
                *arrays,
                self._n,
                k,
                out_docs,
                out_scores,
                _scratch.get("pruned", 1, np.int64),  # blocks that left lists out
            )
        if found < 0:
            return None
        return list(zip(out_docs[:found].tolist(), out_scores[:found].tolist(), strict=True))

    # ------------------------------------------------------------ persistence

    def save(self, directory: Path) -> None:
        """Write the index files into directory (created if needed).

        The metadata file is removed first and written last (atomically), so an
        interrupted save leaves a directory that load() rejects.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta_path = directory / _META
        with contextlib.suppress(FileNotFoundError):
            meta_path.unlink()
        _fsync_dir(directory)

        vocab = self._p.vocab
        if any(_SEP in term for term in vocab):
            raise ValueError("vocabulary terms must not contain NUL characters")
        vocab_blob = _SEP.join(vocab).encode("utf-8")
        _write_file(directory / _VOCAB, vocab_blob)
        arrays = {}
        for name in _ARRAYS:
            array = np.ascontiguousarray(getattr(self._p, name))
            with open(directory / f"{name}.npy", "wb") as fh:
                np.save(fh, array)
                fh.flush()
                os.fsync(fh.fileno())
            arrays[name] = {"dtype": array.dtype.str, "shape": list(array.shape)}
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "k1": self.k1,
            "b": self.b,
            "epsilon": self.epsilon,
            "num_passages": self._n,
            "avgdl": self.avgdl,
            "average_idf": self.average_idf,
            "num_terms": len(vocab),
            "vocab_bytes": len(vocab_blob),
            "vocab_crc32": zlib.crc32(vocab_blob),
            "offsets_crc32": zlib.crc32(np.ascontiguousarray(self._offsets).data),
            "arrays": arrays,
        }
        tmp = directory / (_META + ".tmp")
        _write_file(tmp, json.dumps(meta, indent=2).encode("utf-8"))
        os.replace(tmp, meta_path)
        _fsync_dir(directory)

    @classmethod
    def load(cls, directory: Path) -> BM25Engine:
        """Open an index written by save(), memory-mapping the posting arrays and reading
        them into the page cache in a background thread (``prefetch``).

        Raises ValueError for a missing, incomplete, corrupt or incompatible index.
        """
        directory = Path(directory)
        try:
            return cls._load(directory)
        except ValueError:
            raise
        except (OSError, EOFError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot load BM25 index from {directory}: {exc}") from exc

    @classmethod
    def _load(cls, directory: Path) -> BM25Engine:
        def bad(reason: str) -> ValueError:
            return ValueError(f"invalid BM25 index in {directory}: {reason}")

        meta_path = directory / _META
        if not meta_path.is_file():
            raise bad(f"{_META} is missing (not an index, or an interrupted save)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise bad(f"{_META} is not valid JSON ({exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise bad("unknown index format")
        if meta.get("version") != FORMAT_VERSION:
            raise bad(f"format version {meta.get('version')!r}, expected {FORMAT_VERSION}")

        num_terms = int(meta["num_terms"])
        blob = (directory / _VOCAB).read_bytes()
        if len(blob) != meta["vocab_bytes"] or zlib.crc32(blob) != meta["vocab_crc32"]:
            raise bad("vocabulary file is truncated or corrupt")
        vocab = blob.decode("utf-8").split(_SEP) if num_terms else []
        if len(vocab) != num_terms:
            raise bad(f"vocabulary has {len(vocab)} terms, expected {num_terms}")

        arrays = {}
        for name in _ARRAYS:
            path = directory / f"{name}.npy"
            expected = meta["arrays"][name]
            try:
                array = np.load(
                    path, mmap_mode="r" if name in _MAPPED else None, allow_pickle=False
                )
            except FileNotFoundError as exc:
                raise bad(f"{path.name} is missing") from exc
            except ValueError as exc:
                raise bad(f"{path.name} is truncated or corrupt ({exc})") from exc
            if array.dtype.str != expected["dtype"] or list(array.shape) != expected["shape"]:
                raise bad(f"{path.name} has {array.dtype}{array.shape}, expected {expected}")
            arrays[name] = array
        offsets = arrays["offsets"]
        if zlib.crc32(offsets.data) != meta["offsets_crc32"]:
            raise bad("offsets.npy is corrupt")
        num_postings = len(arrays["docs"])
        if (
            len(offsets) != num_terms + 1
            or offsets[0] != 0
            or offsets[-1] != num_postings
            or np.any(np.diff(offsets) < 0)
            or len(arrays["run_offsets"]) != num_terms + 1
            or arrays["run_offsets"][-1] != len(arrays["run_pairs"])
            or len(arrays["run_stops"]) != len(arrays["run_pairs"])
            or len(arrays["sorted_pairs"]) != num_postings
            or len(arrays["group_offsets"]) != num_terms + 1
            or arrays["group_offsets"][-1] != len(arrays["group_highs"])
            or len(arrays["group_starts"]) != len(arrays["group_highs"]) + 1
            or arrays["group_starts"][-1] != len(arrays["sparse_lows"])
        ):
            raise bad("array sizes are inconsistent")
        postings = Postings(
            vocab=vocab,
            num_passages=int(meta["num_passages"]),
            avgdl=float(meta["avgdl"]),
            average_idf=float(meta["average_idf"]),
            **arrays,
        )
        engine = cls(
            postings, k1=float(meta["k1"]), b=float(meta["b"]), epsilon=float(meta["epsilon"])
        )
        engine.prefetch = _start_prefetch(
            [directory / f"{name}.npy" for name in _ARRAYS if name in _MAPPED]
        )
        engine.warm_up()
        return engine


def _top_k(cand: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Best k of (passage ids, scores): score descending, then lower id."""
    if len(cand) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = np.flatnonzero(scores >= kth)
        cand, scores = cand[keep], scores[keep]
    order = np.lexsort((cand, -scores))[:k]
    return list(zip(cand[order].tolist(), scores[order].tolist(), strict=True))


def _prefetch(paths: Sequence[Path]) -> None:
    """Ask the kernel to read files into the page cache (no-op where posix_fadvise is
    missing). An index whose files are not cached (a restart, a build written long ago
    or pushed out by other work) otherwise reads each page of its memory-mapped arrays
    from disk when a question first touches it: measured at 1M passages with the page
    cache dropped, rare questions took 13-14 ms instead of 0.1-0.3 ms and general ones
    up to 87 ms, one major fault at a time."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            size = os.fstat(fd).st_size
            for offset in range(0, size, _PREFETCH_BYTES):
                advise(fd, offset, _PREFETCH_BYTES, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def _start_prefetch(paths: Sequence[Path]) -> threading.Thread:
    """Run _prefetch in a daemon thread: the advice calls wait on the device when its
    queue is full (about 0.1 s for 330 MB here, seconds on a slow disk), which load
    should not."""
    thread = threading.Thread(
        target=_prefetch, args=(list(paths),), name="bm25-prefetch", daemon=True
    )
    thread.start()
    return thread


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compile_kernels() -> None:
    """Compile the query kernels into numba's on-disk cache (``NUMBA_CACHE_DIR``, or
    ``__pycache__`` beside ``retrieval/_kernels.py``) for every array type an index
    can have, so no later process compiles: run at install time (``python -m
    retrieval.engine``) by deploy/install.sh, the Docker image and the systemd unit."""
    corpus = [[f"t{i % 7}", f"u{i % 3}", "all"] for i in range(64)]
    postings = build_postings(corpus, 1.5, 0.75, 0.25, _DENSE_FRACTION)
    # pair ids are uint16 up to 65,536 distinct tf parts, uint32 beyond
    for dtype in (np.uint16, np.uint32):
        postings.run_pairs = postings.run_pairs.astype(dtype)
        postings.sorted_pairs = postings.sorted_pairs.astype(dtype)
        engine = BM25Engine(postings, k1=1.5, b=0.75, epsilon=0.25)
        none = np.zeros(0, dtype=np.int64)
        engine._search_gathered(none, none, 1, 1)
        engine._exact([], none)
        engine._search_lists(none, none, 1)
        engine._search_lists(none, none, 64)  # term order: large k, small index


if __name__ == "__main__":
    compile_kernels()
