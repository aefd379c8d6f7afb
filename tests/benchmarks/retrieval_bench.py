"""What users wait for: the whole question path and the engine, beside bm25s and rank-bm25.

    python -m tests.benchmarks.retrieval_bench --sizes 10000,100000,1000000

Two corpora, each at every size:

- ``zipf``: synthetic articles of pronounceable pseudo-words drawn from a Zipfian
  vocabulary of 50k words;
- ``english``: articles made of real English sentences sampled from text every machine
  with Python has (the standard library's docstrings, ``/usr/share/common-licenses``,
  text files under ``/usr/share/doc``), so word frequencies are those of real text.

Articles are short enough to be one passage each. corpusbot builds its real index
(``retrieval.index.Index``: cleaning, tokenizing, passage and article engines); bm25s
and rank-bm25 index the very token lists corpusbot's passage engine indexed.

Questions are drawn from random passages in four mixes, reported apart: ``rare`` (1-3
rare words), ``general`` (one rare word and 2-4 words found in at least 2% of the
passages), ``long`` (8 or more words: a sentence of the passage) and ``typo`` (a rare
query with one word misspelt). For each question:

- ``path``: ``retrieval.answer.answer_question`` on the question text, what ``corpusbot
  ask`` and ``/ask`` run after loading: tokenizing, typo correction, both engines at
  depth 100, the semantic signal (the question's embedding, and beyond 10,000 sentences
  the embedding of the best passages' sentences when a question first reaches them),
  fusion and answer extraction;
- ``engine``: ``BM25Engine.search`` on the question's index terms (after correction) at
  k=10 and at k=100 (the depth the path uses), against bm25s's ``retrieve`` on the same
  tokens and k, single-threaded, with its fastest settings that keep rank-bm25's
  formula: numba backend, float32 scores, index memory-mapped on load as corpusbot's.

Every build and every load runs in its own subprocess, so peak memory (ru_maxrss of a
fresh process that loads the index and runs every query: engine alone for both
engines, the whole path apart) and first-answer times are not polluted by the others.
Before each query worker starts, its index files are read once (untimed), so both
engines are measured with their index in the page cache, not whichever was written
last (see ``_cache``).
rank-bm25 checks corpusbot's scores (``--parity`` questions per mix) and gives a speed
reference. Requires the ``bench`` extra (bm25s).
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

VOCAB_SIZE = 50_000
ZIPF_EXPONENT = 1.0
SEED = 20240611
MIXES = ("rare", "general", "long", "typo")
CORPORA = ("zipf", "english")
# Words in fewer than this share of passages are rare; in at least COMMON_SHARE, common.
RARE_SHARE = 1 / 1000
COMMON_SHARE = 1 / 50
# An article's text stays below make_passages' 600 characters: one passage each.
MAX_TEXT_CHARS = 560
ENGLISH_TEXT_LIMIT = 40_000_000  # characters of source text read for the sentence pool


# ------------------------------------------------------------------ corpora


def make_vocab() -> list[str]:
    """Pronounceable pseudo-words, shortest first (the most frequent)."""
    rng = np.random.default_rng(SEED)
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
    words: set[str] = set()
    while len(words) < VOCAB_SIZE:
        parts = rng.integers(0, len(syllables), size=int(rng.integers(2, 5)))
        words.add("".join(syllables[p] for p in parts))
    return sorted(words, key=lambda w: (len(w), w))


def _zipf_texts(num: int) -> list[tuple[str, str]]:
    """(title, text) of num synthetic articles."""
    vocab = np.array(make_vocab(), dtype=object)
    weights = 1.0 / np.arange(1, VOCAB_SIZE + 1) ** ZIPF_EXPONENT
    cdf = np.cumsum(weights / weights.sum())
    rng = np.random.default_rng(SEED + num)
    out = []
    for start in range(0, num, 50_000):
        n = min(50_000, num - start)
        lengths = rng.integers(40, 71, size=n)
        ids = np.minimum(np.searchsorted(cdf, rng.random(int(lengths.sum()))), VOCAB_SIZE - 1)
        words = vocab[ids].tolist()
        cuts = rng.integers(8, 16, size=int(lengths.sum()))
        begin = 0
        for length in lengths.tolist():
            part = words[begin : begin + length]
            sentences, i = [], 0
            while i < length:
                step = int(cuts[begin + i])
                sentences.append(" ".join(part[i : i + step]).capitalize() + ".")
                i += step
            begin += length
            text = " ".join(sentences)[:MAX_TEXT_CHARS].rsplit(" ", 1)[0]
            out.append((" ".join(part[:4]).title(), text))
    return out


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _sources() -> list[str]:
    """Plain English texts this machine has: stdlib docstrings and packaged docs."""
    texts: list[str] = []
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if any(part in {"test", "tests", "site-packages", "idlelib"} for part in path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    texts.append(doc)
    total = sum(map(len, texts))
    roots = [Path("/usr/share/common-licenses"), Path("/usr/share/doc")]
    for root in roots:
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if total > ENGLISH_TEXT_LIMIT or not path.is_file() or path.is_symlink():
                continue
            name = path.name.lower()
            try:
                if name.endswith(".gz"):
                    data = gzip.decompress(path.read_bytes())
                elif (
                    root.name == "common-licenses"
                    or name.endswith((".txt", ".md", ".rst"))
                    or name.startswith(("readme", "copyright", "news", "changelog"))
                ):
                    data = path.read_bytes()
                else:
                    continue
                text = data.decode("utf-8")
            except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
                continue
            texts.append(text)
            total += len(text)
    return texts


def english_pool(path: Path) -> list[str]:
    """Distinct prose sentences of 5-60 words (cached in path)."""
    if path.exists():
        return json.loads(path.read_text())
    seen: set[str] = set()
    pool: list[str] = []
    for text in _sources():
        for paragraph in re.split(r"\n\s*\n", text):
            flat = " ".join(paragraph.split())
            for sentence in _SENTENCE_END.split(flat):
                words = sentence.split()
                if not 5 <= len(words) <= 60 or len(sentence) > MAX_TEXT_CHARS:
                    continue
                letters = sum(c.isalpha() or c == " " for c in sentence)
                if letters < 0.85 * len(sentence) or sentence in seen:
                    continue
                seen.add(sentence)
                pool.append(sentence)
    path.write_text(json.dumps(pool))
    return pool


def _english_texts(num: int, pool_path: Path) -> list[tuple[str, str]]:
    """(title, text) of num articles of random real sentences, 40-90 words each."""
    pool = english_pool(pool_path)
    rng = random.Random(SEED + num)
    out = []
    for _ in range(num):
        target = rng.randint(40, 90)
        parts, words, chars = [], 0, 0
        while words < target:
            sentence = pool[rng.randrange(len(pool))]
            if parts and chars + 1 + len(sentence) > MAX_TEXT_CHARS:
                break
            parts.append(sentence)
            words += sentence.count(" ") + 1
            chars += len(sentence) + 1
        title = " ".join(pool[rng.randrange(len(pool))].split()[:6])
        out.append((title, " ".join(parts)[:MAX_TEXT_CHARS]))
    return out


def make_documents(corpus: str, num: int, base: Path) -> list:
    from retrieval.corpus import Document

    pairs = _zipf_texts(num) if corpus == "zipf" else _english_texts(num, base / "english.json")
    return [
        Document(f"{corpus}{i:07d}", title, (text,), f"{i:064x}")
        for i, (title, text) in enumerate(pairs)
    ]


# ---------------------------------------------------------------- questions


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1 :]  # a letter dropped
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]  # two swapped


def make_questions(index, count: int) -> list[dict]:
    """count questions per mix, each with the index terms the path searches for."""
    from retrieval.passages import split_sentences
    from retrieval.text import analyze

    n = index.num_passages
    engine = index.engine
    rng = random.Random(SEED - 1)
    out: dict[str, list[dict]] = {mix: [] for mix in MIXES}

    def add(mix: str, text: str) -> None:
        terms = list(index.query_terms(text).terms)
        if any(engine.doc_freq(t) for t in terms):
            out[mix].append({"mix": mix, "question": text, "tokens": terms})

    while any(len(qs) < count for qs in out.values()):
        passage = index.passage(rng.randrange(n))
        pairs = list(dict.fromkeys(analyze(passage.text)))
        rare = [s for s, t in pairs if engine.doc_freq(t) < max(RARE_SHARE * n, 3) and s.isalpha()]
        common = [s for s, t in pairs if engine.doc_freq(t) >= COMMON_SHARE * n]
        if rare and len(out["rare"]) < count:
            add("rare", " ".join(rng.sample(rare, min(len(rare), rng.randint(1, 3)))) + "?")
        if rare and len(common) >= 2 and len(out["general"]) < count:
            words = [rng.choice(rare), *rng.sample(common, min(len(common), rng.randint(2, 4)))]
            rng.shuffle(words)
            add("general", " ".join(words) + "?")
        if len(out["long"]) < count:
            sentences = [s for s in split_sentences(passage.text) if len(analyze(s)) >= 8]
            if sentences:
                add("long", rng.choice(sentences))
        long_rare = [s for s in rare if len(s) >= 6]
        if long_rare and len(out["typo"]) < count:
            words = rng.sample(rare, min(len(rare), rng.randint(1, 3)))
            target = rng.choice(long_rare)
            if target not in words:
                words[0] = target
            typo = _typo(target, rng)
            if not any(engine.doc_freq(t) for _, t in analyze(typo)):
                add("typo", " ".join(typo if w == target else w for w in words) + "?")
    return [q for mix in MIXES for q in out[mix][:count]]


# ----------------------------------------------------------------- workers


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _disk_mb(*paths: Path) -> float:
    return sum(p.stat().st_size for d in paths for p in d.rglob("*") if p.is_file()) / 2**20


def _timed(function, items) -> list[float]:
    times = []
    for item in items:
        t0 = time.perf_counter()
        function(item)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _stats(times: list[float]) -> dict:
    return {"p50": float(np.median(times)), "p95": float(np.percentile(times, 95))}


def _per_mix(function, questions: list[dict], key: str) -> dict:
    out = {}
    for mix in MIXES:
        items = [q[key] for q in questions if q["mix"] == mix]
        out[mix] = _stats(_timed(function, items))
    return out


def worker_build_corpusbot(corpus: str, num: int, workdir: Path, base: Path, count: int) -> dict:
    from retrieval.build import build_index
    from retrieval.text import analyze

    documents = make_documents(corpus, num, base)
    corpus_rss = _rss_mb()
    t0 = time.perf_counter()
    index = build_index(documents)
    index.save(workdir / "corpusbot")
    build_s = time.perf_counter() - t0
    build_peak = _rss_mb()
    del documents
    with open(workdir / "tokens.txt", "w", encoding="utf-8") as fh:
        for i in range(index.num_passages):
            p = index.passage(i)
            text = f"{p.title}\n{p.text}" if p.position == 0 else p.text
            fh.write(" ".join(t for _, t in analyze(text)) + "\n")
    questions = make_questions(index, count)
    (workdir / "questions.json").write_text(json.dumps(questions))
    return {
        "passages": index.num_passages,
        "terms": len(index.engine.vocabulary()),
        "build_s": build_s,
        "corpus_rss_mb": corpus_rss,
        "build_peak_mb": build_peak,
        "disk_mb": _disk_mb(workdir / "corpusbot"),
    }


def _read_tokens(workdir: Path) -> list[list[str]]:
    with open(workdir / "tokens.txt", encoding="utf-8") as fh:
        return [line.split() for line in fh.read().split("\n")[:-1]]


def _bm25s():
    import bm25s

    return bm25s


def worker_build_bm25s(workdir: Path) -> dict:
    bm25s = _bm25s()
    tokens = _read_tokens(workdir)
    t0 = time.perf_counter()
    model = bm25s.BM25(k1=1.5, b=0.75, method="robertson", idf_method="robertson", backend="numba")
    model.index(tokens, show_progress=False)
    model.save(str(workdir / "bm25s"))
    return {
        "build_s": time.perf_counter() - t0,
        "build_peak_mb": _rss_mb(),
        "disk_mb": _disk_mb(workdir / "bm25s"),
    }


def worker_engine(workdir: Path, started: float) -> dict:
    """corpusbot's passage engine alone: load, first query, per-mix latencies."""
    from retrieval.engine import BM25Engine

    questions = json.loads((workdir / "questions.json").read_text())
    t0 = time.perf_counter()
    engine = BM25Engine.load(workdir / "corpusbot" / "engine")
    load_s = time.perf_counter() - t0
    engine.search(questions[0]["tokens"], 10)
    result = {"load_s": load_s, "first_answer_s": time.time() - started}
    for k in (10, 100):
        result[f"k{k}"] = _per_mix(lambda t, k=k: engine.search(t, k), questions, "tokens")
    result["hits"] = [engine.search(q["tokens"], 10) for q in questions]
    result["query_peak_mb"] = _rss_mb()
    return result


