from pathlib import Path

import numpy as np
import pytest

from retrieval import _store, semantic
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


# --- the prepared model kept in the index folder ------------------------------------------


@pytest.fixture(scope="module")
def prepared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index folder holding the prepared model (written once for these tests)."""
    root = tmp_path_factory.mktemp("prepared") / "index"
    _store.claim_root(root)
    assert semantic.prepare_model(root) is not None
    return root


def test_the_prepared_model_gives_the_same_vectors_to_the_bit(prepared_root: Path) -> None:
    texts = ["Who is Dai Shan?", "The firm's turnover climbed to 5 billion yuan.", "word " * 200]
    packaged = semantic.Encoder().encode(texts)
    prepared = semantic.Encoder(prepared_root).encode(texts)
    assert np.array_equal(packaged, prepared)


def test_the_prepared_model_is_written_once_then_reused(prepared_root: Path) -> None:
    [folder] = [p for p in prepared_root.iterdir() if p.name.startswith("model-")]
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert semantic.prepare_model(prepared_root) == folder / "model.onnx"
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    _store.verify_build(folder)


def test_a_damaged_or_stale_prepared_model_is_rewritten(tmp_path: Path) -> None:
    root = tmp_path / "index"
    _store.claim_root(root)
    first = semantic.prepare_model(root)
    assert first is not None
    # another onnxruntime's copy (a different key) is removed when this one is written
    stale = root / "model-0123456789abcdef"
    stale.mkdir()
    (stale / _store.BUILD_MARKER).touch()
    with (first.parent / "weights.bin").open("r+b") as fh:  # same size, bytes changed
        fh.seek(1000)
        fh.write(b"\xff" * 16)
    again = semantic.prepare_model(root)
    assert again == first
    assert [p.name for p in root.iterdir() if p.name.startswith("model-")] == [first.parent.name]
    _store.verify_build(first.parent)
    vectors = semantic.Encoder(root).encode(["Who is Dai Shan?"])
    assert np.array_equal(vectors, semantic.Encoder().encode(["Who is Dai Shan?"]))


def test_no_prepared_model_outside_an_index_folder(tmp_path: Path) -> None:
    """Before the index folder exists (the very first start), the packaged model is used
    and nothing is written."""
    assert semantic.prepare_model(tmp_path / "missing") is None
    assert semantic.prepare_model(tmp_path) is None  # a folder, but not an index folder
    vectors = semantic.Encoder(tmp_path / "missing").encode(["Who is Dai Shan?"])
    assert vectors.shape == (1, DIMENSIONS)
    assert not list(tmp_path.iterdir())


def test_an_unwritable_index_folder_falls_back_to_the_packaged_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "index"
    _store.claim_root(root)

    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_store, "publish_cache", refuse)
    vectors = semantic.Encoder(root).encode(["Who is Dai Shan?"])
    assert np.array_equal(vectors, semantic.Encoder().encode(["Who is Dai Shan?"]))
    assert not [p for p in root.iterdir() if p.name.startswith("model-")]
