"""BM25Okapi retrieval over a precomputed impact index.

Scores equal ``rank_bm25.BM25Okapi.get_scores`` (rank-bm25 0.2.2): the idf is
``log(N - n + 0.5) - log(n + 0.5)``, terms with a negative idf get
``epsilon * average_idf`` where the average is taken over every term before
the floor, and a query term counts once per occurrence in the query.

Layout: one CSR block per term. Within a term, ``docs``/``weights`` list the
postings by descending weight (impact order), which lets ``search`` skip
passages that provably cannot reach the top k; ``sorted_docs``/``sorted_pos``
list the same postings by passage id, for exact score lookups of candidates.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from functools import cached_property
from itertools import chain, count, islice
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FORMAT_NAME = "corpusbot-bm25-impact"
FORMAT_VERSION = 1
_META = "meta.json"
_VOCAB = "vocab.bin"
_SEP = "\x00"
# name -> dtype of the arrays persisted as .npy files
_ARRAYS = {
    "offsets": np.dtype(np.int64),
    "docs": np.dtype(np.int32),
    "weights": np.dtype(np.float64),
    "sorted_docs": np.dtype(np.int32),
    "sorted_pos": np.dtype(np.int32),
}
_BUILD_CHUNK_TOKENS = 4_000_000
# Postings examined per query term to seed the pruning threshold.
_SEED_DEPTH = 32
# Below this many postings a query is scored exhaustively without pruning.
_SMALL_QUERY = 20_000
# Gathering a candidate posting costs roughly this many dense posting updates.
_GATHER_COST = 4
# Candidate upper bounds use a table over subsets of the query terms.
_MAX_MASK_TERMS = 12
# Candidates scored exactly in the first round of best-first scoring.
_FIRST_BATCH = 256

# (start, stop, term id, multiplicity) of a query term's postings
_Term = tuple[int, int, int, int]


def bm25_term_weights(
    tf: np.ndarray, doc_len: np.ndarray, idf: float | np.ndarray, k1: float, b: float, avgdl: float
) -> np.ndarray:
    """BM25 weight of a term in passages, with the exact float operations rank-bm25 uses."""
    tf = tf.astype(np.float64)
    return idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl)))


def okapi_idf(doc_freq: np.ndarray, num_passages: int, epsilon: float) -> tuple[np.ndarray, float]:
    """Okapi idf per term with rank-bm25's floor; returns (idf, average idf before the floor)."""
    n = doc_freq.astype(np.float64)
    idf = np.log(num_passages - n + 0.5) - np.log(n + 0.5)
    average_idf = float(idf.sum() / len(idf)) if len(idf) else 0.0
    idf[idf < 0] = epsilon * average_idf
    return idf, average_idf


