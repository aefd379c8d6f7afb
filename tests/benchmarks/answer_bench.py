"""Answer bench: what a question costs on the whole path, question text in, answer out.

Builds the index of a corpus in a fresh process (wall time and peak memory of the
build), then, in another fresh process, loads it, answers every question of a set once
(cold: passages reached for the first time) and again (warm), timing each (p50 / p95 /
max per question), and prints one row per corpus. Corpora: the bundled articles
(questions: tests/eval/holdout_qa.jsonl) and generated news-like articles of about N
passages (questions: generated from the articles' own words).

    python -m tests.benchmarks.answer_bench [--passages 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
HOLDOUT = ROOT / "tests" / "eval" / "holdout_qa.jsonl"
# generated articles average about six passages
PASSAGES_PER_ARTICLE = 6


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _build(corpus: Path, index: Path) -> dict:
    from retrieval.build import open_index

    started = time.perf_counter()
    built, _ = open_index(corpus, index)
    return {
        "build_s": time.perf_counter() - started,
        "build_mb": _peak_mb(),
        "passages": built.num_passages,
    }


def _ask(corpus: Path, index: Path, questions: list[str]) -> dict:
    from retrieval.answer import answer_question
    from retrieval.build import open_index

    started = time.perf_counter()
    loaded, _ = open_index(corpus, index)
    load_s = time.perf_counter() - started
    first = time.perf_counter()
    answer_question(loaded, questions[0])
    first_s = time.perf_counter() - first
    cold = []
    for q in questions:  # first pass: passages reached for the first time
        t = time.perf_counter()
        answer_question(loaded, q)
        cold.append((time.perf_counter() - t) * 1000)
    cold.sort()
    times = []
    for q in questions:
        t = time.perf_counter()
        answer_question(loaded, q)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "load_s": load_s,
        "first_answer_s": first_s,
        "cold_p50_ms": statistics.median(cold),
        "cold_p95_ms": cold[int(0.95 * (len(cold) - 1))],
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(0.95 * (len(times) - 1))],
        "max_ms": times[-1],
        "ask_mb": _peak_mb(),
        "questions": len(times),
    }


def _generated_questions(corpus: Path, count: int, seed: int = 7) -> list[str]:
    """Questions in people's words about random generated articles."""
    rng = random.Random(seed)
    files = sorted(corpus.glob("*.txt"))
    questions = []
    for path in rng.sample(files, min(count, len(files))):
        words = [w.strip(".,()") for w in path.read_text(encoding="utf-8").split()]
        words = [w for w in words if w.isalpha() and len(w) > 3]
        pick = rng.sample(words, min(4, len(words)))
        questions.append(rng.choice(["what did ", "how did ", "when did ", ""]) + " ".join(pick))
    return questions


def _worker(args: list[str]) -> None:
    job, corpus, index = args[0], Path(args[1]), Path(args[2])
    if job == "build":
        print(json.dumps(_build(corpus, index)))
    else:
        questions = json.loads(Path(args[3]).read_text(encoding="utf-8"))
        print(json.dumps(_ask(corpus, index, questions)))


def _run(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.answer_bench", "--worker", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench(name: str, corpus: Path, questions: list[str], work: Path) -> dict:
    index = work / f"{name}.index"
    qfile = work / f"{name}.json"
    qfile.write_text(json.dumps(questions), encoding="utf-8")
    row = {"corpus": name, **_run("build", str(corpus), str(index))}
    row.update(_run("ask", str(corpus), str(index), str(qfile)))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description="Time the whole question path.")
    parser.add_argument("--passages", type=int, default=100_000, help="generated corpus size")
    parser.add_argument("--questions", type=int, default=200, help="questions on it")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker)
        return 0
    from tests.benchmarks.load_bench import write_articles

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seed_questions = [
            json.loads(line)["q"] for line in HOLDOUT.read_text(encoding="utf-8").splitlines()
        ]
        rows.append(bench("seeds", SEEDS, seed_questions, work))
        if args.passages:
            corpus = work / "generated"
            corpus.mkdir()
            write_articles(corpus, max(1, args.passages // PASSAGES_PER_ARTICLE))
            questions = _generated_questions(corpus, args.questions)
            rows.append(bench("generated", corpus, questions, work))
    columns = [
        "corpus", "passages", "build_s", "build_mb", "load_s", "first_answer_s",
        "cold_p50_ms", "cold_p95_ms", "p50_ms", "p95_ms", "max_ms", "ask_mb", "questions",
    ]  # fmt: skip
    print(" ".join(f"{c:>14}" for c in columns))
    for row in rows:
        cells = [
            f"{row[c]:>14.3f}" if isinstance(row[c], float) else f"{row[c]:>14}" for c in columns
        ]
        print(" ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
