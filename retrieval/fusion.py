"""Reciprocal-rank fusion of the rankings that retrieval produces.

Each signal ranks passages its own way and on its own scale: BM25 scores grow with the
query's length and its words' rarity, cosine similarities sit between -1 and 1. Rather
than calibrate one scale to the other, reciprocal-rank fusion (Cormack, Clarke and
Büttcher, SIGIR 2009) adds ``weight / (RRF_K + rank)`` over the lists a passage appears
in (rank 1 is the best). A passage ranked well by two signals beats one ranked first by
only one, and no signal's outliers dominate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["DOCUMENT_WEIGHT", "PASSAGE_WEIGHT", "RRF_K", "SEMANTIC_WEIGHT", "fuse"]

# Smaller than the original paper's 60, so that the first places of a list count: with
# k=60 ranks 1 and 12 score 0.0164 and 0.0139, and a passage that meaning ranks first
# but BM25 twelfth (the question's words are not the article's) stayed out of the top
# five. Measured with the weights below, over k of 2, 5, 10, 20 and 60 (tuning half of
# the development questions): passage@3 0.81 -> 0.86 and the reciprocal rank of the
# first answering passage 0.71 -> 0.79 from 60 to 5; on the checking half passage@5
# 0.70 -> 0.78, on the held-out questions passage@3 0.88 -> 0.90.
RRF_K = 5
# The semantic lists count half as much as BM25's. Passage@3 on the development
# questions (tuning half / checking half), at k=60: BM25 and the article list alone
# 0.78 / 0.59; sentence semantic weight 0.5: 0.78 / 0.73; weight 1.0: 0.78 / 0.73, with
# passage@1 0.05 lower on the tuning half. Sentence similarity in these
# machine-translated articles is a weaker signal than shared rare words, but it finds
# what they miss.
SEMANTIC_WEIGHT = 0.5
# The whole passage's meaning, beside its closest sentence's: a passage answers as a
# whole more often than one sentence of it says all the question asks. Weights 0, 0.5
# and 1 at k=5 on the tuning half: passage@3 0.84, 0.86, 0.84.
PASSAGE_WEIGHT = 0.5
# The article-level BM25 ranking says which article is about the question, not which of
# its passages answers, so it counts half a list too.
DOCUMENT_WEIGHT = 0.5


def fuse(
    *,
    bm25: Sequence[int],
    semantic: Sequence[int],
    document: Callable[[int], int | None],
    passages: Sequence[int] = (),
) -> list[tuple[int, float]]:
    """Passages of any list with their fused score, best first (ties by number).

    bm25, semantic (by closest sentence) and passages (by whole-passage meaning) are
    passage numbers best first; document(p) is the 0-based rank of passage p's article
    in the article ranking, or None if it is not in it."""
    scores: dict[int, float] = {}
    for ranking, weight in ((bm25, 1.0), (semantic, SEMANTIC_WEIGHT), (passages, PASSAGE_WEIGHT)):
        for rank, passage in enumerate(ranking, 1):
            scores[passage] = scores.get(passage, 0.0) + weight / (RRF_K + rank)
    for passage in scores:
        rank = document(passage)
        if rank is not None:
            scores[passage] += DOCUMENT_WEIGHT / (RRF_K + rank + 1)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
