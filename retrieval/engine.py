"""BM25Okapi retrieval over a precomputed impact index.

Scores equal ``rank_bm25.BM25Okapi.get_scores`` (rank-bm25 0.2.2): the idf is
``log(N - n + 0.5) - log(n + 0.5)``, terms with a negative idf get
``epsilon * average_idf`` where the average is taken over every term before
the floor, and a query term counts once per occurrence in the query.

Layout (see ``_postings``): one CSR block per term, postings in impact order
(decreasing weight) as passage ids plus run-length encoded ids into a table of
tf parts, so a weight is ``idf * gains[pair]`` computed exactly as rank-bm25
does. For exact lookups of a passage's weight, frequent terms keep a bitmap
with rank counts and the others a passage-ordered copy of their passage ids.

Queries with one term read the top of its list; short queries are scored
exhaustively; longer ones are pruned (``_search_pruned``) with a dense
accumulation as the fallback when pruning would not pay.
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

from retrieval._postings import Postings, build_postings, popcount

log = logging.getLogger(__name__)

FORMAT_NAME = "corpusbot-bm25-impact"
FORMAT_VERSION = 2
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
    "sparse_offsets",
    "sorted_docs",
    "dense_terms",
    "bitmaps",
    "ranks",
)
_MAPPED = frozenset({"docs", "sorted_pairs", "sorted_docs", "bitmaps", "ranks"})
# Terms in at least this fraction of passages get a bitmap instead of a sorted list.
_DENSE_FRACTION = 1 / 16
# Below this many postings a query is scored exhaustively without pruning.
_SMALL_QUERY = 20_000
# Impact postings per term whose passages seed the pruning threshold.
_SEED_DEPTH = 32
# A plan with more candidates than this may first reseed the threshold from the
# first _RESEED_DEPTH postings of the _RESEED_LISTS shortest lists, if a threshold
# _RESEED_GAIN times higher would at least halve the candidates (see _reseed).
_RESEED_VOLUME = 30_000
_RESEED_DEPTH = 1024
_RESEED_LISTS = 1
_RESEED_GAIN = 1.2
# With more than _REFINE_RATIO times this many candidates after the gather, the
# batch with the best partial scores is completed first to raise theta.
_REFINE_BATCH = 256
_REFINE_RATIO = 8
# Gathering a candidate posting costs roughly this many dense posting updates.
_GATHER_COST = 4
# Cost of completing a candidate from a cut list, relative to gathering a posting.
_SEARCH_PROBE = 8.0
_BITMAP_PROBE = 1.0
# Above one candidate per this many postings, a sparse lookup scans the whole list.
_SCAN_RATIO = 16
# Candidate bounds use a table over subsets of the query terms.
_MAX_MASK_TERMS = 12
# Candidates completed exactly in the first round of best-first scoring.
_FIRST_BATCH = 256
_BATCH_GROWTH = 4
# Gathered postings are sorted when fewer than one per this many passages, else
# accumulated into dense per-passage arrays.
_SORT_RATIO = 128


class _Term(NamedTuple):
    """A distinct query term present in the index."""

    start: int  # block in docs
    stop: int
    runs: int  # first run of equal pair ids in run_pairs/run_stops
    runs_stop: int
    mult: int  # occurrences in the query
    idf: float
    slot: int  # bitmap row, or -1
    sparse: int  # block start in sorted_docs


class BM25Engine:
    """Exact BM25Okapi scores (rank_bm25 semantics) from a precomputed impact index."""

    k1: float
    b: float
    epsilon: float

    def __init__(self, postings: Postings, *, k1: float, b: float, epsilon: float) -> None:
        self._p = postings
        # Plain ndarray views: memmap's Python-level indexing hooks cost more than
        # the small lookups the query path makes.
        for name in _MAPPED:
            setattr(self, f"_{name}", getattr(postings, name).view(np.ndarray))
        self._gains = postings.gains
        self._idf = postings.idf
        self._offsets = postings.offsets
        self._run_offsets = postings.run_offsets
        self._run_pairs = postings.run_pairs
        self._run_stops = postings.run_stops
        self._sparse_offsets = postings.sparse_offsets
        self._slot = np.full(len(postings.vocab), -1, dtype=np.int64)
        self._slot[postings.dense_terms] = np.arange(len(postings.dense_terms))
        self._n = postings.num_passages
        self.avgdl = postings.avgdl
        self.average_idf = postings.average_idf
        self.k1 = k1
        self.b = b
        self.epsilon = epsilon
        self._local = threading.local()

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
        return cls(postings, k1=k1, b=b, epsilon=epsilon)

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
                sparse = int(self._sparse_offsets[tid])
                out.append(_Term(start, stop, runs, runs_stop, mult, idf, slot, sparse))
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

    def _lookup(self, term: _Term, cand: np.ndarray) -> np.ndarray:
        """Query-weighted weight of the term in each passage of cand (0 if absent)."""
        if term.slot >= 0:
            word = cand >> 6
            shift = (cand & 63).astype(np.uint64)
            words = self._bitmaps[term.slot][word]
            hit = ((words >> shift) & np.uint64(1)).astype(bool)
            below = words & ((np.uint64(1) << shift) - np.uint64(1))
            pos = self._ranks[term.slot][word] + popcount(below)
        else:
            block = self._sorted_docs[term.sparse : term.sparse + term.stop - term.start]
            if len(cand) * _SCAN_RATIO > len(block):
                return self._lookup_by_scan(term, block, cand)
            pos = np.searchsorted(block, cand)
            np.minimum(pos, len(block) - 1, out=pos)
            hit = block[pos] == cand
        out = np.zeros(len(cand))
        found = self._gains[self._sorted_pairs[term.start + pos[hit]]]
        out[hit] = term.idf * found
        return out * term.mult if term.mult != 1 else out

    def _lookup_by_scan(self, term: _Term, block: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """_lookup for many candidates: one pass over the term's passage-ordered list
        against a per-thread passage -> candidate map, instead of binary searches."""
        local = self._local
        if not hasattr(local, "slots"):
            local.slots = np.zeros(self._n, dtype=np.int32)
        slots = local.slots
        slots[cand] = np.arange(1, len(cand) + 1, dtype=np.int32)
        try:
            index = slots[block]
        finally:
            slots[cand] = 0
        pos = np.flatnonzero(index)
        out = np.zeros(len(cand))
        out[index[pos] - 1] = term.idf * self._gains[self._sorted_pairs[term.start + pos]]
        return out * term.mult if term.mult != 1 else out

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
        terms = self._query_terms(query_tokens)
        if not terms:
            return []
        if len(terms) == 1 and terms[0].idf > 0:
            # impact order is the answer: weight descending, then passage ascending
            term = terms[0]
            hi = min(k, term.stop - term.start)
            docs = self._docs[term.start : term.start + hi]
            return list(zip(docs.tolist(), self._weights(term, hi).tolist(), strict=True))
        total = sum(t.stop - t.start for t in terms)
        if total <= _SMALL_QUERY:
            docs = np.concatenate([self._docs[t.start : t.stop] for t in terms])
            weights = np.concatenate([self._weights(t, t.stop - t.start) for t in terms])
            cand, inverse = np.unique(docs, return_inverse=True)
            return _top_k(cand, np.bincount(inverse, weights, minlength=len(cand)), k)
        if len(terms) > _MAX_MASK_TERMS or any(t.idf < 0 for t in terms):
            return self._search_dense(terms, k, -math.inf)
        return self._search_pruned(terms, k, total)

    def _exact(self, terms: list[_Term], cand: np.ndarray) -> np.ndarray:
        scores = np.zeros(len(cand))
        for term in terms:
            scores += self._lookup(term, cand)
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
        The plan with the fewest candidates is gathered; candidates whose partial score
        plus the cutoffs of the lists they were not seen in can still reach theta are
        completed with exact lookups, best bound first.
        """
        docs = self._docs
        theta = self._seed_threshold(terms, k, max(k, _SEED_DEPTH))
        if theta is None:
            return self._search_dense(terms, k, -math.inf)
        # Slack absorbs rounding: scores summed in another order may differ in the last bits.
        budget = theta - (1e-9 * abs(theta) + 1e-12)
        if budget <= 0:
            return self._search_dense(terms, k, -math.inf)

        terms = sorted(terms, key=lambda t: t.stop - t.start)
        lengths = [t.stop - t.start for t in terms]
        best = [self._best(t) for t in terms]
        ratios, prefix, volume, plan = self._plan(terms, lengths, best, budget)
        if volume[plan] > _RESEED_VOLUME:
            theta, budget, ratios, prefix, volume, plan = self._reseed(
                terms, k, lengths, best, theta, (ratios, prefix, volume, plan)
            )
        if volume[plan] * _GATHER_COST > total:
            return self._search_dense(terms, k, budget)

        taken = [int(n) for n in prefix[plan]]
        cand, partial, seen = self._gather(terms, taken)
        # A candidate missing from a cut list gets less than that list's cutoff there;
        # a fully read list adds nothing more.
        ratio = min(float(ratios[plan]), 1.0)
        missing = np.array(
            [
                0.0 if n == size else top * ratio
                for n, size, top in zip(taken, lengths, best, strict=True)
            ]
        )
        complete = np.array([n == size for n, size in zip(taken, lengths, strict=True)])
        num = len(terms)
        absent = (np.arange(1 << num)[:, None] >> np.arange(num)) & 1 == 0
        upper = partial + (absent @ missing)[seen]
        if len(partial) >= k:
            # partial scores are lower bounds (no negative weights here)
            kth = float(np.partition(partial, len(partial) - k)[len(partial) - k])
            budget = max(budget, kth - (1e-9 * abs(kth) + 1e-12))
        keep = np.flatnonzero(upper >= budget)
        cand, partial, seen, upper = cand[keep], partial[keep], seen[keep], upper[keep]
        batch = max(k, _REFINE_BATCH)
        if len(cand) > batch * _REFINE_RATIO:
            # Many candidates survive a weak theta. The best partial scores mostly
            # belong to the best passages: completing a batch of them exactly raises
            # theta before every candidate is probed.
            top = np.argpartition(partial, len(partial) - batch)[len(partial) - batch :]
            top = top[np.argsort(cand[top])]
            docs, scores, mask = cand[top], partial[top], seen[top]
            for j, term in enumerate(terms):
                need = np.flatnonzero((mask & (1 << j)) == 0)
                if not complete[j] and len(need):
                    scores[need] += self._lookup(term, docs[need])
            kth = float(np.partition(scores, batch - k)[batch - k])
            if kth - (1e-9 * abs(kth) + 1e-12) > budget:
                budget = kth - (1e-9 * abs(kth) + 1e-12)
                keep = np.flatnonzero(upper >= budget)
                cand, partial, seen, upper = cand[keep], partial[keep], seen[keep], upper[keep]
        # A bitmap probe settles cheaply that a candidate lacks a frequent term: its
        # bound then loses that list's cutoff and it needs no lookup there. Largest
        # cutoffs first, dropping hopeless candidates after each list.
        for j in sorted(range(num), key=lambda j: -missing[j]):
            term = terms[j]
            if complete[j] or term.slot < 0 or missing[j] == 0:
                continue
            probe = np.flatnonzero((seen & (1 << j)) == 0)
            docs = cand[probe]
            words = self._bitmaps[term.slot][docs >> 6]
            present = (words >> (docs & 63).astype(np.uint64)) & np.uint64(1)
            absent_now = probe[present == 0]
            upper[absent_now] -= missing[j]
            seen[absent_now] |= 1 << j
            keep = np.flatnonzero(upper >= budget)
            cand, partial, seen, upper = cand[keep], partial[keep], seen[keep], upper[keep]
        keep = upper >= budget
        return self._best_first(
            terms, k, cand[keep], partial[keep], seen[keep], upper[keep], budget, complete
        )

    def _reseed(
        self,
        terms: list[_Term],
        k: int,
        lengths: list[int],
        best: list[float],
        theta: float,
        planned: tuple[np.ndarray, np.ndarray, np.ndarray, int],
    ) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray, int]:
        """(theta, budget, *plan): a stronger threshold for a plan with many
        candidates, when it pays.

        The seed misses the typical tail query: a rare term plus a few terms in
        most passages, whose floored weights are close to each other, so theta
        stays well below the final k-th score. The true top k then lies early in
        the rare term's list: exactly scoring its first _RESEED_DEPTH postings gets
        theta close to the final score, and the cheapest plan takes little beyond
        that list. Completing candidates from cut sparse lists costs more than the
        gather it saves, so the new plan is used only if it cuts bitmap lists alone.
        """
        ratios, prefix, volume, plan = planned
        budget = theta - (1e-9 * abs(theta) + 1e-12)

        def sparse_cut(p: np.ndarray) -> bool:
            return any(
                n < size and t.slot < 0 for n, size, t in zip(p, lengths, terms, strict=True)
            )

        hope = self._plan(terms, lengths, best, budget * _RESEED_GAIN)
        if hope[2][hope[3]] * 2 > volume[plan] or sparse_cut(hope[1][hope[3]]):
            return theta, budget, ratios, prefix, volume, plan
        depths = [_RESEED_DEPTH if j < _RESEED_LISTS else _SEED_DEPTH for j in range(len(terms))]
        deeper = self._seed_threshold(terms, k, depths)
        if deeper is None or deeper <= theta:
            return theta, budget, ratios, prefix, volume, plan
        new_budget = deeper - (1e-9 * abs(deeper) + 1e-12)
        again = self._plan(terms, lengths, best, new_budget)
        if again[2][again[3]] * 2 > volume[plan] or sparse_cut(again[1][again[3]]):
            # the old cutoffs stay valid under the higher threshold
            return deeper, new_budget, ratios, prefix, volume, plan
        return (deeper, new_budget, *again)

    def _seed_threshold(self, terms: list[_Term], k: int, depth: int | list[int]) -> float | None:
        """k-th best exact score among the passages of each list's first depth
        postings (one depth, or one per term), or None when they are fewer than k."""
        docs = self._docs
        depths = depth if isinstance(depth, list) else [depth] * len(terms)
        seed = np.unique(
            np.concatenate(
                [
                    docs[t.start : min(t.stop, t.start + d)]
                    for t, d in zip(terms, depths, strict=True)
                ]
            )
        )
        if len(seed) < k:
            return None
        return float(np.partition(self._exact(terms, seed), len(seed) - k)[len(seed) - k])

    def _plan(
        self, terms: list[_Term], lengths: list[int], best: list[float], budget: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Cutoff ratios, prefix lengths and candidate volume of each plan, and the
        cheapest plan (see _search_pruned)."""
        num = len(terms)
        # plan i takes the i shortest lists whole and prefixes of the others
        ratios = np.array(
            [budget / sum(best[i:]) if sum(best[i:]) > budget else 2.0 for i in range(num + 1)]
        )
        prefix = np.zeros((num + 1, num), dtype=np.int64)
        for j, term in enumerate(terms):
            if term.idf == 0:
                continue  # weights are all 0: never needed to reach theta > 0
            # weight >= cutoff  <=>  gain >= cutoff / (idf * mult)  <=>  pair id < count
            gain_cutoffs = best[j] * ratios / (term.mult * term.idf)
            ids = np.searchsorted(-self._gains, -gain_cutoffs, side="right")
            runs = self._run_pairs[term.runs : term.runs_stop]
            before = np.searchsorted(runs, ids, side="left")  # runs with gain >= cutoff
            stops = np.concatenate([[0], self._run_stops[term.runs : term.runs_stop]])
            prefix[:, j] = stops[before]
        for i in range(num + 1):
            prefix[i, :i] = lengths[:i]
        volume = prefix.sum(axis=1)
        # Candidates seen only in some lists need lookups in the cut ones: binary
        # searches for sparse terms, cheaper bitmap probes for dense ones.
        probe = np.array([_BITMAP_PROBE if t.slot >= 0 else _SEARCH_PROBE for t in terms])
        cut = prefix < np.array(lengths)
        plan = int(np.argmin(volume * (1 + cut @ probe)))
        return ratios, prefix, volume, plan

    def _gather(
        self, terms: list[_Term], taken: list[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct passages of the given impact prefixes, their partial scores and the
        bit set of lists each was seen in.

        Many postings are accumulated densely over passage ids rather than sorted; a
        prefix holds a passage at most once, so a passage is reported once, from the
        first list it occurs in.
        """
        touched = np.concatenate(
            [self._docs[t.start : t.start + n] for t, n in zip(terms, taken, strict=True)]
        )
        gathered = np.concatenate([self._weights(t, n) for t, n in zip(terms, taken, strict=True)])
        bits = np.concatenate([np.full(n, 1 << j) for j, n in enumerate(taken)])
        if len(touched) * _SORT_RATIO < self._n:
            cand, inverse = np.unique(touched, return_inverse=True)
            partial = np.bincount(inverse, gathered, minlength=len(cand))
            return cand, partial, np.bincount(inverse, bits, minlength=len(cand)).astype(np.int64)
        partial = np.bincount(touched, gathered, minlength=self._n)[touched]
        seen = np.bincount(touched, bits, minlength=self._n)[touched].astype(np.int64)
        earlier = np.concatenate([np.full(n, (1 << j) - 1) for j, n in enumerate(taken)])
        first = np.flatnonzero((seen & earlier) == 0)
        return touched[first], partial[first], seen[first]

    def _best_first(
        self,
        terms: list[_Term],
        k: int,
        cand: np.ndarray,
        partial: np.ndarray,
        seen: np.ndarray,
        upper: np.ndarray,
        budget: float,
        complete: np.ndarray,
    ) -> list[tuple[int, float]]:
        """Complete candidates in batches of decreasing upper bound, stopping once the
        remaining bounds are below the k-th best exact score found so far."""
        done_docs, done_scores = [], []
        batch = max(4 * k, _FIRST_BATCH)
        best = np.empty(0)
        alive = np.arange(len(cand))
        while len(alive):
            if len(alive) > batch:
                bounds = upper[alive]
                split = np.argpartition(bounds, len(bounds) - batch)
                now, alive = (
                    alive[split[len(bounds) - batch :]],
                    alive[split[: len(bounds) - batch]],
                )
            else:
                now, alive = alive, alive[:0]
            now = now[np.argsort(cand[now])]  # sorted needles search faster
            docs, scores, mask = cand[now], partial[now], seen[now]
            for j, term in enumerate(terms):
                if complete[j]:
                    continue
                need = np.flatnonzero((mask & (1 << j)) == 0)
                if len(need):
                    scores[need] += self._lookup(term, docs[need])
            done_docs.append(docs)
            done_scores.append(scores)
            best = np.concatenate([best, scores])
            if len(best) > k:
                best = np.partition(best, len(best) - k)[len(best) - k :]
            if len(best) >= k:
                kth = float(best.min())
                budget = max(budget, kth - (1e-9 * abs(kth) + 1e-12))
            alive = alive[upper[alive] >= budget]
            batch *= _BATCH_GROWTH
        return _top_k(np.concatenate(done_docs), np.concatenate(done_scores), k)

    def _search_dense(self, terms: list[_Term], k: int, floor: float) -> list[tuple[int, float]]:
        """Exhaustive accumulation into a dense array; floor (below the k-th best
        score) narrows the selection."""
        docs = np.concatenate([self._docs[t.start : t.stop] for t in terms])
        weights = np.concatenate([self._weights(t, t.stop - t.start) for t in terms])
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
            or arrays["sparse_offsets"][-1] != len(arrays["sorted_docs"])
        ):
            raise bad("array sizes are inconsistent")
        postings = Postings(
            vocab=vocab,
            num_passages=int(meta["num_passages"]),
            avgdl=float(meta["avgdl"]),
            average_idf=float(meta["average_idf"]),
            **arrays,
        )
        return cls(
            postings, k1=float(meta["k1"]), b=float(meta["b"]), epsilon=float(meta["epsilon"])
        )


def _top_k(cand: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Best k of (passage ids, scores): score descending, then lower id."""
    if len(cand) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = np.flatnonzero(scores >= kth)
        cand, scores = cand[keep], scores[keep]
    order = np.lexsort((cand, -scores))[:k]
    return list(zip(cand[order].tolist(), scores[order].tolist(), strict=True))


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
