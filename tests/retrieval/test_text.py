"""The tokenizer that questions and articles share."""

from __future__ import annotations

import itertools

import pytest

from retrieval.index import Index
from retrieval.query import Vocabulary, dictionary
from retrieval.text import (
    STOP_WORDS,
    analyze,
    normalize,
    script_runs,
    script_units,
    surface_words,
    tokenize,
)


@pytest.mark.parametrize(
    "spelling",
    ["Taobao’s", "Taobao's", "taobao", "TAOBAO", "Taobao‘s", "Taobaoʼs", "Ｔａｏｂａｏ"],
)
def test_apostrophes_possessives_case_and_width_fold_to_one_term(spelling: str) -> None:
    assert tokenize(spelling) == ["taobao"]


def test_curly_and_straight_apostrophes_normalize_alike() -> None:
    assert normalize("Don’t") == normalize("Don't") == "don't"


def test_hyphenated_word_equals_closed_form() -> None:
    assert tokenize("spin-off") == tokenize("spinoff") == tokenize("spin‑off")
    assert len(tokenize("spin-off")) == 1


def test_spaced_dash_separates_words() -> None:
    assert tokenize("pattern – generation") == tokenize("pattern generation")


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("revenue was 27.648 billion yuan", "27.648"),
        ("since 2003, Taobao", "2003"),
        ('the "1+6+N" reform', "1+6+n"),
        ("they pooled 500,000", "500000"),
    ],
)
def test_numbers_and_codes_are_kept_whole(text: str, term: str) -> None:
    assert term in tokenize(text)


def test_decimal_is_not_split_into_its_parts() -> None:
    terms = tokenize("27.648 billion")
    assert "27" not in terms
    assert "648" not in terms


def test_stop_words_are_dropped() -> None:
    assert tokenize("What is the name of it and who are they?") == ["name"]
    assert {"the", "and", "of", "what", "who"} <= STOP_WORDS


def test_meaningful_news_words_are_not_stop_words() -> None:
    assert tokenize("new first year") == ["new", "first", "year"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("running", "runs"),
        ("employees", "employee"),
        ("founded", "founding"),
        ("cultures", "culture"),
    ],
)
def test_inflections_share_a_stem(a: str, b: str) -> None:
    assert tokenize(a) == tokenize(b)
    assert len(tokenize(a)) == 1


def test_analyze_pairs_surface_words_with_the_terms_tokenize_gives() -> None:
    text = "Wu Yongming’s nickname is “Dongxie”; Alibaba Cloud’s revenue was 27.648 billion."
    pairs = analyze(text)
    assert [term for _, term in pairs] == tokenize(text)
    surfaces = [surface for surface, _ in pairs]
    assert surfaces == [
        "wu", "yongming", "nickname", "dongxie", "alibaba", "cloud", "revenue", "27.648", "billion"
    ]  # fmt: skip


def test_empty_and_symbol_only_text_have_no_terms() -> None:
    assert tokenize("") == []
    assert tokenize("?!? ... --- 🚀🔥") == []


def test_non_latin_words_are_tokens() -> None:
    assert tokenize("阿里巴巴 مرحبا") == ["阿里巴巴", "مرحبا"]


def test_questions_and_passages_use_the_same_terms(seed_index: Index) -> None:
    """Every passage, asked as a question, turns into exactly its own index terms, then
    the indexed words that two of its neighbouring words make joined ("Dai Shan" and the
    headline's "Daishan")."""
    for i in range(0, seed_index.num_passages, 7):
        text = seed_index.passage(i).text
        query = seed_index.query_terms(text)
        assert query.corrections == {}
        assert query.unknown == ()
        own = tokenize(text)
        assert list(query.terms[: len(own)]) == own
        words = [w for w in surface_words(text) if w not in STOP_WORDS]
        pairs = {a + b for a, b in itertools.pairwise(words)}
        assert set(query.surfaces[len(own) :]) <= pairs


