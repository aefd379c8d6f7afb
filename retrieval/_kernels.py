"""Compiled inner loops of BM25Engine's query path.

numba compiles these on first use and caches the machine code on disk (next to
this file, or under ``NUMBA_CACHE_DIR``), so only the first process after an
install pays for compilation; later processes load the cached code. The loops
release the GIL, so searches in worker threads do not block an event loop.

Weights are computed with the same float operations as ``BM25Engine._weights``
(``idf * gain``, then times the query multiplicity) and summed in list order, so
results equal the numpy formulation.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from retrieval._postings import LOW_BITS


def _compiled(function):
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # no writable cache location: compile in each process
        return numba.njit(nogil=True)(function)


# Passages are accumulated one block of 2**_BLOCK_BITS at a time, so the per-passage
# sums (192 kB) stay in the CPU's cache instead of missing it on every posting, as
# an accumulator over the whole corpus would.
_BLOCK_BITS = 14


@_compiled
def accumulate(
    docs,  # int32 [postings]: impact order, ascending passage within each run
    run_pairs,  # pair id of each run
    run_stops,  # int32 end of each run, relative to its term's block
    gains,  # float64 [pair ids]
    starts,  # int64 [lists]: block start of each list in docs
    counts,  # int64 [lists]: postings taken from the front of each list
    first_runs,  # int64 [lists]: first run of each list
    last_runs,  # int64 [lists]: end of each list's runs
    idfs,  # float64 [lists]
    mults,  # int64 [lists]: occurrences of the term in the query
    num_passages,
    floor,  # passages summing to less are left out
    cand,  # int64 out: distinct passages
    partial,  # float64 out: their summed weights
    seen,  # int64 out: bit j set if seen in list j (bit 31 for lists past 31)
):
    """Sum the weights of the first counts[j] postings of each list j per passage;
    returns how many distinct passages reaching floor were written to
    cand/partial/seen.

    Every run of equal weight holds its passages in ascending order, so one cursor
    per run walks the postings block by block of passages, adding into a small
    block-sized accumulator. A passage's weights are added in list order.
    """
    size = 1 << _BLOCK_BITS
    mask = size - 1
    # at most every run of each list; only the runs the counts reach are filled
    most = np.sum(last_runs - first_runs)
    lo = np.empty(most, np.int64)
    hi = np.empty(most, np.int64)
    weights = np.empty(most)
    list_bits = np.empty(most, np.uint32)
    num_runs = 0
    for j in range(len(starts)):
        done = 0
        run = first_runs[j]
        while done < counts[j]:
            stop = min(np.int64(run_stops[run]), counts[j])
            weight = idfs[j] * gains[run_pairs[run]]
            if mults[j] != 1:
                weight = weight * mults[j]
            lo[num_runs] = starts[j] + done
            hi[num_runs] = starts[j] + stop
            weights[num_runs] = weight
            list_bits[num_runs] = np.uint32(1) << np.uint32(min(j, 31))
            done = stop
            run += 1
            num_runs += 1
    acc = np.zeros(size)
    bits = np.zeros(size, np.uint32)
    found = 0
    for block in range((num_passages + mask) >> _BLOCK_BITS):
        limit = (block + 1) << _BLOCK_BITS
        first = found
        for r in range(num_runs):
            p = lo[r]
            weight = weights[r]
            bit = list_bits[r]
            while p < hi[r]:
                d = docs[p]
                if d >= limit:
                    break
                local = d & mask
                if bits[local] == 0:
                    cand[found] = d
                    found += 1
                acc[local] += weight
                bits[local] |= bit
                p += 1
            lo[r] = p
        kept = first
        for i in range(first, found):
            d = cand[i]
            local = d & mask
            if acc[local] >= floor:
                cand[kept] = d
                partial[kept] = acc[local]
                seen[kept] = bits[local]
                kept += 1
            acc[local] = 0.0
            bits[local] = 0
        found = kept
    return found


_LOW_MASK = (1 << LOW_BITS) - 1

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@_compiled
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@_compiled
def _lower_bound(values, lo, hi, value):
    """First position in values[lo:hi] (sorted) whose entry is not below value."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_compiled
