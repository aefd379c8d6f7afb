"""Score answers on a question set, in process: the figures of the outside scorer.

    python -m tests.eval.quality                      # the project's held-out questions
    python -m tests.eval.quality FILE --half tune     # one half of a set (see below)
    python -m tests.eval.quality FILE -v              # and list every miss

A question set is JSON lines: {"id", "q", "doc" (expected article, null when the articles
do not answer it), "a" (strings a right answer contains), "tags"}. ``--half`` splits a set
the way the development set is split for tuning: a question is in the "tune" half when
the SHA-1 of its id is even, in the "check" half when it is odd. Weights and thresholds
are chosen on the tune half only; the check half and ``holdout_qa.jsonl`` (questions
written apart from the tuning, about the bundled articles) only measure, as does
``fresh_qa.jsonl``, written by someone who saw only the articles after the method was
settled, and never used to choose anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.answer import answer_question
from retrieval.build import open_index
from retrieval.synonyms import Synonyms, load_synonyms

HERE = Path(__file__).resolve().parent
SEEDS = HERE.parent.parent / "seeds"
HOLDOUT = HERE / "holdout_qa.jsonl"


def half_of(question_id: str) -> str:
    return "tune" if int(hashlib.sha1(question_id.encode()).hexdigest(), 16) % 2 == 0 else "check"


def _norm(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", text).strip().lower()


def _has(text: str, answers: Iterable[str]) -> bool:
    return any(_norm(a) in _norm(text) for a in answers)


@dataclass
class Scores:
    answerable: int = 0
    doc1: int = 0
    passage1: int = 0
    passage3: int = 0
    answer1: int = 0
    false_abstain: int = 0
    unanswerable: int = 0
    abstained: int = 0
    by_tag: dict[str, list[int]] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)

    def line(self) -> str:
        n = max(self.answerable, 1)
        return (
            f"questions={self.answerable + self.unanswerable} doc@1={self.doc1 / n:.2f} "
            f"passage@1={self.passage1 / n:.2f} passage@3={self.passage3 / n:.2f} "
            f"answer@1={self.answer1 / n:.2f} false_abst={self.false_abstain}/{self.answerable} "
            f"abstain={self.abstained}/{self.unanswerable}"
        )

    def tags(self) -> str:
        return "  ".join(f"{t} {r}/{k}" for t, (r, k) in sorted(self.by_tag.items()))


def score(items: list[dict], corpus: Path = SEEDS, synonyms: Synonyms | None = None) -> Scores:
    """Answer every question with the bundled pipeline and count as the scorer does."""
    if synonyms is None:
        synonyms, _ = load_synonyms(corpus / "synonyms.csv")
    with tempfile.TemporaryDirectory() as tmp:
        index, _ = open_index(corpus, Path(tmp) / "index")
        out = Scores()
        for item in items:
            result = answer_question(index, item["q"], synonyms=synonyms)
            answer = result.answer
            # as ``ask --json`` lists them (the bot's numbered sources)
            passages = [f"{p['title']}\n{p['text']}" for p in result.to_json()["passages"]]
            if item["doc"] is None:
                out.unanswerable += 1
                out.abstained += answer is None
                tally = out.by_tag.setdefault("unanswerable", [0, 0])
                tally[0] += answer is None
                tally[1] += 1
                if answer is not None:
                    out.misses.append(f"{item['id']} should abstain: {item['q']!r}")
                continue
            out.answerable += 1
            out.doc1 += bool(result.hits) and result.hits[0].passage.doc_id == item["doc"]
            out.passage1 += bool(passages) and _has(passages[0], item["a"])
            out.passage3 += any(_has(p, item["a"]) for p in passages[:3])
            right = answer is not None and _has(answer.text, item["a"])
            out.answer1 += right
            out.false_abstain += answer is None
            for tag in item.get("tags") or ["plain"]:
                tally = out.by_tag.setdefault(tag, [0, 0])
                tally[0] += right
                tally[1] += 1
            if not right:
                got = f"(abstained: {result.reason})" if answer is None else answer.text[:120]
                out.misses.append(f"{item['id']} {item['q']!r} -> {got!r}")
        return out


def load(path: Path, half: str | None = None) -> list[dict]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [i for i in items if half is None or half_of(i["id"]) == half]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", nargs="?", type=Path, default=HOLDOUT)
    parser.add_argument("--half", choices=["tune", "check"])
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    scores = score(load(args.questions, args.half))
    if args.verbose:
        print("\n".join(scores.misses))
    print(f"by tag (right/asked): {scores.tags()}")
    print(scores.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