def worker_bm25s(workdir: Path, started: float) -> dict:
    bm25s = _bm25s()
    questions = json.loads((workdir / "questions.json").read_text())
    t0 = time.perf_counter()
    model = bm25s.BM25.load(str(workdir / "bm25s"), mmap=True)
    model.backend = "numba"
    load_s = time.perf_counter() - t0

    def search(tokens: list[str], k: int):
        known = [t for t in tokens if t in model.vocab_dict]
        if not known:
            return None
        k = min(k, model.scores["num_docs"])
        return model.retrieve([known], k=k, show_progress=False, n_threads=1)

    search(questions[0]["tokens"], 10)
    result = {"load_s": load_s, "first_answer_s": time.time() - started}
    for k in (10, 100):
        result[f"k{k}"] = _per_mix(lambda t, k=k: search(t, k), questions, "tokens")
    result["query_peak_mb"] = _rss_mb()
    return result


def worker_path(workdir: Path, started: float) -> dict:
    """The whole question path, from question text to answer and passages."""
    from retrieval.answer import answer_question
    from retrieval.index import Index

    questions = json.loads((workdir / "questions.json").read_text())
    t0 = time.perf_counter()
    index = Index.load(workdir / "corpusbot")
    load_s = time.perf_counter() - t0
    answer_question(index, questions[0]["question"])
    result = {"load_s": load_s, "first_answer_s": time.time() - started}
    result["path"] = _per_mix(lambda q: answer_question(index, q), questions, "question")
    # the same questions again: sentence vectors embedded on demand are now kept
    result["path_again"] = _per_mix(lambda q: answer_question(index, q), questions, "question")
    result["query_peak_mb"] = _rss_mb()
    return result