def _weight(j, d, lists, index):
    """Query-weighted weight of list j's term in passage d (0 if absent)."""
    starts, idfs, mults, slots, first_groups, last_groups = lists
    bitmaps, ranks, sorted_pairs, group_highs, group_starts, sparse_lows, gains = index
    slot = slots[j]
    if slot >= 0:
        word = bitmaps[slot, d >> 6]
        shift = np.uint64(d & 63)
        if (word >> shift) & np.uint64(1) == 0:
            return 0.0
        below = word & ((np.uint64(1) << shift) - np.uint64(1))
        pos = np.int64(ranks[slot, d >> 6]) + np.int64(_popcount(below))
    else:
        # the group of d's high part, then d's low part within it
        high, low = d >> LOW_BITS, d & _LOW_MASK
        first, last = first_groups[j], last_groups[j]
        group = _lower_bound(group_highs, first, last, high)
        if group == last or group_highs[group] != high:
            return 0.0
        end = group_starts[group + 1]
        at = _lower_bound(sparse_lows, group_starts[group], end, low)
        if at == end or sparse_lows[at] != low:
            return 0.0
        pos = at - group_starts[first]
    weight = idfs[j] * gains[sorted_pairs[starts[j] + pos]]
    if mults[j] != 1:
        weight = weight * mults[j]
    return weight


@_compiled
def complete(
    cand,  # int64 [candidates]
    partial,  # float64 [candidates]: weights summed over the lists each was seen in
    seen,  # int64 [candidates]: bit j set if seen in list j
    probes,  # int64: lists to look candidates up in, largest missing first
    missing,  # float64 [lists]: bound on list j's weight where a candidate was not seen
    rest_of,  # float64 [1 << lists]: sum of missing[j] over probe lists j not in a mask
    k,  # keep raising budget to the k-th best exact score (0: never)
    budget,  # scores below this cannot make the answer
    lists,  # per list: (block start, idf, query multiplicity, bitmap slot or -1,
    #         first group, end of its groups)
    index,  # (bitmaps, ranks, sorted_pairs, group_highs, group_starts, sparse_lows, gains)
    out_docs,  # int64 out
    out_scores,  # float64 out
):
    """Exact scores of the candidates that can still reach budget, in candidate order;
    returns how many were written. A candidate is dropped as soon as its partial score
    plus the bounds of the lists it was not looked up in yet falls below budget."""
    top = np.full(max(k, 1), -np.inf)
    low = 0
    found = 0
    for i in range(len(cand)):
        mask = seen[i]
        score = partial[i]
        rest = rest_of[mask]
        if score + rest < budget:
            continue
        d = cand[i]
        # Bitmap probes first: they are cheap, and a frequent term's absence lowers
        # the bound without touching the larger per-posting arrays.
        bitmaps = index[0]
        slots = lists[3]
        for j in probes:
            slot = slots[j]
            if slot < 0 or mask & (np.int64(1) << j):
                continue
            if (bitmaps[slot, d >> 6] >> np.uint64(d & 63)) & np.uint64(1) == 0:
                mask |= np.int64(1) << j
                rest -= missing[j]
        if score + rest < budget:
            continue
        alive = True
        for j in probes:
            if mask & (np.int64(1) << j):
                continue
            rest -= missing[j]
            score += _weight(j, d, lists, index)
            if score + rest < budget:
                alive = False
                break
        if not alive or score < budget:
            continue
        out_docs[found] = d
        out_scores[found] = score
        found += 1
        if k > 0 and score > top[low]:
            top[low] = score
            low = np.argmin(top)
            kth = top[low]
            if kth > -np.inf:
                floor = kth - (1e-9 * abs(kth) + 1e-12)
                if floor > budget:
                    budget = floor
    return found


@_compiled
def _worse(score_a, doc_a, score_b, doc_b):
    """Whether (score_a, doc_a) ranks below (score_b, doc_b): lower score, then higher id."""
    return score_a < score_b or (score_a == score_b and doc_a > doc_b)


@_compiled
def _sift_down(heap_scores, heap_docs, size, i):
    """Restore the min-heap (worst on top) below position i."""
    while True:
        child = 2 * i + 1
        if child >= size:
            return
        if child + 1 < size and _worse(
            heap_scores[child + 1], heap_docs[child + 1], heap_scores[child], heap_docs[child]
        ):
            child += 1
        if not _worse(heap_scores[child], heap_docs[child], heap_scores[i], heap_docs[i]):
            return
        heap_scores[i], heap_scores[child] = heap_scores[child], heap_scores[i]
        heap_docs[i], heap_docs[child] = heap_docs[child], heap_docs[i]
        i = child


