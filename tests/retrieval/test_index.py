"""The persisted index: BM25 parity with rank_bm25, reuse, rebuilds and recovery."""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from retrieval.answer import answer_question
from retrieval.build import _release, build_index, open_index
from retrieval.corpus import CorpusError, Document, load_corpus
from retrieval.index import Index, IndexUnavailable
from retrieval.passages import make_passages
from retrieval.text import tokenize
from tests.conftest import EMPLOYEE_004, WriteCorpus

QUESTIONS = [
    "Where was Wu Yongming born?",
    "What was Alibaba Cloud's revenue in the second quarter of fiscal year 2024?",
    "How many employees does Alibaba have in Beijing?",
]


def _current_build(root: Path) -> Path:
    return root / (root / "CURRENT").read_text(encoding="utf-8").strip()


def _answers(index: Index) -> list[dict]:
    return [answer_question(index, q).to_json() for q in QUESTIONS]


# --- BM25 parity ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_passage_tokens(seeds_dir: Path) -> list[list[str]]:
    """Per-passage tokens built the way Index.build builds them."""
    passages = make_passages(load_corpus(seeds_dir).documents)
    return [tokenize(f"{p.title}\n{p.text}" if p.position == 0 else p.text) for p in passages]


@pytest.mark.parametrize(
    "query",
    [
        "Where was Wu Yongming born?",
        "Alibaba Cloud revenue 27.648 billion",
        "Ma Yun Jack Ma Alibaba Alibaba",  # common terms, repeated
        "Taobao's service culture since 2003",
        "1+6+N organizational reform spin-off",
        "wireless mobile internet anxiety",
        "nothingmatcheszzz",
    ],
)
def test_scores_equal_rank_bm25_on_the_seed_corpus(
    seed_index: Index, seed_passage_tokens: list[list[str]], query: str
) -> None:
    engine = seed_index.engine
    assert engine.num_passages == len(seed_passage_tokens)
    reference = BM25Okapi(seed_passage_tokens, k1=engine.k1, b=engine.b, epsilon=engine.epsilon)
    tokens = tokenize(query)
    expected = reference.get_scores(tokens)
    got = engine.get_scores(tokens)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_passages_line_up_with_the_corpus(seed_index: Index, seeds_dir: Path) -> None:
    passages = make_passages(load_corpus(seeds_dir).documents)
    assert [seed_index.passage(i) for i in range(seed_index.num_passages)] == passages
    doc = seed_index.document(EMPLOYEE_004)
    assert doc is not None
    assert doc.title == "Employee No. 004 saves Ali"
    assert seed_index.document_passages(EMPLOYEE_004) == [
        p for p in passages if p.doc_id == EMPLOYEE_004
    ]


def test_search_finds_the_passage_that_states_the_fact(seed_index: Index) -> None:
    hits = seed_index.search("Where was Wu Yongming born?", k=3)
    assert len(hits) == 3
    assert any("born in Tonglu" in h.passage.text for h in hits)
    assert all(h.passage.doc_id == EMPLOYEE_004 for h in hits)
    assert [h.fused for h in hits] == sorted((h.fused for h in hits), reverse=True)
    assert all(h.bm25 > 0 and h.semantic is not None for h in hits)


def test_search_finds_a_paraphrase_by_meaning() -> None:
    """No word of the question is in the passage that answers it: only the semantic
    signal can find it, and it ranks it first."""
    index = build_index(
        [
            Document(
                "turnover", "Results", ("The firm's turnover climbed to 5 billion yuan.",), "1"
            ),
            Document(
                "weather", "Weather", ("Rain and cold winds swept the harbour all week.",), "2"
            ),
            Document("sport", "Sport", ("The football club won the league on Sunday.",), "3"),
        ]
    )
    hits = index.search("how much revenue did the company make", k=3)
    assert hits[0].passage.doc_id == "turnover"
    assert hits[0].bm25 == 0.0 and hits[0].semantic > max(h.semantic for h in hits[1:])


def test_bm25_score_is_rank_bm25s_and_fused_orders_the_hits(seed_index: Index) -> None:
    hits = seed_index.search("Alibaba Cloud revenue", k=10)
    terms = list(seed_index.query_terms("Alibaba Cloud revenue").terms)
    scores = seed_index.engine.get_scores(terms)
    for hit in hits:
        assert hit.bm25 == pytest.approx(float(scores[hit.index]), rel=1e-9)
    assert [h.fused for h in hits] == sorted((h.fused for h in hits), reverse=True)