def worker_rank_bm25(workdir: Path, parity: int) -> dict:
    """rank-bm25's scores for the first parity questions of each mix, compared with
    corpusbot's top 10 (written by the engine worker)."""
    from rank_bm25 import BM25Okapi

    questions = json.loads((workdir / "questions.json").read_text())
    hits = json.loads((workdir / "engine.json").read_text())["hits"]
    tokens = _read_tokens(workdir)
    t0 = time.perf_counter()
    model = BM25Okapi(tokens, k1=1.5, b=0.75, epsilon=0.25)
    build_s = time.perf_counter() - t0
    chosen = [
        i for mix in MIXES for i in [j for j, q in enumerate(questions) if q["mix"] == mix][:parity]
    ]
    worst, times = 0.0, []
    for i in chosen:
        t1 = time.perf_counter()
        ref = model.get_scores(questions[i]["tokens"])
        times.append((time.perf_counter() - t1) * 1000)
        query = set(questions[i]["tokens"])
        touched = [d for d in range(len(tokens)) if query.intersection(tokens[d])]
        want = sorted(touched, key=lambda d: (-ref[d], d))[:10]
        got = hits[i]
        if len(got) != len(want):
            worst = max(worst, float("inf"))
        for (doc, score), best in zip(got, want, strict=False):
            scale = max(abs(ref[best]), 1e-12)
            worst = max(worst, abs(score - ref[doc]) / scale, abs(score - ref[best]) / scale)
    return {
        "build_s": build_s,
        "parity_questions": len(chosen),
        "max_rel_error": worst,
        "p50_ms": float(np.median(times)) if times else None,
        "query_peak_mb": _rss_mb(),
    }


