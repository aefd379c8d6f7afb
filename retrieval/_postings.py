"""Building the compressed impact index behind BM25Engine.

A posting's BM25 weight is idf(term) * g(tf, passage length), where g is the
term-frequency part of BM25Okapi. A corpus has few distinct (tf, length) pairs,
so postings store a small id into a table of g values instead of a float64
weight: the weight is recomputed with the same float operations as rank-bm25,
hence exactly. Ids are numbered by decreasing g, so ordering a term's postings
by id is ordering them by decreasing weight (its impact order), and in impact
order the ids form a few long runs, stored run-length encoded.

Exact lookups of one passage's weight need each term's passages in passage order.
Frequent terms keep a bitmap. The others keep the low 16 bits of each passage id,
grouped by the high bits: a small per-term directory lists the high parts present
and where each group starts, which halves the largest lookup array.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, count, islice

import numpy as np

# Token ids are mapped in chunks of about this many tokens. Mapping a chunk is one long
# C-level call that holds the GIL, so small chunks keep a concurrent event loop (a bot
# answering during a reindex) responsive: ~15 ms per chunk instead of ~300 ms at 4M.
_CHUNK_TOKENS = 250_000
# Largest (tf, length) key space mapped with a dense lookup table.
_DENSE_KEYS = 1 << 26
# Passage ids in the sparse lookup lists are split into a directory of high parts
# and the low LOW_BITS bits per posting.
LOW_BITS = 16


def okapi_idf(doc_freq: np.ndarray, num_passages: int, epsilon: float) -> tuple[np.ndarray, float]:
    """Okapi idf per term with rank-bm25's floor; returns (idf, average idf before the floor)."""
    n = doc_freq.astype(np.float64)
    idf = np.log(num_passages - n + 0.5) - np.log(n + 0.5)
    average_idf = float(idf.sum() / len(idf)) if len(idf) else 0.0
    idf[idf < 0] = epsilon * average_idf
    return idf, average_idf


def tf_part(tf: np.ndarray, doc_len: np.ndarray, k1: float, b: float, avgdl: float) -> np.ndarray:
    """BM25Okapi's term-frequency factor, with the float operations rank-bm25 uses."""
    return tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl))


def popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per uint64 word."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words).astype(np.int64)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
    return table[words.view(np.uint8).reshape(*words.shape, 8)].sum(axis=-1)


@dataclass
class Postings:
    """Every array of an index, in the layout BM25Engine reads."""

    vocab: list[str]
    num_passages: int
    avgdl: float
    average_idf: float
    idf: np.ndarray  # float64 [terms]
    gains: np.ndarray  # float64 [pair ids]: tf part, decreasing
    offsets: np.ndarray  # int64 [terms + 1]: each term's block in docs/sorted_pairs
    docs: np.ndarray  # int32 [postings]: impact order
    run_offsets: np.ndarray  # int64 [terms + 1]: each term's runs of equal pair ids
    run_pairs: np.ndarray  # uint16/uint32 [runs]: the pair id of a run (impact order)
    run_stops: np.ndarray  # int32 [runs]: end of a run, relative to its term's block
    sorted_pairs: np.ndarray  # uint16/uint32 [postings]: pair ids in passage order
    group_offsets: np.ndarray  # int64 [terms + 1]: each term's groups (none if dense)
    group_highs: np.ndarray  # uint16 [groups]: passage id >> LOW_BITS, ascending per term
    group_starts: np.ndarray  # int64 [groups + 1]: where each group starts in sparse_lows
    sparse_lows: np.ndarray  # uint16: low bits of passage ids, passage order, sparse terms
    dense_terms: np.ndarray  # int32 [dense]: terms stored as bitmaps
    bitmaps: np.ndarray  # uint64 [dense, words]: bit d set if passage d has the term
    ranks: np.ndarray  # int32 [dense, words]: set bits before each word