def test_search_by_terms_alone_has_no_semantic_signal(seed_index: Index) -> None:
    """A digest topic is searched by its terms: BM25 and the article ranking only."""
    hits = seed_index.search(seed_index.query_terms("Alibaba Cloud"), k=5)
    assert hits and all(h.semantic is None and h.bm25 > 0 for h in hits)


def test_search_with_no_known_term_finds_nothing_by_words(seed_index: Index) -> None:
    assert seed_index.search(seed_index.query_terms("zzzzqqqq")) == []
    # by meaning, the closest passages still come back (the answer then abstains)
    assert all(h.bm25 == 0.0 for h in seed_index.search("zzzzqqqq"))


# --- persistence ------------------------------------------------------------------------


def test_first_open_builds_and_reports_every_document(seed_copy: Path, tmp_path: Path) -> None:
    index, report = open_index(seed_copy, tmp_path / "idx")
    assert report.rebuilt is True
    assert report.documents == 5
    assert report.passages == index.num_passages > 5
    assert report.skipped == []
    assert report.added == sorted(p.stem for p in seed_copy.glob("*.txt"))
    assert report.changed == report.removed == []


def test_build_is_published_under_a_current_pointer(seed_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    build = _current_build(root)
    assert build.is_dir()
    open_index(seed_copy, root, force=True)
    new_build = _current_build(root)
    assert new_build != build
    # Old builds are pruned; only the live one is left.
    assert [p.name for p in root.iterdir() if p.is_dir()] == [new_build.name]


def test_unchanged_corpus_reuses_the_build_and_answers_identically(
    seed_copy: Path, tmp_path: Path
) -> None:
    root = tmp_path / "idx"
    first, _ = open_index(seed_copy, root)
    build = _current_build(root)
    second, report = open_index(seed_copy, root)
    assert report.rebuilt is False
    assert report.documents == 5
    assert report.passages == first.num_passages
    assert _current_build(root) == build
    assert _answers(second) == _answers(first)


def test_touching_a_file_without_changing_it_does_not_rebuild(
    seed_copy: Path, tmp_path: Path
) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    path = seed_copy / f"{EMPLOYEE_004}.txt"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    _, report = open_index(seed_copy, root)
    assert report.rebuilt is False


def test_changed_content_rebuilds_and_reports_the_changed_document(
    seed_copy: Path, tmp_path: Path
) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    path = seed_copy / f"{EMPLOYEE_004}.txt"
    st = path.stat()
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("born in Tonglu, Zhejiang", "born in Quzhou, Zhejiang"), encoding="utf-8"
    )
    # Same size (an edit in place): the content hash tells the change, not the size.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == st.st_size
    index, report = open_index(seed_copy, root)
    assert report.rebuilt is True
    assert report.changed == [EMPLOYEE_004]
    assert report.added == report.removed == []
    answer = answer_question(index, "Where was Wu Yongming born?").answer
    assert answer is not None
    assert "Quzhou" in answer.text