def _cache(*directories: Path) -> None:
    """Read every file under directories, untimed, so the query workers find their index
    in the page cache whichever was written last: corpusbot's index is written before
    bm25s builds (5.5 GB at 1M passages) and its pages were partly evicted by the time
    its worker ran, while bm25s's, written just before its own, were not; the first
    questions then waited on disk reads (measured at 1M: 1-10 major faults per slow
    question, 10-90 ms each, against 0.1-3 ms with the pages cached)."""
    buffer = bytearray(1 << 20)
    for directory in directories:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                with open(path, "rb", buffering=0) as fh:
                    while fh.readinto(buffer):
                        pass


def _run_worker(*args: str, save: Path | None = None) -> dict:
    started = time.time()
    cmd = [sys.executable, "-m", "tests.benchmarks.retrieval_bench", "--worker", *args]
    cmd += ["--started", repr(started)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"worker {args} failed with exit code {out.returncode}")
    text = out.stdout.strip().splitlines()[-1]
    if save is not None:
        save.write_text(text)
    return json.loads(text)


# ------------------------------------------------------------------- report


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [_row(header, widths), _row(["-" * w for w in widths], widths)]
    return "\n".join(lines + [_row(r, widths) for r in rows])


def report(results: list[dict]) -> str:
    """Latency rows per corpus, size and mix; then build, load and memory per engine."""
    header = [
        "corpus",
        "N",
        "mix",
        "k",
        "cb p50",
        "cb p95",
        "bm25s p50",
        "bm25s p95",
        "p50 ratio",
        "p95 ratio",
        "path p50",
        "path p95",
        "path p95/eng",
        "again p95",
    ]
    rows = []
    for res in results:
        for mix in MIXES:
            for k in (10, 100):
                cb, other = res["engine"][f"k{k}"][mix], res["bm25s"][f"k{k}"][mix]
                path, again = res["path"]["path"][mix], res["path"]["path_again"][mix]
                rows.append(
                    [
                        res["corpus"],
                        f"{res['n']:,}",
                        mix,
                        str(k),
                        f"{cb['p50']:.3f}",
                        f"{cb['p95']:.3f}",
                        f"{other['p50']:.3f}",
                        f"{other['p95']:.3f}",
                        f"{cb['p50'] / other['p50']:.2f}",
                        f"{cb['p95'] / other['p95']:.2f}",
                        *(
                            [
                                f"{path['p50']:.2f}",
                                f"{path['p95']:.2f}",
                                f"{path['p95'] / cb['p95']:.1f}",
                                f"{again['p95']:.2f}",
                            ]
                            if k == 10
                            else ["", "", "", ""]
                        ),
                    ]
                )
    out = [_table(header, rows), ""]
    header = [
        "corpus",
        "N",
        "engine",
        "build s",
        "build MB",
        "disk MB",
        "load s",
        "1st answer s",
        "query MB",
        "parity",
    ]
    rows = []
    for res in results:
        b, e, s, p, r = (res[x] for x in ("build", "engine", "bm25s", "path", "rank_bm25"))
        parity = "-" if r is None else f"{r['max_rel_error']:.1e} ({r['parity_questions']} q)"
        for name, build, query, extra in (
            ("corpusbot engine", b, e, parity),
            ("corpusbot path", None, p, ""),
            ("bm25s", res["bm25s_build"], s, ""),
        ):
            rows.append(
                [
                    res["corpus"],
                    f"{res['n']:,}",
                    name,
                    "" if build is None else f"{build['build_s']:.1f}",
                    "" if build is None else f"{build['build_peak_mb']:.0f}",
                    "" if build is None else f"{build['disk_mb']:.0f}",
                    f"{query['load_s']:.3f}",
                    f"{query['first_answer_s']:.2f}",
                    f"{query['query_peak_mb']:.0f}",
                    extra,
                ]
            )
        if r is not None:
            rows.append(
                [
                    res["corpus"],
                    f"{res['n']:,}",
                    "rank-bm25",
                    f"{r['build_s']:.1f}",
                    "",
                    "",
                    "",
                    "",
                    f"{r['query_peak_mb']:.0f}",
                    f"p50 {r['p50_ms']:.1f} ms/query",
                ]
            )
    out.append(_table(header, rows))
    out.append(
        "\nms per question. cb: corpusbot's BM25Engine.search on the question's index terms; "
        "bm25s: retrieve on the same tokens and k; ratios cb/bm25s (<= 1: corpusbot as fast "
        "or faster). path: answer_question on the question text (k=100 engines, semantic "
        "signal, fusion, extraction), first time each question is asked; again: asked a "
        "second time (sentence vectors embedded on demand are kept). path p95/eng: path "
        "p95 over the engine's k=10 p95. query MB: peak RSS of a fresh process that loads "
        "the index and runs every question. parity: largest relative difference from "
        "rank-bm25's scores over corpusbot's top 10."
    )
    return "\n".join(out)