def test_vocabulary_corrects_unknown_words_to_the_closest_common_one() -> None:
    surfaces = {"customers": "custom", "costumes": "costum", "cloud": "cloud"}
    freq = {"custom": 9, "costum": 1, "cloud": 3}
    vocabulary = Vocabulary(surfaces, lambda term: freq.get(term, 0))
    read = vocabulary.read("custmers of clodu zzzzzz")
    assert read.corrections == {"custmers": "customers"}
    assert read.terms[0] == "custom"
    # short words are not corrected; words with no close match stay unknown
    assert read.unknown == ("clodu", "zzzzzz")


def test_a_real_word_is_not_corrected_into_another_but_may_lose_an_ending() -> None:
    surfaces = {"services": "servic", "small": "small", "writes": "write", "truly": "truli"}
    freq = {"servic": 5, "small": 2, "write": 2, "truli": 1}
    words = ("devices", "services", "smaller", "small", "writer", "writes")
    vocabulary = Vocabulary(
        surfaces, lambda term: freq.get(term, 0), lambda: {w: n for n, w in enumerate(words)}
    )
    read = vocabulary.read("devices for smaller writer trudy", names={"trudy"})
    assert read.corrections == {"smaller": "small"}
    assert read.unknown == ("devices", "writer", "trudy")
    # without the dictionary and the names, each would be "corrected"
    plain = Vocabulary(surfaces, lambda term: freq.get(term, 0)).read("devices writer trudy")
    assert plain.corrections == {"devices": "services", "writer": "writes", "trudy": "truly"}


def test_the_dictionary_holds_english_words_ranked_from_the_most_common() -> None:
    words = dictionary()
    assert {"college", "devices", "writer", "mindset", "watchers"} <= words.keys()
    assert "custmers" not in words and "colege" not in words
    assert words["the"] < words["running"] < words["ruining"]


def test_an_unknown_misspelling_is_spelled_for_the_embedding_as_the_most_common_word() -> None:
    surfaces = {"customers": "custom"}
    vocabulary = Vocabulary(surfaces, lambda term: 9 if term == "custom" else 0, dictionary)
    read = vocabulary.read("runing a colege for custmers, mindset of trudy", names={"trudy"})
    # searched: the index's words only; the rest stay unknown
    assert read.corrections == {"custmers": "customers"}
    assert read.unknown == ("runing", "colege", "mindset", "trudy")
    # embedded: the misspellings as the words meant ("running", not "ruining"); a real
    # word and a name as typed
    assert read.spellings == {"runing": "running", "colege": "college"}


def test_words_run_together_or_apart_meet_the_articles_spelling() -> None:
    # the articles wrote "project-based" (indexed as one word) and "seven part"
    surfaces = {"projectbased": "projectbas", "project": "project", "seven": "seven"}
    surfaces |= {"part": "part", "sales": "sale", "mind": "mind", "set": "set"}
    vocabulary = Vocabulary(
        surfaces, lambda term: 1 if term in surfaces.values() else 0, dictionary
    )
    read = vocabulary.read("project based sales in a sevenpart plan, a mindset")
    assert "projectbas" in read.terms  # the joined word is searched too
    assert [s for s in read.surfaces if s in ("seven", "part")] == ["seven", "part"]
    assert "sevenpart" not in read.unknown
    # an English word is not taken apart
    assert "mindset" in read.unknown and "mind" not in read.surfaces
    assert len(read.terms) == len(read.surfaces)


def test_script_runs_and_units() -> None:
    text = "Who is 马云? Кто 😀 CEO是谁"
    assert script_runs(text) == [
        ("LATIN", "Who"),
        ("LATIN", "is"),
        ("CJK", "马云"),
        ("CYRILLIC", "Кто"),
        ("LATIN", "CEO"),
        ("CJK", "是谁"),
    ]
    # a script written without spaces counts a word a character
    assert script_units(text) == {"LATIN": 3, "CJK": 4, "CYRILLIC": 1}
    assert script_units("?! 42 😀") == {}
