"""BM25Engine against rank_bm25.BM25Okapi on a synthetic corpus."""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from retrieval import engine as engine_module
from retrieval.engine import BM25Engine

K1, B, EPSILON = 1.5, 0.75, 0.25


def _make_corpus(seed: int = 7, num_passages: int = 400, vocab_size: int = 300):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab_size)]
    probs = 1.0 / np.arange(1, vocab_size + 1)
    probs /= probs.sum()
    corpus = []
    for i in range(num_passages):
        length = int(rng.integers(1, 40))
        passage = [words[j] for j in rng.choice(vocab_size, size=length, p=probs)]
        # "common" is in most passages (negative idf -> epsilon floor);
        # "half" is in exactly half of them (idf exactly 0).
        if rng.random() < 0.8:
            passage += ["common"] * int(rng.integers(1, 4))
        if i % 2 == 0:
            passage.append("half")
        corpus.append(passage)
    # "half" must be in exactly N/2 passages, so the empty passage is an odd index.
    corpus[101] = []
    return corpus


CORPUS = _make_corpus()
REFERENCE = BM25Okapi(CORPUS, k1=K1, b=B, epsilon=EPSILON)
QUERIES = [
    ["w3", "w17"],
    ["w0", "w1", "w2", "w0"],
    ["common"],
    ["common", "w250", "w250", "w250"],
    ["half"],
    ["half", "unknown"],
    ["w5", "nosuchword", "w42", "common", "w5", "w120"],
    ["w299", "w298", "w1"],
    ["zzz"],
]

# Each mode forces one of the query strategies the engine chooses between.
MODES = {
    "auto": {},
    # a small index is scored with numpy alone; these force the compiled loops
    "compiled": {"_COMPILED_PASSAGES": 0},
    "numpy": {"_COMPILED_PASSAGES": 10**9},
    # every query summed whole into a dense accumulator
    "exhaustive": {"_COMPILED_PASSAGES": 0, "_SMALL_QUERY_SHARE": 0},
    # candidate buffers mostly too large to keep: fresh arrays, and kept ones regrown
    "unbuffered": {"_COMPILED_PASSAGES": 0, "_SMALL_QUERY_SHARE": 0, "_SCRATCH_KEEP": 8},
}


@pytest.fixture(params=list(MODES))
def mode(request, monkeypatch):
    for name, value in MODES[request.param].items():
        monkeypatch.setattr(engine_module, name, value)
    return request.param


@pytest.fixture(scope="module")
def engine() -> BM25Engine:
    return BM25Engine.build(CORPUS, k1=K1, b=B, epsilon=EPSILON)


def _expected_top(query: list[str], k: int) -> tuple[list[int], np.ndarray]:
    ref = REFERENCE.get_scores(query)
    qset = set(query)
    touched = [i for i, passage in enumerate(CORPUS) if qset.intersection(passage)]
    order = sorted(touched, key=lambda i: (-ref[i], i))[:k]
    return order, ref


def test_epsilon_floor_and_zero_idf_are_exercised():
    assert REFERENCE.idf["common"] == pytest.approx(EPSILON * REFERENCE.average_idf)
    assert REFERENCE.idf["half"] == 0.0


@pytest.mark.parametrize("query", QUERIES)
def test_dense_scores_equal_rank_bm25(engine, query):
    np.testing.assert_allclose(
        engine.get_scores(query), REFERENCE.get_scores(query), rtol=1e-9, atol=0
    )


@pytest.mark.parametrize("k", [1, 5, 10, 1000])
@pytest.mark.parametrize("query", QUERIES)
def test_top_k_matches_rank_bm25_order(engine, mode, query, k):
    hits = engine.search(query, k)
    expected, ref = _expected_top(query, k)
    assert len(hits) == len(expected)
    ids = [i for i, _ in hits]
    scores = np.array([s for _, s in hits])
    np.testing.assert_allclose(scores, ref[ids], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(scores, ref[expected], rtol=1e-9, atol=1e-12)
    for got, want in zip(ids, expected, strict=True):
        if got != want:  # only allowed where rank-bm25 scores tie
            assert ref[got] == pytest.approx(ref[want], rel=1e-9, abs=1e-12)
    # best first, exact ties by lower passage index
    keys = [(-s, i) for i, s in hits]
    assert keys == sorted(keys)


def test_only_passages_containing_a_query_term_are_returned(engine, mode):
    hits = engine.search(["half"], 10_000)
    assert len(hits) == len(CORPUS) // 2
    assert all(score == 0.0 for _, score in hits)
    assert [i for i, _ in hits] == list(range(0, len(CORPUS), 2))


def test_concurrent_searches_in_threads_get_their_own_results(blocks):
    """The kernels release the GIL and write into per-thread buffers: searches running
    at once in a thread pool return exactly what they return one at a time."""
    _, _, engine = blocks
    queries = [["w3", "w17", "w90"], ["w0", "w1", "common", "w119"], ["w90", "rare", "w5"]]
    expected = [engine.search(q, 25) for q in queries]
    jobs = [i % len(queries) for i in range(120)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda i: engine.search(queries[i], 25), jobs))
    assert results == [expected[i] for i in jobs]