class BM25Engine:
    """Exact BM25Okapi scores (rank_bm25 semantics) from a precomputed impact index."""

    k1: float
    b: float
    epsilon: float

    def __init__(
        self,
        *,
        vocab: list[str],
        offsets: np.ndarray,
        docs: np.ndarray,
        weights: np.ndarray,
        sorted_docs: np.ndarray,
        sorted_pos: np.ndarray,
        num_passages: int,
        avgdl: float,
        average_idf: float,
        k1: float,
        b: float,
        epsilon: float,
    ) -> None:
        self._vocab = vocab
        self._offsets = offsets
        # Plain ndarray views: memmap's Python-level indexing hooks cost more than
        # the small lookups the query path makes.
        self._docs = docs.view(np.ndarray)
        self._weights = weights.view(np.ndarray)
        self._sorted_docs = sorted_docs.view(np.ndarray)
        self._sorted_pos = sorted_pos.view(np.ndarray)
        self._n = num_passages
        self.avgdl = avgdl
        self.average_idf = average_idf
        self.k1 = k1
        self.b = b
        self.epsilon = epsilon

    # ------------------------------------------------------------------ build

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
        n = len(corpus_tokens)
        lengths = np.fromiter(map(len, corpus_tokens), dtype=np.int64, count=n)
        total = int(lengths.sum())
        avgdl = total / n if n else 0.0
        term_ids: defaultdict[str, int] = defaultdict(count().__next__)

        terms, docs, tfs = [], [], []
        passages = iter(corpus_tokens)
        for start, stop in _chunks(lengths, _BUILD_CHUNK_TOKENS):
            flat = list(chain.from_iterable(islice(passages, stop - start)))
            tids = np.fromiter(map(term_ids.__getitem__, flat), dtype=np.int64, count=len(flat))
            del flat
            width = stop - start
            local = np.repeat(np.arange(width, dtype=np.int64), lengths[start:stop])
            keys, tf = np.unique(tids * width + local, return_counts=True)
            del tids, local
            terms.append((keys // width).astype(np.int32))
            docs.append((keys % width + start).astype(np.int32))
            tfs.append(tf.astype(np.int32))
            del keys, tf
        vocab = list(term_ids)
        del term_ids
        num_terms = len(vocab)

        term = np.concatenate(terms) if terms else np.zeros(0, np.int32)
        del terms
        # Chunks are in passage order and each chunk is sorted by (term, passage),
        # so a stable sort by term yields (term, passage) order.
        order = np.argsort(term, kind="stable")
        term = term[order]
        doc = np.concatenate(docs)[order] if docs else np.zeros(0, np.int32)
        del docs
        tf = np.concatenate(tfs)[order] if tfs else np.zeros(0, np.int32)
        del tfs, order

        doc_freq = np.bincount(term, minlength=num_terms)
        offsets = np.zeros(num_terms + 1, dtype=np.int64)
        np.cumsum(doc_freq, out=offsets[1:])
        idf, average_idf = okapi_idf(doc_freq, n, epsilon)
        weights = bm25_term_weights(tf, lengths[doc], idf[term], k1, b, avgdl)
        del tf

        # Impact order: by term, then weight descending, then passage ascending
        # (lexsort is stable and the input is already in passage order).
        order = np.lexsort((-weights, term))
        del term
        sorted_docs = doc
        doc = doc[order]
        weights = weights[order]
        block_start = np.repeat(offsets[:-1], doc_freq)
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        del order
        position -= block_start
        sorted_pos = position.astype(np.int32)
        del position, block_start
        log.info("indexed %d passages, %d terms, %d postings", n, num_terms, len(doc))
        return cls(
            vocab=vocab,
            offsets=offsets,
            docs=doc,
            weights=weights,
            sorted_docs=sorted_docs,
            sorted_pos=sorted_pos,
            num_passages=n,
            avgdl=avgdl,
            average_idf=average_idf,
            k1=k1,
            b=b,
            epsilon=epsilon,
        )

    # ---------------------------------------------------------------- lookups

    @property
    def num_passages(self) -> int:
        return self._n

    def vocabulary(self) -> Sequence[str]:
        """Every indexed term (used for typo-tolerant query expansion)."""
        return self._vocab

    @cached_property
    def _term_ids(self) -> dict[str, int]:
        return {term: i for i, term in enumerate(self._vocab)}

    def doc_freq(self, term: str) -> int:
        """Passages containing term, 0 if unknown."""
        tid = self._term_ids.get(term)
        if tid is None:
            return 0
        return int(self._offsets[tid + 1] - self._offsets[tid])

    def _query_terms(self, query_tokens: Sequence[str]) -> list[_Term]:
        """Posting ranges of the distinct query terms present in the index."""
        ids = self._term_ids
        offsets = self._offsets
        out = []
        for token, mult in Counter(query_tokens).items():
            tid = ids.get(token)
            if tid is None:
                continue
            start, stop = int(offsets[tid]), int(offsets[tid + 1])
            if stop > start:
                out.append((start, stop, tid, mult))
        return out

    # ---------------------------------------------------------------- scoring

    def get_scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Dense scores for every passage, equal to rank_bm25.BM25Okapi.get_scores."""
        scores = np.zeros(self._n)
        for start, stop, _, mult in self._query_terms(query_tokens):
            scores[self._docs[start:stop]] += mult * self._weights[start:stop]
        return scores

    def search(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(passage index, score) best first, at most k, only passages that contain at least
        one query term; ties broken by lower passage index."""
        if k <= 0:
            return []
        terms = self._query_terms(query_tokens)
        if not terms:
            return []
        if len(terms) == 1:
            return self._search_single(terms[0], k)
        total = sum(stop - start for start, stop, _, _ in terms)
        if total <= _SMALL_QUERY:
            cand, scores = self._score_sparse(terms)
            return _top_k(cand, scores, k)
        return self._search_pruned(terms, k, total)

    def _search_single(self, term: _Term, k: int) -> list[tuple[int, float]]:
        start, stop, _, mult = term
        stop = min(stop, start + k)
        scores = mult * self._weights[start:stop]
        return list(zip(self._docs[start:stop].tolist(), scores.tolist(), strict=True))

    def _score_sparse(self, terms: list[_Term]) -> tuple[np.ndarray, np.ndarray]:
        """Exhaustive scores of the touched passages, for short posting lists."""
        docs = np.concatenate([self._docs[s:e] for s, e, _, _ in terms])
        weights = np.concatenate([m * self._weights[s:e] for s, e, _, m in terms])
        cand, inverse = np.unique(docs, return_inverse=True)
        return cand, np.bincount(inverse, weights, minlength=len(cand))

    def _lookup(self, terms: list[_Term], cand: np.ndarray) -> np.ndarray:
        """Exact scores of the sorted passage ids in cand."""
        scores = np.zeros(len(cand))
        for start, stop, _, mult in terms:
            docs = self._sorted_docs[start:stop]
            pos = np.searchsorted(docs, cand)
            np.minimum(pos, len(docs) - 1, out=pos)
            hit = docs[pos] == cand
            where = self._sorted_pos[start:stop][pos[hit]] + start
            scores[hit] += mult * self._weights[where]
        return scores

    def _search_pruned(self, terms: list[_Term], k: int, total: int) -> list[tuple[int, float]]:
        """Top k without scoring every touched passage.

        High-impact postings seed k exactly scored passages whose k-th score theta
        bounds the answer from below. Each term j then contributes as candidates only
        the postings whose weight reaches a cutoff c_j, where the cutoffs satisfy
        sum_j min(c_j, best_j)^+ < theta: a passage outside the candidates gets less
        than c_j (and at most best_j) from every term it contains, so it scores below
        theta. Setting c_j <= 0 takes a whole list and frees best_j of the budget
        (the short lists of rare terms), a cutoff above best_j takes nothing (MaxScore's
        non-essential terms); the remaining budget is shared in proportion to best_j.
        The plan with the fewest candidates is scored exactly.
        """
        docs, weights = self._docs, self._weights
        depth = max(k, _SEED_DEPTH)
        seed = np.unique(np.concatenate([docs[s : min(e, s + depth)] for s, e, _, _ in terms]))
        if len(seed) < k:
            return self._search_dense(terms, k, -math.inf)
        theta = float(np.partition(self._lookup(terms, seed), len(seed) - k)[len(seed) - k])
        # Slack absorbs rounding: scores summed in another order may differ in the last bits.
        budget = theta - (1e-9 * abs(theta) + 1e-12)
        if budget <= 0:
            return self._search_dense(terms, k, -math.inf)

        terms = sorted(terms, key=lambda t: t[1] - t[0])
        lengths = [e - s for s, e, _, _ in terms]
        best = [max(m * float(weights[s]), 0.0) for s, _, _, m in terms]
        # plan i takes the i shortest lists whole and prefixes of the others
        plans = []
        for i in range(len(terms) + 1):
            rest = sum(best[i:])
            ratio = budget / rest if rest > budget else 2.0
            plans.append((i, ratio))
        ratios = np.array([ratio for _, ratio in plans])
        prefix = np.zeros((len(plans), len(terms)), dtype=np.int64)
        for j, (start, stop, _, mult) in enumerate(terms):
            cutoffs = best[j] * ratios / mult
            ascending = weights[start:stop][::-1]
            prefix[:, j] = lengths[j] - np.searchsorted(ascending, cutoffs, side="left")
        for i, _ in plans:
            prefix[i, :i] = lengths[:i]
        volume = prefix.sum(axis=1)
        plan = int(np.argmin(volume))
        if volume[plan] * _GATHER_COST > total:
            return self._search_dense(terms, k, budget)
        taken = [int(n) for n in prefix[plan]]
        spans = [(s, n, mult) for (s, _, _, mult), n in zip(terms, taken, strict=True)]
        # Partial scores from the gathered postings, and an upper bound for the rest:
        # a candidate missing from a cut list j gets less than its cutoff there.
        cand, inverse = np.unique(
            np.concatenate([docs[s : s + n] for s, n, _ in spans]), return_inverse=True
        )
        gathered = np.concatenate([mult * weights[s : s + n] for s, n, mult in spans])
        partial = np.bincount(inverse, gathered, minlength=len(cand))
        if len(terms) <= _MAX_MASK_TERMS and len(cand) > k:
            ratio = min(plans[plan][1], 1.0)
            missing = np.array(
                [
                    0.0 if n == size else top * ratio
                    for n, size, top in zip(taken, lengths, best, strict=True)
                ]
            )
            bits = np.concatenate([np.full(int(n), 1 << j) for j, n in enumerate(taken)])
            seen = np.bincount(inverse, bits, minlength=len(cand)).astype(np.int64)
            absent = (np.arange(1 << len(terms))[:, None] >> np.arange(len(terms))) & 1 == 0
            upper = partial + (absent @ missing)[seen]
            if all(weights[e - 1] >= 0 for _, e, _, _ in terms):
                # with no negative weights, partial scores are lower bounds too
                kth = float(np.partition(partial, len(partial) - k)[len(partial) - k])
                budget = max(budget, kth - (1e-9 * abs(kth) + 1e-12))
            keep = upper >= budget
            return self._score_best_first(terms, k, cand[keep], upper[keep], budget)
        return _top_k(cand, self._lookup(terms, cand), k)

    def _score_best_first(
        self, terms: list[_Term], k: int, cand: np.ndarray, upper: np.ndarray, budget: float
    ) -> list[tuple[int, float]]:
        """Score candidates exactly in batches of decreasing upper bound, stopping once
        the next bound is below the k-th best exact score found so far."""
        order = np.argsort(-upper, kind="stable")
        cand, upper = cand[order], upper[order]
        done_docs, done_scores = [], []
        start, batch = 0, max(4 * k, _FIRST_BATCH)
        best = np.empty(0)
        while start < len(cand):
            docs = np.sort(cand[start : start + batch])
            scores = self._lookup(terms, docs)
            done_docs.append(docs)
            done_scores.append(scores)
            best = np.concatenate([best, scores])
            if len(best) > k:
                best = np.partition(best, len(best) - k)[len(best) - k :]
            if len(best) >= k:
                kth = float(best.min())
                budget = max(budget, kth - (1e-9 * abs(kth) + 1e-12))
            start += batch
            batch *= 2
            if start < len(cand) and upper[start] < budget:
                break
        docs = np.concatenate(done_docs)
        order = np.argsort(docs, kind="stable")
        return _top_k(docs[order], np.concatenate(done_scores)[order], k)

    def _search_dense(self, terms: list[_Term], k: int, floor: float) -> list[tuple[int, float]]:
        """Exhaustive accumulation into a dense array; floor (below the k-th best
        score) narrows the selection."""
        docs = np.concatenate([self._docs[s:e] for s, e, _, _ in terms])
        weights = np.concatenate([m * self._weights[s:e] for s, e, _, m in terms])
        scores = np.bincount(docs, weights, minlength=self._n)
        if floor > 0:
            # Untouched passages score 0 < floor, so this keeps only touched ones.
            cand = np.flatnonzero(scores >= floor)
        else:
            touched = np.zeros(self._n, dtype=bool)
            touched[docs] = True
            cand = np.flatnonzero(touched)
        return _top_k(cand, scores[cand], k)

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

        if any(_SEP in term for term in self._vocab):
            raise ValueError("vocabulary terms must not contain NUL characters")
        vocab_blob = _SEP.join(self._vocab).encode("utf-8")
        _write_file(directory / _VOCAB, vocab_blob)
        arrays = {
            "offsets": self._offsets,
            "docs": self._docs,
            "weights": self._weights,
            "sorted_docs": self._sorted_docs,
            "sorted_pos": self._sorted_pos,
        }
        for name, array in arrays.items():
            path = directory / f"{name}.npy"
            with open(path, "wb") as fh:
                np.save(fh, np.ascontiguousarray(array, dtype=_ARRAYS[name]))
                fh.flush()
                os.fsync(fh.fileno())
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "k1": self.k1,
            "b": self.b,
            "epsilon": self.epsilon,
            "num_passages": self._n,
            "avgdl": self.avgdl,
            "average_idf": self.average_idf,
            "num_terms": len(self._vocab),
            "num_postings": len(self._docs),
            "vocab_bytes": len(vocab_blob),
            "vocab_crc32": zlib.crc32(vocab_blob),
            "offsets_crc32": zlib.crc32(np.ascontiguousarray(self._offsets, np.int64).data),
        }
        tmp = directory / (_META + ".tmp")
        _write_file(tmp, json.dumps(meta, indent=2).encode("utf-8"))
        os.replace(tmp, meta_path)
        _fsync_dir(directory)

    @classmethod
    def load(cls, directory: Path) -> BM25Engine:
        """Open an index written by save(), memory-mapping the posting arrays.

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
        num_postings = int(meta["num_postings"])
        num_passages = int(meta["num_passages"])
        blob = (directory / _VOCAB).read_bytes()
        if len(blob) != meta["vocab_bytes"] or zlib.crc32(blob) != meta["vocab_crc32"]:
            raise bad("vocabulary file is truncated or corrupt")
        vocab = blob.decode("utf-8").split(_SEP) if num_terms else []
        if len(vocab) != num_terms:
            raise bad(f"vocabulary has {len(vocab)} terms, expected {num_terms}")

        shapes = {
            "offsets": num_terms + 1,
            "docs": num_postings,
            "weights": num_postings,
            "sorted_docs": num_postings,
            "sorted_pos": num_postings,
        }
        arrays = {}
        for name, dtype in _ARRAYS.items():
            path = directory / f"{name}.npy"
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except FileNotFoundError as exc:
                raise bad(f"{path.name} is missing") from exc
            except ValueError as exc:
                raise bad(f"{path.name} is truncated or corrupt ({exc})") from exc
            if array.dtype != dtype or array.shape != (shapes[name],):
                raise bad(f"{path.name} has {array.dtype}{array.shape}, expected {dtype}")
            arrays[name] = array
        offsets = np.array(arrays.pop("offsets"))
        if zlib.crc32(offsets.data) != meta["offsets_crc32"]:
            raise bad("offsets.npy is corrupt")
        if offsets[0] != 0 or offsets[-1] != num_postings or np.any(np.diff(offsets) < 0):
            raise bad("offsets.npy is inconsistent")
        return cls(
            vocab=vocab,
            offsets=offsets,
            num_passages=num_passages,
            avgdl=float(meta["avgdl"]),
            average_idf=float(meta["average_idf"]),
            k1=float(meta["k1"]),
            b=float(meta["b"]),
            epsilon=float(meta["epsilon"]),
            **arrays,
        )


def _top_k(cand: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Best k of (sorted passage ids, scores): score descending, then lower id."""
    if len(cand) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = np.flatnonzero(scores >= kth)
        cand, scores = cand[keep], scores[keep]
    order = np.lexsort((cand, -scores))[:k]
    return list(zip(cand[order].tolist(), scores[order].tolist(), strict=True))


def _chunks(lengths: np.ndarray, max_tokens: int) -> Iterator[tuple[int, int]]:
    """Consecutive passage ranges holding about max_tokens tokens each."""
    n = len(lengths)
    ends = np.cumsum(lengths)
    start = 0
    while start < n:
        base = ends[start - 1] if start else 0
        stop = int(np.searchsorted(ends, base + max_tokens, side="right"))
        stop = max(stop, start + 1)
        yield start, min(stop, n)
        start = stop


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