# A lookup of one passage's weight in a bitmap list (mostly a cache miss in the pair
# ids) is counted as this many postings summed: a block leaves lists out only if its
# passages within reach of the heap, times the lists left out, times this, come to
# fewer postings than those lists hold in the block. Measured at k=10 against summing
# everything (medians / 95th percentiles of per-question times): Zipfian general
# questions at 1M passages 0.50 / 0.58 of the time, long 0.80 / 0.99; at 100k, English
# long 0.82 / 1.03, general 1.05 / 0.95 (a cost of 16 made that 1.08, 128 long at 1M
# 0.89 / 1.03).
_PROBE_COST = 32
# Lists are left out only for k below this: with a larger k the heap's worst score
# stays low and most passages stay within reach (Zipfian questions at 1M passages,
# k=100, with an earlier form of the cost rule: 1.0-1.2 times the time of summing
# everything).
_PRUNE_K = 32

# Passages per chunk of an accumulator when selecting the best k: with a full heap, a
# chunk holding nothing above its worst is skipped after one branch-free count.
_CHUNK = 64
# From this k on, the best k are selected from the chunks whose maxima reach the k-th
# best chunk maximum: one more read of the accumulator (about 20 us at 100k passages)
# saves more heap work than it costs (about 25 us saved at k=100, 30 us lost at k=10).
_CHUNK_SELECT_K = 32
# ... but only while the accumulator stays in the CPU's caches: its two further passes
# (the maxima, then clearing it) cost more than the heap work they save on a large one
# (selecting the best 100 of English questions' sums, median: 0.05 ms by chunks against
# 0.07 by the heap at 100k passages, 0.14 against 0.14 at 300k, 0.25 against 0.20 at
# 500k, 0.96 against 0.69 at 1M).
_CHUNK_SELECT_PASSAGES = 400_000
# Below _CHUNK_SELECT_K, summing a term at a time (top_k_term_order) beats the blocks
# that leave lists out (top_k_passage_order) up to this many passages. Both kernels and
# bm25s timed in turn in one process at k=10, 100 questions per mix, medians / 95th
# percentiles in ms, term order against blocks: at 100k, English general 0.135 / 0.186
# against 0.161 / 0.212 (bm25s 0.146 / 0.224), long 0.249 / 0.499 against 0.265 / 0.522,
# Zipfian general 0.186 / 0.317 against 0.204 / 0.340; at 200k, English general 0.254 /
# 0.375 against 0.310 / 0.431, long 0.455 / 0.928 against 0.452 / 0.916, Zipfian general
# 0.322 / 0.449 against 0.358 / 0.490; at 400k the blocks' pruning wins the long tail
# (English long p95 1.434 against 1.708, Zipfian 1.837 against 1.992).
_TERM_ORDER_PASSAGES = 200_000


@numba.njit(cache=True, nogil=True, fastmath=True)
def _chunk_maxima(acc, maxima):
    """Largest entry (at least 0) of each _CHUNK entries of acc; fast-math lets the
    maximum vectorise, and comparisons alone leave every value exact."""
    n = len(acc)
    full = n // _CHUNK
    for c in range(full):
        top = 0.0
        base = c * _CHUNK
        for i in range(_CHUNK):
            value = acc[base + i]
            top = value if value > top else top
        maxima[c] = top
    if full < len(maxima):
        top = 0.0
        for d in range(full * _CHUNK, n):
            value = acc[d]
            top = value if value > top else top
        maxima[full] = top


@_compiled
def _heap_push(out_scores, out_docs, count, k, score, d):
    """Offer (score, d) to the heap of the count (<= k) best so far, worst on top;
    returns the new count. Passages may come in any order: an equal score displaces
    the worst only from a lower passage."""
    if count < k:
        at = count
        out_scores[at] = score
        out_docs[at] = d
        while at > 0:
            parent = (at - 1) >> 1
            if not _worse(out_scores[at], out_docs[at], out_scores[parent], out_docs[parent]):
                break
            out_scores[at], out_scores[parent] = out_scores[parent], out_scores[at]
            out_docs[at], out_docs[parent] = out_docs[parent], out_docs[at]
            at = parent
        return count + 1
    if _worse(out_scores[0], out_docs[0], score, d):
        out_scores[0] = score
        out_docs[0] = d
        _sift_down(out_scores, out_docs, k, 0)
    return count