def test_added_and_removed_files_are_reported(seed_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    (seed_copy / "003_9a4ce96881302217.txt").unlink()
    (seed_copy / "900_bakery.txt").write_text(
        "Bakery wins award\n\nThe corner bakery won the national sourdough award on Friday.\n",
        encoding="utf-8",
    )
    index, report = open_index(seed_copy, root)
    assert report.rebuilt is True
    assert report.added == ["900_bakery"]
    assert report.removed == ["003_9a4ce96881302217"]
    assert report.changed == []
    assert report.documents == 5
    assert index.document("003_9a4ce96881302217") is None
    hits = index.search("sourdough award")
    assert hits
    assert hits[0].passage.doc_id == "900_bakery"


def test_skipped_files_are_reported_and_remembered(
    write_corpus: WriteCorpus, tmp_path: Path
) -> None:
    corpus = write_corpus(
        {
            "good.txt": "Bridge reopens\n\nThe harbour bridge reopened on Sunday after repairs.\n",
            "empty.txt": "",
        }
    )
    root = tmp_path / "idx"
    _, report = open_index(corpus, root)
    assert [(s.name, s.reason) for s in report.skipped] == [("empty.txt", "empty file")]
    _, again = open_index(corpus, root)
    assert again.rebuilt is False
    assert [(s.name, s.reason) for s in again.skipped] == [("empty.txt", "empty file")]


def _corrupt_meta(build: Path) -> None:
    (build / "meta.json").write_text("{not json", encoding="utf-8")


def _truncate_passages(build: Path) -> None:
    path = build / "passages.bin"
    path.write_bytes(path.read_bytes()[:100])


def _delete_engine(build: Path) -> None:
    shutil.rmtree(build / "engine")


def _delete_build(build: Path) -> None:
    shutil.rmtree(build)


@pytest.mark.parametrize(
    "corrupt", [_corrupt_meta, _truncate_passages, _delete_engine, _delete_build]
)
def test_corrupt_current_build_is_rebuilt(seed_copy: Path, tmp_path: Path, corrupt) -> None:
    root = tmp_path / "idx"
    first, _ = open_index(seed_copy, root)
    expected = _answers(first)
    del first
    corrupt(_current_build(root))
    index, report = open_index(seed_copy, root)
    assert report.rebuilt is True
    assert _answers(index) == expected
    # The rebuilt index is usable on the next open too.
    _, again = open_index(seed_copy, root)
    assert again.rebuilt is False


def test_garbage_current_pointer_is_rebuilt(seed_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "idx"
    open_index(seed_copy, root)
    (root / "CURRENT").write_text("../../somewhere-else", encoding="utf-8")
    index, report = open_index(seed_copy, root)
    assert report.rebuilt is True
    assert index.num_passages > 0


def test_failed_save_serves_the_new_index_and_keeps_the_previous_build(
    seed_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "idx"
    first, _ = open_index(seed_copy, root)
    expected = _answers(first)
    build = _current_build(root)

    def crash(self: Index, directory: Path) -> None:
        directory.mkdir(parents=True)
        (directory / "meta.json").write_text("{", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(Index, "save", crash)
    (seed_copy / "900_new.txt").write_text(
        "New article\n\nA new article arrived on Monday with fresh news.\n", encoding="utf-8"
    )
    # The new build is served from memory; nothing half-written is left or published.
    fresh, report = open_index(seed_copy, root)
    assert report.added == ["900_new"]
    assert fresh.document("900_new") is not None
    assert _current_build(root) == build
    assert [p.name for p in root.iterdir() if p.name.startswith("build-")] == [build.name]
    assert _answers(Index.load(build)) == expected


def test_missing_corpus_folder_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        open_index(tmp_path / "nowhere", tmp_path / "idx")


def test_corpus_without_articles_cannot_be_indexed(
    write_corpus: WriteCorpus, tmp_path: Path
) -> None:
    corpus = write_corpus({"readme.md": "not an article"})
    with pytest.raises((CorpusError, IndexUnavailable), match="no usable articles"):
        open_index(corpus, tmp_path / "idx")


def test_corpus_of_only_bad_files_names_them(write_corpus: WriteCorpus, tmp_path: Path) -> None:
    corpus = write_corpus({"empty.txt": "", "binary.txt": b"\x00\x01\x02"})
    with pytest.raises(IndexUnavailable) as excinfo:
        open_index(corpus, tmp_path / "idx")
    message = str(excinfo.value)
    assert "empty.txt: empty file" in message
    assert "binary.txt: binary" in message


def test_a_rebuild_runs_without_the_cyclic_collector(seed_copy: Path, tmp_path: Path) -> None:
    """Full collections during a build hold the GIL long enough to stall a bot's event
    loop: the collector stays off from reading the articles to saving the index."""
    states: list[tuple[str, bool]] = []
    assert gc.isenabled()
    open_index(
        seed_copy,
        tmp_path / "idx",
        progress=lambda stage, done, total: states.append((stage, gc.isenabled())),
    )
    assert {stage for stage, _ in states} >= {"reading", "tokenizing", "scoring"}
    assert not any(enabled for _, enabled in states)
    assert gc.isenabled()


def test_document_records_are_left_alone_by_the_collector(seed_copy: Path, tmp_path: Path) -> None:
    """Per-article records are plain tuples, which the collector stops tracking, so a
    large index adds no work to full collections."""
    index, _ = open_index(seed_copy, tmp_path / "idx")
    # a tuple is untracked once its items are: a collection may meet a record before
    # its bylines tuple, and the next one untracks it
    gc.collect()
    gc.collect()
    assert len(index.documents) == 5
    assert not any(gc.is_tracked(row) for row in index.documents._rows)
    assert not any(gc.is_tracked(stamp) for stamp in index.stamps.values())
    assert index.document(index.documents[2].doc_id) == index.documents[2]
    assert index.documents[1:3] == [index.documents[1], index.documents[2]]


@pytest.mark.parametrize(
    "items",
    [
        [["tok"] * n for n in range(300)],
        [object() for _ in range(1000)],
        [["tok"] * 600_000, ["tok"]],
        [],
    ],
)
def test_release_empties_lists_of_any_shape(items: list) -> None:
    _release(items)
    assert items == []