def test_empty_and_unknown_queries_return_nothing(engine):
    assert engine.search([], 10) == []
    assert engine.search(["nosuchword"], 10) == []
    assert engine.search(["w1"], 0) == []
    assert not engine.get_scores(["nosuchword"]).any()


def test_vocabulary_and_doc_freq(engine):
    assert set(engine.vocabulary()) == {t for p in CORPUS for t in p}
    assert engine.num_passages == len(CORPUS)
    assert engine.doc_freq("half") == len(CORPUS) // 2
    assert engine.doc_freq("common") == sum("common" in p for p in CORPUS)
    assert engine.doc_freq("nosuchword") == 0


def test_empty_corpus_and_empty_passages():
    assert BM25Engine.build([]).search(["a"], 5) == []
    engine = BM25Engine.build([[], ["a", "b"], []])
    assert engine.search(["a"], 5) == [(1, pytest.approx(engine.get_scores(["a"])[1]))]


def test_save_load_round_trip(engine, tmp_path):
    engine.save(tmp_path / "index")
    loaded = BM25Engine.load(tmp_path / "index")
    assert list(loaded.vocabulary()) == list(engine.vocabulary())
    assert (loaded.k1, loaded.b, loaded.epsilon) == (K1, B, EPSILON)
    assert loaded.num_passages == engine.num_passages
    for query in QUERIES:
        assert loaded.search(query, 10) == engine.search(query, 10)
        np.testing.assert_array_equal(loaded.get_scores(query), engine.get_scores(query))
    # saving over an existing index replaces it
    other = BM25Engine.build([["x"], ["y", "x"]])
    other.save(tmp_path / "index")
    assert BM25Engine.load(tmp_path / "index").search(["x"], 5) == other.search(["x"], 5)


def _saved(engine: BM25Engine, tmp_path):
    directory = tmp_path / "index"
    engine.save(directory)
    return directory


def _truncate(path, keep: int | None = None) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 if keep is None else keep])


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: (d / "meta.json").unlink(), id="interrupted-save"),
        pytest.param(lambda d: _truncate(d / "docs.npy"), id="truncated-docs"),
        pytest.param(lambda d: _truncate(d / "run_stops.npy", 40), id="truncated-header"),
        pytest.param(lambda d: (d / "sorted_pairs.npy").unlink(), id="missing-array"),
        pytest.param(lambda d: _truncate(d / "vocab.bin"), id="truncated-vocab"),
        pytest.param(lambda d: _truncate(d / "meta.json"), id="corrupt-meta"),
        pytest.param(lambda d: (d / "offsets.npy").write_bytes(b"garbage"), id="garbage-array"),
    ],
)
def test_load_rejects_damaged_index(engine, tmp_path, damage):
    directory = _saved(engine, tmp_path)
    damage(directory)
    with pytest.raises(ValueError, match="index"):
        BM25Engine.load(directory)


def test_load_rejects_other_versions_and_missing_directories(engine, tmp_path):
    with pytest.raises(ValueError, match="missing"):
        BM25Engine.load(tmp_path / "nowhere")
    directory = _saved(engine, tmp_path)
    meta_path = directory / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = 999
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="version"):
        BM25Engine.load(directory)


@pytest.fixture(scope="module")
def blocks():
    corpus = _make_corpus(seed=11, num_passages=140_000, vocab_size=120)
    # a rare term in id groups 0 and 2 only: passage 65543 is group 1's passage
    # with the same low bits as 131079
    for i in (7, 131_079):
        corpus[i].append("rare")
    reference = BM25Okapi(corpus, k1=K1, b=B, epsilon=EPSILON)
    return corpus, reference, BM25Engine.build(corpus, k1=K1, b=B, epsilon=EPSILON)