def build_postings(
    corpus_tokens: Sequence[Sequence[str]],
    k1: float,
    b: float,
    epsilon: float,
    dense_fraction: float,
) -> Postings:
    """Count terms with numpy (one dict for the vocabulary, no per-passage dicts)."""
    n = len(corpus_tokens)
    lengths = np.fromiter(map(len, corpus_tokens), dtype=np.int64, count=n)
    avgdl = int(lengths.sum()) / n if n else 0.0
    term_ids: defaultdict[str, int] = defaultdict(count().__next__)
    terms, docs, tfs = [], [], []
    passages = iter(corpus_tokens)
    for start, stop in _chunks(lengths, _CHUNK_TOKENS):
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
    # Chunks are in passage order and sorted by (term, passage) inside, so a stable
    # sort by term gives (term, passage) order.
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

    gains, pair = _pair_ids(tf, lengths[doc] if len(doc) else lengths[:0], k1, b, avgdl)
    del tf
    # Impact order: by term, then pair id (decreasing weight), then passage.
    order = np.argsort(term.astype(np.int64) * max(len(gains), 1) + pair, kind="stable")
    sorted_pairs = pair
    pairs = pair[order]
    impact_docs = doc[order]
    del order, pair
    run_offsets, run_pairs, run_stops = _runs(pairs, term, offsets, num_terms)
    del pairs

    dense = doc_freq >= max(dense_fraction * n, 1)
    dense_terms = np.flatnonzero(dense).astype(np.int32)
    num_words = (n + 63) // 64
    bitmaps = np.zeros((len(dense_terms), num_words), dtype=np.uint64)
    ranks = np.zeros((len(dense_terms), num_words), dtype=np.int32)
    for slot, t in enumerate(dense_terms):
        mask = np.zeros(num_words * 64, dtype=bool)
        mask[doc[offsets[t] : offsets[t + 1]]] = True
        words = np.packbits(mask, bitorder="little").view("<u8")
        bitmaps[slot] = words
        bits = popcount(words)
        ranks[slot] = np.cumsum(bits) - bits
    sparse = ~dense[term]
    group_offsets, group_highs, group_starts = _groups(term[sparse], doc[sparse], num_terms)
    sparse_lows = (doc[sparse] & ((1 << LOW_BITS) - 1)).astype(np.uint16)
    del doc, term, sparse
    return Postings(
        vocab=vocab,
        num_passages=n,
        avgdl=avgdl,
        average_idf=average_idf,
        idf=idf,
        gains=gains,
        offsets=offsets,
        docs=impact_docs,
        run_offsets=run_offsets,
        run_pairs=run_pairs,
        run_stops=run_stops,
        sorted_pairs=sorted_pairs,
        group_offsets=group_offsets,
        group_highs=group_highs,
        group_starts=group_starts,
        sparse_lows=sparse_lows,
        dense_terms=dense_terms,
        bitmaps=bitmaps,
        ranks=ranks,
    )


def _pair_ids(
    tf: np.ndarray, doc_len: np.ndarray, k1: float, b: float, avgdl: float
) -> tuple[np.ndarray, np.ndarray]:
    """Table of distinct tf parts (decreasing) and each posting's id into it."""
    if len(tf) == 0:
        return np.zeros(0), np.zeros(0, dtype=np.uint16)
    span = int(doc_len.max()) + 1
    keys = tf.astype(np.int64) * span + doc_len
    if int(keys.max()) < _DENSE_KEYS:
        present = np.zeros(int(keys.max()) + 1, dtype=bool)
        present[keys] = True
        unique_keys = np.flatnonzero(present)
        del present
    else:
        unique_keys = np.unique(keys)
    gain = tf_part(unique_keys // span, unique_keys % span, k1, b, avgdl)
    # Equal gains share an id, so postings with equal weights are ordered by passage.
    negated, id_of_key = np.unique(-gain, return_inverse=True)
    dtype = np.uint16 if len(negated) <= 1 << 16 else np.uint32
    if int(keys.max()) < _DENSE_KEYS:
        lookup = np.zeros(int(keys.max()) + 1, dtype=dtype)
        lookup[unique_keys] = id_of_key
        pair = lookup[keys]
    else:
        pair = id_of_key.astype(dtype)[np.searchsorted(unique_keys, keys)]
    return -negated, pair


def _runs(
    pairs: np.ndarray, term: np.ndarray, offsets: np.ndarray, num_terms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encode each term's impact-ordered pair ids."""
    starts = np.ones(len(pairs), dtype=bool)
    starts[1:] = (pairs[1:] != pairs[:-1]) | (term[1:] != term[:-1])
    first = np.flatnonzero(starts)
    del starts
    run_term = term[first]
    stops = np.append(first[1:], len(pairs)) - offsets[run_term]
    run_offsets = np.zeros(num_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(run_term, minlength=num_terms), out=run_offsets[1:])
    return run_offsets, pairs[first], stops.astype(np.int32)


def _groups(
    term: np.ndarray, doc: np.ndarray, num_terms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directory of (term, passage) ordered postings grouped by passage id >> LOW_BITS:
    each term's range of groups, each group's high part and start."""
    high = doc >> LOW_BITS
    starts = np.ones(len(doc), dtype=bool)
    starts[1:] = (high[1:] != high[:-1]) | (term[1:] != term[:-1])
    first = np.flatnonzero(starts)
    del starts
    group_offsets = np.zeros(num_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(term[first], minlength=num_terms), out=group_offsets[1:])
    group_starts = np.append(first, len(doc)).astype(np.int64)
    return group_offsets, high[first].astype(np.uint16), group_starts


def _chunks(lengths: np.ndarray, max_tokens: int) -> Iterator[tuple[int, int]]:
    """Consecutive passage ranges holding about max_tokens tokens each."""
    n = len(lengths)
    ends = np.cumsum(lengths)
    start = 0
    while start < n:
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + max_tokens, side="right")), start + 1)
        yield start, min(stop, n)
        start = stop
