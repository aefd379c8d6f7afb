"""Side-by-side benchmark: corpusbot's BM25Engine vs bm25s vs rank-bm25.

    python -m tests.benchmarks.retrieval_bench --sizes 10000,100000,1000000

Every build and every load runs in its own subprocess, so peak memory (ru_maxrss)
and fresh-process timings are not polluted by the other engines. The corpus is
synthetic: a Zipfian vocabulary of 50k words and passages of 60-120 tokens.
"General" queries are 3-5 distinct words of a random passage, "specific" ones are
2-3 of its rarer words. bm25s is set up as close to rank-bm25 as it allows
(Robertson term weighting and idf, k1=1.5, b=0.75) with its numba backend when
numba is installed. Requires the ``bench`` extra (bm25s, numba).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VOCAB_SIZE = 50_000
ZIPF_EXPONENT = 1.0
MIN_LEN, MAX_LEN = 60, 120
RARE_RANK = 2_000
K = 10
SEED = 20240611
ENGINES = ("corpusbot", "bm25s", "rank-bm25")


# ------------------------------------------------------------------ data


def make_vocab() -> np.ndarray:
    """Pronounceable pseudo-words so the vocabulary has realistic string sizes."""
    rng = np.random.default_rng(SEED)
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
    words: set[str] = set()
    while len(words) < VOCAB_SIZE:
        parts = rng.integers(0, len(syllables), size=int(rng.integers(2, 5)))
        words.add("".join(syllables[p] for p in parts))
    return np.array(sorted(words, key=lambda w: (len(w), w)), dtype=object)


def make_corpus(num_passages: int) -> list[list[str]]:
    """Deterministic synthetic corpus; word rank r has probability proportional to 1/r^s."""
    vocab = make_vocab()
    weights = 1.0 / np.arange(1, VOCAB_SIZE + 1) ** ZIPF_EXPONENT
    cdf = np.cumsum(weights / weights.sum())
    rng = np.random.default_rng(SEED + num_passages)
    corpus: list[list[str]] = []
    chunk = 50_000
    for start in range(0, num_passages, chunk):
        n = min(chunk, num_passages - start)
        lengths = rng.integers(MIN_LEN, MAX_LEN + 1, size=n)
        ids = np.searchsorted(cdf, rng.random(int(lengths.sum())), side="right")
        np.minimum(ids, VOCAB_SIZE - 1, out=ids)
        tokens = vocab[ids].tolist()
        ends = np.cumsum(lengths).tolist()
        begin = 0
        for end in ends:
            corpus.append(tokens[begin:end])
            begin = end
    return corpus


def make_queries(corpus: list[list[str]], count: int) -> list[dict]:
    """Half general queries, half specific ones, all drawn from random passages."""
    rank = {word: i for i, word in enumerate(make_vocab())}
    rng = np.random.default_rng(SEED - 1)
    queries = []
    for i in range(count):
        passage = sorted(set(corpus[int(rng.integers(len(corpus)))]), key=rank.__getitem__)
        if i % 2 == 0:
            size = int(rng.integers(3, 6))
            words = [passage[j] for j in rng.choice(len(passage), size=size, replace=False)]
            kind = "general"
        else:
            rare = [w for w in passage if rank[w] >= RARE_RANK] or passage[-3:]
            size = min(len(rare), int(rng.integers(2, 4)))
            words = [rare[j] for j in rng.choice(len(rare), size=size, replace=False)]
            kind = "specific"
        queries.append({"kind": kind, "tokens": words})
    return queries


# --------------------------------------------------------------- engines


def _bm25s_model():
    import bm25s

    try:
        import numba  # noqa: F401

        backend = "numba"
    except ImportError:
        backend = "numpy"
    return bm25s, backend


def build_corpusbot(corpus, directory: Path) -> None:
    from retrieval.engine import BM25Engine

    BM25Engine.build(corpus).save(directory)


def load_corpusbot(directory: Path):
    from retrieval.engine import BM25Engine

    engine = BM25Engine.load(directory)
    return lambda tokens: engine.search(tokens, K)


def build_bm25s(corpus, directory: Path) -> None:
    bm25s, backend = _bm25s_model()
    model = bm25s.BM25(k1=1.5, b=0.75, method="robertson", idf_method="robertson", backend=backend)
    model.index(corpus, show_progress=False)
    model.save(str(directory))


def load_bm25s(directory: Path):
    bm25s, backend = _bm25s_model()
    model = bm25s.BM25.load(str(directory), mmap=False)
    model.backend = backend
    if backend == "numba":
        model.compile(activate_numba=True, warmup=False)

    def search(tokens):
        return model.retrieve([tokens], k=K, show_progress=False, n_threads=1)

    return search


BUILDERS = {"corpusbot": build_corpusbot, "bm25s": build_bm25s}
LOADERS = {"corpusbot": load_corpusbot, "bm25s": load_bm25s}


# --------------------------------------------------------------- workers


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _disk_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**20


def _latencies(search, queries) -> dict:
    times = {"general": [], "specific": []}
    for query in queries:
        t0 = time.perf_counter()
        search(query["tokens"])
        times[query["kind"]].append(time.perf_counter() - t0)
    every = np.array(times["general"] + times["specific"]) * 1000
    return {
        "queries": len(every),
        "median_ms": float(np.median(every)),
        "p95_ms": float(np.percentile(every, 95)),
        "max_ms": float(every.max()),
        "general_median_ms": float(np.median(times["general"]) * 1000),
        "specific_median_ms": float(np.median(times["specific"]) * 1000),
    }


def worker_build(engine: str, num_passages: int, workdir: Path) -> dict:
    corpus = make_corpus(num_passages)
    if engine == "corpusbot":  # the first worker writes the shared query set
        queries = make_queries(corpus, 400)
        (workdir / "queries.json").write_text(json.dumps(queries))
    corpus_rss = _rss_mb()
    directory = workdir / engine
    t0 = time.perf_counter()
    BUILDERS[engine](corpus, directory)
    build_s = time.perf_counter() - t0
    return {
        "build_s": build_s,
        "corpus_rss_mb": corpus_rss,
        "build_peak_mb": _rss_mb(),
        "disk_mb": _disk_mb(directory),
    }


def worker_query(engine: str, workdir: Path, started: float, limit: int) -> dict:
    queries = json.loads((workdir / "queries.json").read_text())[:limit]
    t0 = time.perf_counter()
    search = LOADERS[engine](workdir / engine)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    search(queries[0]["tokens"])
    first_query_s = time.perf_counter() - t1
    first_answer_s = time.time() - started
    result = {"load_s": load_s, "first_query_s": first_query_s, "first_answer_s": first_answer_s}
    result.update(_latencies(search, queries))
    result["query_peak_mb"] = _rss_mb()
    return result


def worker_rank_bm25(num_passages: int, workdir: Path, limit: int) -> dict:
    from rank_bm25 import BM25Okapi

    corpus = make_corpus(num_passages)
    queries = json.loads((workdir / "queries.json").read_text())[:limit]
    corpus_rss = _rss_mb()
    t0 = time.perf_counter()
    model = BM25Okapi(corpus, k1=1.5, b=0.75, epsilon=0.25)
    build_s = time.perf_counter() - t0
    del corpus

    def search(tokens):
        return np.argsort(model.get_scores(tokens))[::-1][:K]

    result = {"build_s": build_s, "corpus_rss_mb": corpus_rss}
    result.update(_latencies(search, queries))
    result["build_peak_mb"] = result["query_peak_mb"] = _rss_mb()
    return result


def _run_worker(*args: str) -> dict:
    started = time.time()
    cmd = [sys.executable, "-m", "tests.benchmarks.retrieval_bench", "--worker", *args]
    cmd += ["--started", repr(started)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------- table


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    cols = [
        ("N", "n", ",d"),
        ("engine", "engine", "s"),
        ("build s", "build_s", ".2f"),
        ("build MB", "build_peak_mb", ".0f"),
        ("disk MB", "disk_mb", ".0f"),
        ("load s", "load_s", ".3f"),
        ("1st query s", "first_query_s", ".3f"),
        ("1st answer s", "first_answer_s", ".2f"),
        ("query MB", "query_peak_mb", ".0f"),
        ("q", "queries", "d"),
        ("med ms", "median_ms", ".3f"),
        ("p95 ms", "p95_ms", ".3f"),
        ("max ms", "max_ms", ".2f"),
        ("gen med", "general_median_ms", ".3f"),
        ("spec med", "specific_median_ms", ".3f"),
        ("med/bm25s", "median_ratio", ".3f"),
        ("p95/bm25s", "p95_ratio", ".3f"),
        ("MB/bm25s", "mem_ratio", ".2f"),
    ]
    table = [[title for title, _, _ in cols]]
    for row in rows:
        table.append([_fmt(row.get(key), spec) for _, key, spec in cols])
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    for i, r in enumerate(table):
        print("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def run(sizes: list[int], queries: int, rank_queries: dict[int, int], keep: bool) -> None:
    rows = []
    for n in sizes:
        workdir = Path(tempfile.mkdtemp(prefix=f"bm25bench-{n}-"))
        try:
            results = {}
            for engine in ("corpusbot", "bm25s"):
                res = _run_worker("build", engine, str(n), str(workdir))
                res.update(_run_worker("query", engine, str(n), str(workdir), str(queries)))
                results[engine] = res
                print(f"# {n:,} {engine}: {json.dumps(res)}", file=sys.stderr, flush=True)
            limit = rank_queries.get(n, 20)
            res = _run_worker("rank-bm25", "rank-bm25", str(n), str(workdir), str(limit))
            results["rank-bm25"] = res
            print(f"# {n:,} rank-bm25: {json.dumps(res)}", file=sys.stderr, flush=True)
        finally:
            if not keep:
                shutil.rmtree(workdir, ignore_errors=True)
        base = results["bm25s"]
        for engine in ENGINES:
            res = results[engine]
            res.update(n=n, engine=engine)
            res["median_ratio"] = res["median_ms"] / base["median_ms"]
            res["p95_ratio"] = res["p95_ms"] / base["p95_ms"]
            res["mem_ratio"] = res["query_peak_mb"] / base["query_peak_mb"]
            rows.append(res)
        speedup = results["rank-bm25"]["median_ms"] / results["corpusbot"]["median_ms"]
        print(f"# {n:,}: corpusbot median is {speedup:,.0f}x faster than rank-bm25", flush=True)
    print_table(rows)
    print(
        "build MB / query MB: peak RSS of the build process (includes the corpus in memory) "
        "and of a fresh process that loads the index and runs every query; "
        "1st answer: from spawning a fresh process to its first result; ratios are to bm25s."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=400, help="queries per fast engine")
    parser.add_argument(
        "--rank-queries",
        default="10000:50,100000:20,1000000:5",
        help="rank-bm25 queries per size, as N:count pairs",
    )
    parser.add_argument("--keep", action="store_true", help="keep the index directories")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        kind, engine, n, workdir, *rest = args.worker
        workdir = Path(workdir)
        if kind == "build":
            result = worker_build(engine, int(n), workdir)
        elif kind == "query":
            result = worker_query(engine, workdir, args.started, int(rest[0]))
        else:
            result = worker_rank_bm25(int(n), workdir, int(rest[0]))
        print(json.dumps(result))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    rank_queries = dict(
        (int(a), int(b)) for a, b in (pair.split(":") for pair in args.rank_queries.split(","))
    )
    run(sizes, args.queries, rank_queries, args.keep)


if __name__ == "__main__":
    main()