@_compiled
def _select(acc, touched, positive, k, out_docs, out_scores):
    """Keep the k best passages of acc that contain a query term (positive: every
    weight is above zero, so those are the nonzero entries; else touched marks them)
    in a heap in out_docs/out_scores, leaving acc all zero; returns how many."""
    count = 0
    n = len(acc)
    chunks = (n + _CHUNK - 1) // _CHUNK
    if positive and _CHUNK_SELECT_K <= k <= chunks and n <= _CHUNK_SELECT_PASSAGES:
        # k chunks hold a passage scoring at least the k-th best chunk maximum, so
        # no passage below it can make the answer: only chunks reaching it are read
        maxima = np.empty(chunks)
        _chunk_maxima(acc, maxima)
        floor = np.partition(maxima, chunks - k)[chunks - k]
        for c in range(chunks):
            if maxima[c] < floor or maxima[c] == 0.0:
                continue  # below the answer, or no passage of it touched
            for d in range(c * _CHUNK, min((c + 1) * _CHUNK, n)):
                score = acc[d]
                if score < floor or score == 0.0:
                    continue
                count = _heap_push(out_scores, out_docs, count, k, score, d)
        acc[:] = 0.0
        return count
    low = -np.inf  # the heap's worst score once it holds k passages
    chunk = _CHUNK
    for first in range(0, n, chunk):
        last = min(first + chunk, n)
        if count == k:
            # most chunks hold nothing above the heap: one branch-free count each
            above = 0
            for d in range(first, last):
                above += acc[d] > low
            if above == 0:
                # cleared while in cache rather than in a second pass
                acc[first:last] = 0.0
                continue
        for d in range(first, last):
            score = acc[d]
            acc[d] = 0.0
            if score < low or (positive and score == 0.0) or (not positive and touched[d] == 0):
                continue
            count = _heap_push(out_scores, out_docs, count, k, score, d)
            if count == k:
                low = out_scores[0]
    return count


@_compiled
def _select_block(acc, touched, positive, size, base, k, count, out_docs, out_scores):
    """Offer the first size passages of a block accumulator (passage base + i at i)
    that contain a query term (positive: every weight is above zero, so those are the
    nonzero entries; else touched marks them) to the heap of the count (<= k) best so
    far in out_docs/out_scores, leaving them all zero; returns the new count."""
    low = out_scores[0] if count == k else -np.inf  # the heap's worst once full
    for first in range(0, size, _CHUNK):
        last = min(first + _CHUNK, size)
        if count == k:
            # most chunks hold nothing above the heap: one branch-free count each
            above = 0
            for i in range(first, last):
                above += acc[i] > low
            if above == 0:
                acc[first:last] = 0.0
                continue
        for i in range(first, last):
            score = acc[i]
            acc[i] = 0.0
            if score < low or (positive and score == 0.0) or (not positive and touched[i] == 0):
                continue
            count = _heap_push(out_scores, out_docs, count, k, score, base + i)
            if count == k:
                low = out_scores[0]
    if not positive:
        touched[:size] = 0
    return count


@_compiled
def _postings(tids, offsets):
    """How many postings the lists of these terms hold together."""
    total = 0
    for tid in tids:
        total += offsets[tid + 1] - offsets[tid]
    return total


@_compiled
def _shortest_first(tids, mults, offsets):
    """The lists ordered by their postings, fewest first (ties in query order): every
    path sums a passage's weights in this order, so their sums are bit-identical, and
    the exhaustive kernel can leave the longest (bitmap) lists last, to be looked up
    only for passages that can still make the answer."""
    sizes = np.empty(len(tids), np.int64)
    for j in range(len(tids)):
        sizes[j] = offsets[tids[j] + 1] - offsets[tids[j]]
    order = np.argsort(sizes, kind="mergesort")
    return tids[order], mults[order]