@pytest.mark.parametrize("k", [25, 100])
@pytest.mark.parametrize("query", [["w3", "w17", "w90"], ["w0", "w1", "common", "w119"]])
def test_corpus_spanning_many_blocks(blocks, mode, query, k):
    """Passages are summed block by block (2**14 passages) and looked up in groups
    of 2**16 passage ids; a corpus of several of each, with lists crossing every
    boundary, still scores exactly; at k=100 the best are selected from the chunks of
    the accumulator whose maxima reach the k-th best chunk maximum."""
    corpus, reference, engine = blocks
    ref = reference.get_scores(query)
    hits = engine.search(query, k)
    qset = set(query)
    touched = [i for i, p in enumerate(corpus) if qset.intersection(p)]
    want = sorted(touched, key=lambda i: (-ref[i], i))[:k]
    got = [i for i, _ in hits]
    np.testing.assert_allclose([s for _, s in hits], ref[got], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ref[got], ref[want], rtol=1e-9, atol=1e-12)
    assert max(got) >= 1 << 14  # the answer is not confined to the first block


def test_exact_lookups_in_every_id_group(blocks):
    """Every passage's exact score, looked up term by term in bitmaps and in the
    grouped passage-ordered lists, equals rank-bm25's."""
    corpus, reference, engine = blocks
    query = ["w90", "w3", "w119", "common", "w90", "rare"]
    terms = engine._query_terms(query)
    assert {t.slot >= 0 for t in terms} == {True, False}  # both kinds of lookup
    assert any(t.groups_stop - t.groups > 1 for t in terms)  # lists span id groups
    everyone = np.arange(len(corpus), dtype=np.int64)
    np.testing.assert_allclose(
        engine._exact(terms, everyone), reference.get_scores(query), rtol=1e-9, atol=1e-12
    )


