"""Sentence splitting and passage chunking."""

from __future__ import annotations

import pytest

from retrieval.corpus import Document
from retrieval.passages import MAX_CHARS, make_passages, sentence_starts, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Employee No. 004 saves Ali. The board agreed.",
            ["Employee No. 004 saves Ali.", "The board agreed."],
        ),
        (
            "Mr. Ma spoke first. Dr. Li replied.",
            ["Mr. Ma spoke first.", "Dr. Li replied."],
        ),
        (
            "Revenue was 27.648 billion yuan. Growth was 2%.",
            ["Revenue was 27.648 billion yuan.", "Growth was 2%."],
        ),
        (
            "In 2015 he founded Yuan? Capital to focus on startups. It did well.",
            ["In 2015 he founded Yuan? Capital to focus on startups.", "It did well."],
        ),
        (
            'He said: "It is hard." After that he left.',
            ['He said: "It is hard."', "After that he left."],
        ),
        (
            'She asked: "Why stay?" Nobody answered. Is it over? Yes.',
            ['She asked: "Why stay?"', "Nobody answered.", "Is it over?", "Yes."],
        ),
        (
            "The plan (approved in 2019) worked! Everyone was pleased.",
            ["The plan (approved in 2019) worked!", "Everyone was pleased."],
        ),
        ("1. E-commerce is now traditional.", ["1. E-commerce is now traditional."]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_sentences_keeps_every_character_of_the_text() -> None:
    text = 'Mr. Ma said "yes." Revenue rose 27.648 billion. Why? Nobody knows. Yuan? Capital grew'
    assert " ".join(split_sentences(text)) == text


def test_split_sentences_of_empty_text() -> None:
    assert split_sentences("") == []
    assert split_sentences("   ") == []


def _doc(doc_id: str, paragraphs: list[str], title: str = "A title") -> Document:
    return Document(doc_id=doc_id, title=title, paragraphs=tuple(paragraphs), content_hash="x")


LONG_PARAGRAPH = " ".join(
    f"Sentence number {n} talks about the harbour bridge and its repair." for n in range(60)
)


def test_passages_keep_document_id_title_and_position() -> None:
    docs = [_doc("a", [LONG_PARAGRAPH], "Bridge"), _doc("b", ["Short text."], "Other")]
    passages = make_passages(docs)
    a = [p for p in passages if p.doc_id == "a"]
    b = [p for p in passages if p.doc_id == "b"]
    assert len(a) > 1
    assert [p.position for p in a] == list(range(len(a)))
    assert all(p.title == "Bridge" for p in a)
    assert [(p.title, p.position, p.text) for p in b] == [("Other", 0, "Short text.")]
    # Passages come in document order and cover the text without loss.
    assert passages[: len(a)] == a
    assert " ".join(p.text for p in a) == LONG_PARAGRAPH


def test_passages_respect_the_size_bound_and_end_on_sentences() -> None:
    passages = make_passages([_doc("a", [LONG_PARAGRAPH])])
    assert all(len(p.text) <= MAX_CHARS for p in passages)
    assert all(p.text.endswith("repair.") for p in passages)


def test_custom_size_bound() -> None:
    passages = make_passages([_doc("a", [LONG_PARAGRAPH])], max_chars=200, min_chars=50)
    assert len(passages) > 10
    assert all(len(p.text) <= 200 for p in passages)


def test_overlong_sentence_is_cut_between_words() -> None:
    words = [f"word{n}" for n in range(400)]
    sentence = " ".join(words) + "."
    passages = make_passages([_doc("a", [sentence])], max_chars=300)
    assert len(passages) > 1
    assert all(len(p.text) <= 300 for p in passages)
    assert " ".join(p.text for p in passages).split() == sentence.split()


def test_short_paragraphs_are_packed_together() -> None:
    paragraphs = ["First short paragraph.", "Second short paragraph.", "Third one."]
    passages = make_passages([_doc("a", paragraphs)])
    assert [p.text for p in passages] == ["\n".join(paragraphs)]


def test_paragraph_breaks_end_sentences_inside_a_passage() -> None:
    # A byline without closing punctuation must not run into the next paragraph's sentence.
    paragraphs = ["Editor|Li Wei", "Dai Shan gave way."]
    [passage] = make_passages([_doc("a", paragraphs)])
    assert split_sentences(passage.text) == ["Editor|Li Wei", "Dai Shan gave way."]


def test_seed_passages(seed_documents: dict[str, Document]) -> None:
    passages = make_passages(seed_documents.values())
    assert {p.doc_id for p in passages} == set(seed_documents)
    for p in passages:
        assert len(p.text) <= MAX_CHARS
        assert p.title == seed_documents[p.doc_id].title
    # "No. 1" in the seed text does not end a sentence.
    assert any(
        "holds the No. 1 position in the two major groups of Alibaba Cloud and Taotian." in s
        for p in passages
        for s in split_sentences(p.text)
    )


def test_sentence_starts_finds_each_sentence_after_the_one_before() -> None:
    text = "Ma spoke. Ma spoke.\nThen he left."
    sentences = ["Headline", "Ma spoke.", "Ma spoke.", "Then he left."]
    # the repeated sentence is found twice, in order; a title the text lacks is -1
    assert sentence_starts(text, sentences) == [-1, 0, 10, 20]