@_compiled
def _heap_sort(out_scores, out_docs, count):
    """Sort a heap of count passages (worst on top) best first: the worst on top goes
    to the end, again and again."""
    for end in range(count - 1, 0, -1):
        out_scores[0], out_scores[end] = out_scores[end], out_scores[0]
        out_docs[0], out_docs[end] = out_docs[end], out_docs[0]
        _sift_down(out_scores, out_docs, end, 0)


@_compiled
def _left_out_pays(acc, within, block, cut, worst, rest, tids, offsets, slots, ranks):
    """Whether looking lists cut, cut + 1, ... (all with bitmaps) up for the passages of
    a block that the other lists left within reach of the heap's worst score costs
    less than summing their postings of the block would."""
    reach = rest[cut]
    near = 0
    for i in range(within):
        near += acc[i] + reach > worst
    words_per_block = (1 << _BLOCK_BITS) >> 6
    first_word = block * words_per_block
    next_word = first_word + words_per_block
    skipped = 0
    for j in range(cut, len(tids)):
        slot = slots[tids[j]]
        end = offsets[tids[j] + 1] - offsets[tids[j]]
        if next_word < ranks.shape[1]:
            end = np.int64(ranks[slot, next_word])
        skipped += end - np.int64(ranks[slot, first_word])
    return near * (len(tids) - cut) * _PROBE_COST < skipped


@_compiled
def _look_up_left_out(
    acc, within, block, cut, worst, rest, tids, offsets, slots, table, sorted_pairs, bitmaps, ranks
):
    """Add the weights of lists cut, cut + 1, ... (all with bitmaps, left out of a
    block's sums) to the passages of the block that the others left within reach of
    the heap's worst score, in list order."""
    base = np.int64(block) << _BLOCK_BITS
    reach = rest[cut]
    for first in range(0, within, _CHUNK):
        last = min(first + _CHUNK, within)
        near = 0
        for i in range(first, last):
            near += acc[i] + reach > worst
        if near == 0:
            continue
        for i in range(first, last):
            if not acc[i] + reach > worst:
                continue
            d = base + i
            w = d >> 6
            bit = np.uint64(d & 63)
            for j in range(cut, len(tids)):
                slot = slots[tids[j]]
                word = bitmaps[slot, w]
                if (word >> bit) & np.uint64(1) != 0:
                    below = word & ((np.uint64(1) << bit) - np.uint64(1))
                    at = offsets[tids[j]] + np.int64(ranks[slot, w])
                    acc[i] += table[j, sorted_pairs[at + np.int64(_popcount(below))]]
                if not acc[i] + rest[j + 1] > worst:
                    break  # out of reach: left partial, below the heap