def test_small_index_never_imports_the_compiled_loops(tmp_path):
    """A fresh process answering from a small index skips numba altogether."""
    import subprocess
    import sys

    BM25Engine.build(CORPUS, k1=K1, b=B, epsilon=EPSILON).save(tmp_path / "e")
    code = (
        "import sys; from retrieval.engine import BM25Engine; "
        f"e = BM25Engine.load({str(tmp_path / 'e')!r}); e.search(['w0', 'w1', 'common'], 10); "
        "print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_compile_kernels_fills_the_cache(tmp_path):
    """The install-time step compiles into NUMBA_CACHE_DIR."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "retrieval.engine"], env=env, check=True)
    names = {p.name.split("-")[0] for p in tmp_path.rglob("*.nbi")}
    assert {"_kernels.accumulate", "_kernels.complete"} <= names


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="posix_fadvise, /proc")
def test_load_reads_the_mapped_files_ahead(engine, tmp_path, monkeypatch):
    """A restarted bot's index may not be in the page cache: load asks the kernel to
    read every memory-mapped file whole, in requests no larger than a readahead window,
    from a thread that does not hold up load."""
    engine.save(tmp_path / "index")
    advised: dict[str, set[int]] = {}

    def advise(fd, offset, length, advice):
        assert advice == os.POSIX_FADV_WILLNEED and length <= engine_module._PREFETCH_BYTES
        name = os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1]
        advised.setdefault(name, set()).add(offset)

    monkeypatch.setattr(engine_module, "_PREFETCH_BYTES", 4096)
    monkeypatch.setattr(os, "posix_fadvise", advise, raising=False)
    loaded = BM25Engine.load(tmp_path / "index")
    loaded.prefetch.join(timeout=10)
    assert not loaded.prefetch.is_alive()
    expected = {
        f"{name}.npy": set(range(0, (tmp_path / "index" / f"{name}.npy").stat().st_size, 4096))
        for name in engine_module._MAPPED
    }
    assert advised == expected
    assert loaded.search(QUERIES[0], 10) == engine.search(QUERIES[0], 10)


def test_large_accumulators_select_by_heap_with_the_same_answer(monkeypatch):
    """Beyond _CHUNK_SELECT_PASSAGES the best k are selected with the heap alone: the
    same passages and scores (ties to the lower passage) as selecting by chunk maxima."""
    from retrieval import _kernels

    rng = np.random.default_rng(3)
    acc = np.round(rng.random(20_000) * 20) / 4  # many ties, and untouched zeros
    acc[rng.random(20_000) < 0.3] = 0.0
    touched = np.zeros(0, dtype=np.uint8)
    results = []
    for limit in (_kernels._CHUNK_SELECT_PASSAGES, 0):
        monkeypatch.setattr(_kernels, "_CHUNK_SELECT_PASSAGES", limit)
        docs, scores = np.empty(100, np.int64), np.empty(100)
        work = acc.copy()
        count = _kernels._select.py_func(work, touched, True, 100, docs, scores)
        assert not work.any()
        results.append(sorted(zip((-scores[:count]).tolist(), docs[:count].tolist(), strict=True)))
    want = sorted((-acc[d], d) for d in np.flatnonzero(acc))[:100]
    assert results[0] == results[1] == [(float(s), int(d)) for s, d in want]


@pytest.mark.parametrize("positive", [True, False])
def test_blocks_offered_in_turn_select_the_best_k(positive):
    """Offering an accumulator block by block to one heap keeps the k best passages that
    contain a query term (nonzero, or marked as touched), ties to the lower passage,
    and leaves every block zero."""
    from retrieval import _kernels

    rng = np.random.default_rng(3)
    n, size, k = 20_000, 1 << 12, 100
    acc = np.round(rng.random(n) * 20) / 4  # many ties, and untouched zeros
    acc[rng.random(n) < 0.3] = 0.0
    touched = (acc > 0) | (rng.random(n) < 0.1)  # touched passages may sum to 0
    if not positive:
        acc[rng.random(n) < 0.5] *= -1
    docs, scores = np.empty(k, np.int64), np.empty(k)
    count = 0
    for base in range(0, n, size):
        block = acc[base : base + size].copy()
        marks = touched[base : base + size].astype(np.uint8)
        count = _kernels._select_block.py_func(
            block, marks, positive, len(block), base, k, count, docs, scores
        )
        assert not block.any() and (positive or not marks.any())
    keep = np.flatnonzero(acc != 0.0 if positive else touched)
    want = sorted((-acc[d], d) for d in keep)[:k]
    got = sorted(zip((-scores[:count]).tolist(), docs[:count].tolist(), strict=True))
    assert got == [(float(s), int(d)) for s, d in want]


@pytest.mark.parametrize("order", ["blocks", "terms"])
@pytest.mark.parametrize("k", [7, 100, 10**6])
@pytest.mark.parametrize(
    "query",
    [
        ["w3", "w17", "w90", "w3"],  # bitmaps, one term twice
        ["w119", "rare", "w110"],  # passage-ordered lists crossing id groups
        ["half", "w119", "rare"],  # idf 0: untouched passages also sum to 0
        ["common", "w0", "w115", "rare", "half"],  # floored idf, both kinds of list
    ],
)
def test_exhaustive_sums_equal_numpy_exactly(blocks, monkeypatch, order, query, k):
    """The exhaustive kernels sum each block of passages, or each term, in list order,
    as numpy sums whole lists: the same passages with bit-identical scores, ties to
    the lower passage, across many blocks and id groups, also when k exceeds the
    passages found."""
    from retrieval import _kernels

    corpus, _, engine = blocks
    monkeypatch.setattr(engine_module, "_SMALL_QUERY_SHARE", 0)
    if order == "blocks":  # whatever k
        monkeypatch.setattr(_kernels, "_CHUNK_SELECT_PASSAGES", 0)
        monkeypatch.setattr(_kernels, "_TERM_ORDER_PASSAGES", 0)
    else:
        monkeypatch.setattr(_kernels, "_CHUNK_SELECT_K", 1)
    hits = engine.search(query, k)
    monkeypatch.setattr(engine_module, "_COMPILED_PASSAGES", 10**9)
    assert hits == engine.search(query, k)
    qset = set(query)
    touched = sum(1 for p in corpus if qset.intersection(p))
    assert len(hits) == min(k, touched)
    if k > touched:
        assert max(i for i, _ in hits) >= 1 << 17  # past the first id groups and blocks


@pytest.mark.parametrize("k", [1, 7, 1000])
@pytest.mark.parametrize(
    "query",
    [
        ["w3", "w17", "w90", "w3"],  # one term twice
        ["w119", "rare", "w110"],  # passage-ordered lists crossing id groups
        ["half", "w119", "rare"],  # idf 0: passages summing to 0 tie, lower passage first
        ["common", "w0", "w115", "rare", "half"],  # floored idf
        ["w90", "w90"],  # one list, its impact order, twice its weight
        ["half"],  # one list of idf 0: every passage of it ties
    ],
)
def test_gathered_queries_equal_numpy_exactly(blocks, monkeypatch, query, k):
    """Queries summing only the passages they touch select and sort their answer in one
    compiled call: the same passages and bit-identical scores as numpy, ties to the
    lower passage, whether its candidate buffers fit at once or are regrown."""
    corpus, _, engine = blocks
    monkeypatch.setattr(engine_module, "_SMALL_QUERY_SHARE", 10.0)  # nothing exhaustive
    hits = engine.search(query, k)
    tids = np.array([engine._term_ids[t] for t in dict.fromkeys(query)], dtype=np.int64)
    mults = np.array([query.count(t) for t in dict.fromkeys(query)], dtype=np.int64)
    assert engine._search_gathered(tids, mults, k, 1) == hits  # buffers too small at first
    monkeypatch.setattr(engine_module, "_COMPILED_PASSAGES", 10**9)
    assert hits == engine.search(query, k)
    qset = set(query)
    assert len(hits) == min(k, sum(1 for p in corpus if qset.intersection(p)))


@pytest.fixture(scope="module")
def skewed():
    """70k passages over five blocks: a rare word and two words in most passages,
    whose weights together are far below a passage with the rare word."""
    rng = np.random.default_rng(5)
    corpus = []
    for _ in range(70_000):
        passage = [f"f{i}" for i in rng.integers(0, 5000, size=int(rng.integers(5, 30)))]
        for word, share in (("often", 0.6), ("usual", 0.4), ("seldom", 0.01)):
            if rng.random() < share:
                passage += [word] * int(rng.integers(1, 3))
        corpus.append(passage)
    return BM25Engine.build(corpus, k1=K1, b=B, epsilon=EPSILON)


@pytest.mark.parametrize("k", [1, 5, 31])
@pytest.mark.parametrize(
    "query", [["seldom", "often", "usual"], ["usual", "seldom", "often", "seldom"]]
)
def test_blocks_leave_out_lists_that_cannot_reach_the_heap(skewed, monkeypatch, query, k):
    """With a small k and a full heap, a block sums only the lists that can lift a
    passage to the heap's worst score and looks the others up for the passages within
    reach of it: the same passages and bit-identical scores as summing everything
    (numpy), the weights of every passage added fewest postings first."""
    from retrieval import _kernels

    monkeypatch.setattr(engine_module, "_SMALL_QUERY_SHARE", 0)
    monkeypatch.setattr(_kernels, "_TERM_ORDER_PASSAGES", 0)  # blocks on this small index
    hits = skewed.search(query, k)
    assert engine_module._scratch.get("pruned", 1, np.int64)[0] > 0  # lists were left out
    monkeypatch.setattr(engine_module, "_COMPILED_PASSAGES", 10**9)
    assert hits == skewed.search(query, k)
    scores = skewed.get_scores(query)
    want = sorted(np.flatnonzero(scores), key=lambda d: (-scores[d], d))[:k]
    assert [d for d, _ in hits] == want


@pytest.mark.parametrize("k", [1, 10, 100])
def test_small_indexes_sum_a_term_at_a_time_at_any_k(skewed, monkeypatch, k):
    """Up to _TERM_ORDER_PASSAGES passages, a query with many postings is summed a term
    at a time whatever its k (faster there than blocks that leave lists out); beyond
    it, a k below _CHUNK_SELECT_K goes block by block. Same answer either way."""
    from retrieval import _kernels

    monkeypatch.setattr(engine_module, "_SMALL_QUERY_SHARE", 0)
    query = ["seldom", "often", "usual"]
    used = []
    for name in ("top_k_term_order", "top_k_passage_order"):
        kernel = getattr(_kernels, name)

        def spy(*args, kernel=kernel, name=name):
            used.append(name)
            return kernel(*args)

        monkeypatch.setattr(_kernels, name, spy)
    assert skewed.num_passages <= _kernels._TERM_ORDER_PASSAGES
    hits = skewed.search(query, k)
    assert used == ["top_k_term_order"]
    used.clear()
    monkeypatch.setattr(_kernels, "_TERM_ORDER_PASSAGES", skewed.num_passages - 1)
    assert skewed.search(query, k) == hits
    assert used == ["top_k_term_order" if k >= _kernels._CHUNK_SELECT_K else "top_k_passage_order"]