def run(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    corpora = args.corpora.split(",")
    base = Path(tempfile.mkdtemp(prefix="cbbench-"))
    results = []
    try:
        for corpus in corpora:
            for n in sizes:
                workdir = base / f"{corpus}-{n}"
                workdir.mkdir()
                res: dict = {"corpus": corpus, "n": n}
                build_args = ("build-corpusbot", corpus, str(n), str(workdir), str(base))
                res["build"] = _run_worker(*build_args, str(args.questions))
                res["bm25s_build"] = _run_worker("build-bm25s", str(workdir))
                _cache(workdir / "corpusbot")
                res["engine"] = _run_worker("engine", str(workdir), save=workdir / "engine.json")
                _cache(workdir / "bm25s")
                res["bm25s"] = _run_worker("bm25s", str(workdir))
                _cache(workdir / "corpusbot")
                res["path"] = _run_worker("path", str(workdir))
                res["rank_bm25"] = (
                    _run_worker("rank-bm25", str(workdir), str(args.parity))
                    if args.parity and n <= args.parity_max
                    else None
                )
                res["engine"].pop("hits")
                print(f"# {json.dumps(res)}", file=sys.stderr, flush=True)
                results.append(res)
                if not args.keep:
                    shutil.rmtree(workdir, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(report(results))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--questions", type=int, default=100, help="questions per mix")
    parser.add_argument("--parity", type=int, default=5, help="rank-bm25 questions per mix")
    parser.add_argument(
        "--parity-max", type=int, default=1_000_000, help="largest size checked by rank-bm25"
    )
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the index directories")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        kind, *rest = args.worker
        if kind == "build-corpusbot":
            corpus, n, workdir, base, count = rest
            result = worker_build_corpusbot(corpus, int(n), Path(workdir), Path(base), int(count))
        elif kind == "build-bm25s":
            result = worker_build_bm25s(Path(rest[0]))
        elif kind == "engine":
            result = worker_engine(Path(rest[0]), args.started)
        elif kind == "bm25s":
            result = worker_bm25s(Path(rest[0]), args.started)
        elif kind == "path":
            result = worker_path(Path(rest[0]), args.started)
        else:
            result = worker_rank_bm25(Path(rest[0]), int(rest[1]))
        print(json.dumps(result))
        return
    run(args)


if __name__ == "__main__":
    main()