@_compiled
def top_k_passage_order(
    tids,  # int64 [lists]: term ids
    mults,  # int64 [lists]: occurrences of each term in the query
    least,  # nothing is done (returns -1) unless the lists hold more postings
    offsets,  # int64 [terms + 1]: each term's block in sorted_pairs
    run_offsets,  # int64 [terms + 1]: each term's runs (its pair ids)
    idf,  # float64 [terms]
    slots,  # int64 [terms]: bitmap row, or -1
    group_offsets,  # int64 [terms + 1]: each term's groups of passage-ordered ids
    run_pairs,  # pair id of each run
    gains,  # float64 [pair ids]
    sorted_pairs,  # pair ids in passage order
    bitmaps,  # uint64 [dense terms, words]
    ranks,  # int32 [dense terms, words]: set bits before each word
    group_highs,  # uint16 [groups]
    group_starts,  # int64 [groups + 1]
    sparse_lows,  # uint16
    num_passages,
    k,
    out_docs,  # int64 out [k]: best passages
    out_scores,  # float64 out [k]
    pruned,  # int64 out [1]: blocks that left lists out
):
    """Sum every posting of every list per passage, then keep the k best passages that
    contain a query term, best first (score descending, then lower passage); returns
    how many were written.

    With many frequent terms nearly every passage is a candidate and no bound prunes
    much: one add per posting without candidate bookkeeping, and one pass over the sums,
    is the cheapest exact answer (bm25s's exhaustive scoring, with integer pair ids in
    place of stored scores). Postings are read in passage order (bitmap bits, or the
    directory of high parts and the low parts), one block of 2**_BLOCK_BITS passages at
    a time: each list keeps a cursor, every list adds its postings of the block into a
    block accumulator (so a passage's weights are added in list order, as accumulate
    does), whose best passages go to the heap and which is cleared while still in the
    CPU's cache. Lists are taken fewest postings first; for a small k, once the heap is
    full, a block may leave out the longest lists (all with bitmaps) whose largest
    weights together cannot lift a passage to the heap's worst score, and look them up
    only for the passages the others lifted within reach of it (_left_out_pays,
    _look_up_left_out): still in list order, so the sums are the same. Summing a term
    at a time into an accumulator over all passages swept 8 MB once per term at 1M
    passages, then once more to select and clear it: in
    block order English questions at 1M passages took (medians, both orders timed in
    turn in one process, k=10) 1.26 ms against 2.04 for general ones and 3.26 against
    4.62 for long ones.
    """
    if not _postings(tids, offsets) > least:
        return -1
    tids, mults = _shortest_first(tids, mults, offsets)
    num = len(tids)
    # each list's weight per pair id, computed as accumulate computes it: looked up per
    # posting, 3-10% faster than multiplying idf, gain and multiplicity per posting
    # (English general and long questions at 1M passages)
    table = np.empty((num, len(gains)))
    positive = True
    for j in range(num):
        tid = tids[j]
        for run in range(run_offsets[tid], run_offsets[tid + 1]):
            pair = run_pairs[run]
            weight = idf[tid] * gains[pair]
            if mults[j] != 1:
                weight = weight * mults[j]
            table[j, pair] = weight
            if not weight > 0.0:
                positive = False
    size = 1 << _BLOCK_BITS
    acc = np.zeros(size)
    touched = np.zeros(0 if positive else size, np.uint8)
    # cursors: next posting (sorted_pairs), and for lists without a bitmap their group
    # and next low part
    pos = np.empty(num, np.int64)
    group = np.empty(num, np.int64)
    at = np.empty(num, np.int64)
    for j in range(num):
        tid = tids[j]
        pos[j] = offsets[tid]
        group[j] = group_offsets[tid]
        at[j] = group_starts[group_offsets[tid]] if slots[tid] < 0 else 0
    # rest[j]: a bound on what lists j, j + 1, ... add to a passage, a little above the
    # sum of their largest weights so that rounding cannot make it too low
    rest = np.zeros(num + 1)
    for j in range(num - 1, -1, -1):
        best = 0.0
        for run in range(run_offsets[tids[j]], run_offsets[tids[j] + 1]):
            best = max(best, table[j, run_pairs[run]])
        rest[j] = rest[j + 1] + best
    for j in range(num + 1):
        rest[j] = rest[j] * (1.0 + 1e-9) + 1e-12
    # lists from first_bitmap on have bitmaps (the longest lists come last)
    first_bitmap = num
    while first_bitmap > 0 and slots[tids[first_bitmap - 1]] >= 0:
        first_bitmap -= 1
    words_per_block = size >> 6
    pruned[0] = 0
    count = 0
    for block in range((num_passages + size - 1) >> _BLOCK_BITS):
        base = np.int64(block) << _BLOCK_BITS
        limit = base + size
        first_word = block * words_per_block
        # Once the heap is full, a passage needs more than its worst score: the longest
        # lists whose weights together cannot lift a passage that far are not summed
        # for this block, only looked up for the passages the others lifted near it.
        cut = num
        worst = -np.inf
        if positive and count == k and k < _PRUNE_K:
            worst = out_scores[0]
            while cut > first_bitmap and rest[cut - 1] < worst:
                cut -= 1
        within = min(size, num_passages - base)
        lo, hi = 0, cut
        while True:
            for j in range(lo, hi):
                tid = tids[j]
                weights = table[j]
                p = pos[j]
                slot = slots[tid]
                if slot >= 0:
                    words = bitmaps[slot]
                    if first_word < len(words):
                        p = offsets[tid] + np.int64(ranks[slot, first_word])
                    for w in range(first_word, min(first_word + words_per_block, len(words))):
                        word = words[w]
                        local = np.int64(w - first_word) << 6
                        while word != 0:
                            i = local + np.int64(trailing_zeros(word))
                            acc[i] += weights[sorted_pairs[p]]
                            if not positive:
                                touched[i] = 1
                            p += 1
                            word &= word - np.uint64(1)
                else:
                    g = group[j]
                    i = at[j]
                    while g < group_offsets[tid + 1]:
                        high = np.int64(group_highs[g]) << LOW_BITS
                        if high >= limit:
                            break
                        end = group_starts[g + 1]
                        shift = high - base  # block position of low part 0
                        bound = limit - high  # low parts from here on are past the block
                        while i < end:
                            low = np.int64(sparse_lows[i])
                            if low >= bound:
                                break
                            acc[shift + low] += weights[sorted_pairs[p]]
                            if not positive:
                                touched[shift + low] = 1
                            p += 1
                            i += 1
                        if i < end:
                            break
                        g += 1
                    group[j] = g
                    at[j] = i
                pos[j] = p
            if hi == num:
                break
            # lists cut, cut + 1, ... cannot lift a passage to the heap on their own: look
            # them up for the passages the others lifted within reach of it, unless that
            # costs more than summing them (both in list order)
            if _left_out_pays(acc, within, block, cut, worst, rest, tids, offsets, slots, ranks):
                pruned[0] += 1
                _look_up_left_out(
                    acc,
                    within,
                    block,
                    cut,
                    worst,
                    rest,
                    tids,
                    offsets,
                    slots,
                    table,
                    sorted_pairs,
                    bitmaps,
                    ranks,
                )
                break
            lo, hi = cut, num
        count = _select_block(acc, touched, positive, within, base, k, count, out_docs, out_scores)
    _heap_sort(out_scores, out_docs, count)
    return count


