from pathlib import Path

import numpy as np
import pytest

from retrieval import semantic
from retrieval.passages import Passage, passage_sentences
from retrieval.semantic import DIMENSIONS, SentenceVectors, encoder, model_files, verify_model

PASSAGES = [
    Passage("a", "Results day", 0, "The firm's turnover climbed to 5 billion yuan. Shares rose."),
    Passage("a", "Results day", 1, "Analysts had expected less."),
    Passage("b", "Weather", 0, "Rain swept the harbour all week."),
]


def test_the_model_ships_with_its_packages_and_matches_its_checksum() -> None:
    model, tokenizer = model_files()
    assert model.stat().st_size > 10_000_000 and tokenizer.is_file()
    verify_model()


def test_vectors_are_normalized_and_meaning_is_closer_than_words() -> None:
    vectors = encoder().encode(["company revenue", "the firm's turnover", "rainy weather", ""])
    assert vectors.shape == (4, DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert encoder().encode([]).shape == (0, DIMENSIONS)


def test_padding_does_not_change_a_vector() -> None:
    """A text embedded alone or beside a much longer one gets the same vector."""
    alone = encoder().encode(["Dai Shan is the president."])[0]
    together = encoder().encode(["Dai Shan is the president.", "word " * 100])[0]
    assert np.allclose(alone, together, atol=1e-4)


def test_a_long_text_is_truncated_not_refused() -> None:
    assert encoder().encode(["word " * 5000]).shape == (1, DIMENSIONS)


def test_built_vectors_round_trip_and_rank_passages(tmp_path: Path) -> None:
    built = SentenceVectors.build(PASSAGES)
    assert built.complete
    built.save(tmp_path / "sentences")
    loaded = SentenceVectors.load(tmp_path / "sentences", len(PASSAGES))

    def sentences(i: int) -> list[str]:
        return passage_sentences(PASSAGES[i])

    assert len(loaded.passage_vectors(0, sentences)) == len(sentences(0)) == 3  # title first
    question = encoder().encode(["how much revenue did the company make"])[0]
    ranked = loaded.rank(question, 3, sentences)
    assert ranked[0][0] == 0 and [p for p, _ in ranked] == [
        p for p, _ in built.rank(question, 3, sentences)
    ]
    # the whole passages are ranked too, and round-trip
    whole = loaded.rank_passages(question, 3)
    assert whole[0][0] == 0 and len(whole) == 3
    assert [p for p, _ in whole] == [p for p, _ in built.rank_passages(question, 3)]
    rain = encoder().encode(["rain at the harbour"])[0]
    assert loaded.rank_passages(rain, 1)[0][0] == 2


def test_over_the_limit_sentences_are_embedded_on_demand_and_kept(monkeypatch) -> None:
    lazy = SentenceVectors.build(PASSAGES, limit=2)
    assert not lazy.complete
    calls: list[int] = []

    def sentences(i: int) -> list[str]:
        calls.append(i)
        return passage_sentences(PASSAGES[i])

    question = encoder().encode(["rain at the harbour"])[0]
    with pytest.raises(ValueError):
        lazy.rank(question, 3, sentences)  # every passage needs the saved vectors
    assert lazy.rank(question, 3, sentences, pool=[0, 2])[0][0] == 2
    lazy.rank(question, 3, sentences, pool=[0, 2])
    assert calls == [0, 2]  # embedded once, then kept
    assert lazy.rank_passages(question, 3) == []  # no whole-passage vectors when lazy
    monkeypatch.setattr(semantic, "LAZY_CACHE", 1)
    lazy.passage_vectors(1, sentences)
    lazy.passage_vectors(0, sentences)
    assert calls == [0, 2, 1, 0]


def test_vectors_that_do_not_fit_the_passages_are_refused(tmp_path: Path) -> None:
    SentenceVectors.build(PASSAGES).save(tmp_path / "s")
    with pytest.raises(ValueError, match="do not match"):
        SentenceVectors.load(tmp_path / "s", len(PASSAGES) + 1)
    with pytest.raises(ValueError, match="missing"):
        SentenceVectors.load(tmp_path / "nothing", 3)
