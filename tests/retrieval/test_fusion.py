import pytest

from retrieval import fusion
from retrieval.fusion import DOCUMENT_WEIGHT, PASSAGE_WEIGHT, RRF_K, SEMANTIC_WEIGHT, fuse


def test_a_passage_both_signals_rank_beats_one_ranked_first_by_one() -> None:
    fused = dict(fuse(bm25=[1, 2, 3], semantic=[9, 2, 8], document=lambda p: None))
    assert max(fused, key=fused.get) == 2
    assert fused[2] == pytest.approx(1 / (RRF_K + 2) + SEMANTIC_WEIGHT / (RRF_K + 2))
    assert fused[1] == pytest.approx(1 / (RRF_K + 1))
    assert fused[9] == pytest.approx(SEMANTIC_WEIGHT / (RRF_K + 1))


def test_the_article_ranking_adds_to_every_passage_of_a_ranked_article() -> None:
    article_rank = {1: 0, 2: None}
    fused = dict(fuse(bm25=[1, 2], semantic=[], document=article_rank.get))
    assert fused[1] == pytest.approx(1 / (RRF_K + 1) + DOCUMENT_WEIGHT / (RRF_K + 1))
    assert fused[2] == pytest.approx(1 / (RRF_K + 2))


def test_fused_list_is_ordered_best_first_ties_by_passage() -> None:
    fused = fuse(bm25=[5, 4], semantic=[4, 5], document=lambda p: None)
    if SEMANTIC_WEIGHT == 1.0:
        assert [p for p, _ in fused] == [4, 5]
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    assert fuse(bm25=[], semantic=[], document=lambda p: 0) == []


def test_the_constants_are_the_measured_ones() -> None:
    assert (
        fusion.RRF_K,
        fusion.SEMANTIC_WEIGHT,
        fusion.PASSAGE_WEIGHT,
        fusion.DOCUMENT_WEIGHT,
    ) == (5, 0.5, 0.5, 0.5)


def test_the_whole_passage_ranking_counts_with_its_own_weight() -> None:
    fused = dict(fuse(bm25=[1], semantic=[], passages=[2, 1], document=lambda p: None))
    assert fused[1] == pytest.approx(1 / (RRF_K + 1) + PASSAGE_WEIGHT / (RRF_K + 2))
    assert fused[2] == pytest.approx(PASSAGE_WEIGHT / (RRF_K + 1))