@_compiled
def top_k_term_order(
    tids,  # int64 [lists]: term ids
    mults,  # int64 [lists]: occurrences of each term in the query
    least,  # nothing is done (returns -1) unless the lists hold more postings
    offsets,  # int64 [terms + 1]: each term's block in sorted_pairs
    run_offsets,  # int64 [terms + 1]: each term's runs (its pair ids)
    idf,  # float64 [terms]
    slots,  # int64 [terms]: bitmap row, or -1
    group_offsets,  # int64 [terms + 1]: each term's groups of passage-ordered ids
    run_pairs,  # pair id of each run
    gains,  # float64 [pair ids]
    sorted_pairs,  # pair ids in passage order
    bitmaps,  # uint64 [dense terms, words]
    ranks,  # int32 [dense terms, words]: set bits before each word (unused here)
    group_highs,  # uint16 [groups]
    group_starts,  # int64 [groups + 1]
    sparse_lows,  # uint16
    k,
    acc,  # float64 [passages], all zero; left all zero
    table,  # float64 [pair ids]: scratch, any contents
    out_docs,  # int64 out [k]: best passages
    out_scores,  # float64 out [k]
):
    """top_k_passage_order summed a term at a time into acc, an accumulator over all
    passages (a passage's weights are still added in list order), then the best k
    selected from acc (by chunk maxima where _select allows it).

    For small indexes at large k: an accumulator over 100k passages stays in the CPU's
    caches, and selecting the best 100 from the chunks whose maxima reach the k-th best
    chunk maximum costs less than offering every block's passages to the heap (English
    questions at 100k passages, medians at k=100, both kernels timed in turn in one
    process: general 0.19 ms against 0.22 block by block, long 0.40 against 0.44). At
    k=10 too, up to _TERM_ORDER_PASSAGES (see there).
    """
    if not _postings(tids, offsets) > least:
        return -1
    tids, mults = _shortest_first(tids, mults, offsets)
    positive = True
    for j in range(len(tids)):
        tid = tids[j]
        for run in range(run_offsets[tid], run_offsets[tid + 1]):
            weight = idf[tid] * gains[run_pairs[run]]
            if mults[j] != 1:
                weight = weight * mults[j]
            if not weight > 0.0:
                positive = False
    touched = np.zeros(0 if positive else len(acc), np.uint8)
    for j in range(len(tids)):
        tid = tids[j]
        for run in range(run_offsets[tid], run_offsets[tid + 1]):
            pair = run_pairs[run]
            weight = idf[tid] * gains[pair]
            if mults[j] != 1:
                weight = weight * mults[j]
            table[pair] = weight
        pos = offsets[tid]
        slot = slots[tid]
        if slot >= 0:
            words = bitmaps[slot]
            for w in range(len(words)):
                word = words[w]
                base = np.int64(w) << 6
                while word != 0:
                    d = base + np.int64(trailing_zeros(word))
                    acc[d] += table[sorted_pairs[pos]]
                    if not positive:
                        touched[d] = 1
                    pos += 1
                    word &= word - np.uint64(1)
        else:
            for g in range(group_offsets[tid], group_offsets[tid + 1]):
                high = np.int64(group_highs[g]) << LOW_BITS
                for i in range(group_starts[g], group_starts[g + 1]):
                    d = high | np.int64(sparse_lows[i])
                    acc[d] += table[sorted_pairs[pos]]
                    if not positive:
                        touched[d] = 1
                    pos += 1
    count = _select(acc, touched, positive, k, out_docs, out_scores)
    _heap_sort(out_scores, out_docs, count)
    return count


@_compiled
def top_k_gathered(
    tids,  # int64 [lists]: term ids
    mults,  # int64 [lists]: occurrences of each term in the query
    offsets,  # int64 [terms + 1]: each term's block in docs
    run_offsets,  # int64 [terms + 1]: each term's runs
    idf,  # float64 [terms]
    docs,  # int32 [postings]: impact order
    run_pairs,  # pair id of each run
    run_stops,  # int32 end of each run, relative to its term's block
    gains,  # float64 [pair ids]
    num_passages,
    k,
    cand,  # int64 scratch: at least as many entries as distinct passages in the lists
    partial,  # float64 scratch, as many
    seen,  # int64 scratch, as many
    out_docs,  # int64 out [k]: best passages
    out_scores,  # float64 out [k]
):
    """The k best passages that contain a query term, best first (score descending,
    then lower passage), by summing only the passages the lists touch (accumulate);
    returns how many were written, or -1 if cand may be too small for them.

    One list of positive idf needs no sums: its impact order is the answer. Everything
    a short query needs, from its term ids to its sorted answer, runs here in one call:
    looking the terms' entries up, gathering and selecting with numpy cost rare questions
    about 40 us of their 60 (English, 100k passages)."""
    num = 0
    total = 0
    for j in range(len(tids)):
        size = offsets[tids[j] + 1] - offsets[tids[j]]
        if size > 0:
            num += 1
            total += size
    if num == 0:
        return 0
    if num == 1:
        for j in range(len(tids)):
            tid = tids[j]
            start = offsets[tid]
            if offsets[tid + 1] == start or not idf[tid] > 0:
                continue
            count = min(k, offsets[tid + 1] - start)
            done = 0
            run = run_offsets[tid]
            while done < count:
                stop = min(np.int64(run_stops[run]), count)
                weight = idf[tid] * gains[run_pairs[run]]
                if mults[j] != 1:
                    weight = weight * mults[j]
                for p in range(done, stop):
                    out_docs[p] = docs[start + p]
                    out_scores[p] = weight
                done = stop
                run += 1
            return count
    if min(total, num_passages) > len(cand):
        return -1
    tids, mults = _shortest_first(tids, mults, offsets)
    starts = np.empty(num, np.int64)
    counts = np.empty(num, np.int64)
    first_runs = np.empty(num, np.int64)
    last_runs = np.empty(num, np.int64)
    idfs = np.empty(num)
    list_mults = np.empty(num, np.int64)
    i = 0
    for j in range(len(tids)):
        tid = tids[j]
        if offsets[tid + 1] == offsets[tid]:
            continue
        starts[i] = offsets[tid]
        counts[i] = offsets[tid + 1] - offsets[tid]
        first_runs[i] = run_offsets[tid]
        last_runs[i] = run_offsets[tid + 1]
        idfs[i] = idf[tid]
        list_mults[i] = mults[j]
        i += 1
    found = accumulate(
        docs,
        run_pairs,
        run_stops,
        gains,
        starts,
        counts,
        first_runs,
        last_runs,
        idfs,
        list_mults,
        num_passages,
        -np.inf,
        cand,
        partial,
        seen,
    )
    count = 0
    for i in range(found):
        count = _heap_push(out_scores, out_docs, count, k, partial[i], cand[i])
    _heap_sort(out_scores, out_docs, count)
    return count
