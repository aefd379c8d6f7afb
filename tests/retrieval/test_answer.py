"""Extractive answers over the seed corpus: right fact, verbatim, bounded, or abstain."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from retrieval.answer import (
    MAX_ANSWER_CHARS,
    MIN_CONFIDENCE,
    Answer,
    Result,
    _answer_test,
    _with_preceding,
    answer_question,
    embed_question,
    read_question,
)
from retrieval.build import build_index
from retrieval.corpus import Document
from retrieval.index import Hit, Index
from retrieval.passages import Passage
from retrieval.synonyms import Synonyms, load_synonyms
from tests.conftest import EMPLOYEE_004

ALI_000 = "000_7a46dadf526371bf"
BEIJING_001 = "001_ef44247ab5b4b5ab"
SPEECH_002 = "002_20860fa90339b72b"
DAI_SHAN_003 = "003_9a4ce96881302217"

# (question, a fact the answer must state, the article it must come from)
ANSWERABLE = [
    (
        "What was Alibaba Cloud's revenue in the second quarter of fiscal year 2024?",
        "27.648 billion",
        EMPLOYEE_004,
    ),
    ("How old was Wu Yongming when he went to the interview?", "21 years old", EMPLOYEE_004),
    ("Where was Wu Yongming born?", "Tonglu", EMPLOYEE_004),
    ("What is Wu Yongming's nickname?", "Dongxie", EMPLOYEE_004),
    ("When did Wu Yongming leave Alibaba?", "2015", EMPLOYEE_004),
    ("Who took over Dai Shan's position?", "Wu Yongming", EMPLOYEE_004),
    ("how much money did they pool to establish alibaba", "500,000", EMPLOYEE_004),
    ("How long did Wu Yongming serve as chairman of Alibaba Health?", "5 years", EMPLOYEE_004),
    ("What happened to Hema's IPO plan?", "postponed its IPO", EMPLOYEE_004),
    ("How many employees does Alibaba have in Beijing?", "8000 employees", BEIJING_001),
    ("How many users outside the company must Ali employees have?", "100 users", ALI_000),
    ("What did Fan Zhiming say about WeChat pay?", "Alipay is too small", ALI_000),
    (
        "What would Ma Yun set his sights on if he started a business again?",
        "traditional industries",
        SPEECH_002,
    ),
    ("Since what year has Taobao's development relied on service culture?", "2003", DAI_SHAN_003),
    ("When did Dai Shan speak at the Maker Festival?", "August 24", DAI_SHAN_003),
]

UNANSWERABLE = [
    "What is the capital of France?",
    "Who won the 2018 FIFA World Cup in Russia?",
    "What did Elon Musk say about Tesla?",
    "How does photosynthesis work in plants?",
    "What is the recipe for chocolate chip cookies?",
    "how many moons does jupiter have",
    "When did Apple release the first iPhone?",
    "What is the boiling point of water?",
]

HOSTILE = [
    "",
    "   ",
    "?!?...;;",
    "x" * 10_000,
    "Alibaba " * 1_250,
    "'; DROP TABLE queries; --",
    "Robert'); DROP TABLE Students;-- where was Wu Yongming born",
    "**bold** _it_ [link](http://example.com) `code` # heading\n- item",
    "<script>alert(1)</script>",
    "@everyone @here <@123456789>",
    "🚀🔥💯 Wu Yongming 🙂",
    "مرحبا بالعالم",
    "שלום עולם \u202eWu Yongming\u202c",
    "\x00\x01\x1b[31m red \u200b\ufeff",
    "Where\nwas\tWu\r\nYongming born?",
]


def _check_extract(index: Index, answer: Answer) -> None:
    """The answer is a bounded, verbatim, whole-word extract of one passage of its article."""
    assert 0 < len(answer.text) <= MAX_ANSWER_CHARS
    assert answer.text == answer.text.strip()
    doc = index.document(answer.doc_id)
    assert doc is not None
    assert answer.title == doc.title
    found = False
    for passage in index.document_passages(answer.doc_id):
        for match in re.finditer(re.escape(answer.text), passage.text):
            before = passage.text[match.start() - 1 : match.start()]
            after = passage.text[match.end() : match.end() + 1]
            if not before.isalnum() and not after.isalnum():
                found = True
    assert found, f"not a whole-word extract of {answer.doc_id}: {answer.text!r}"


@pytest.mark.parametrize(("question", "fact", "doc_id"), ANSWERABLE)
def test_answerable_question_gets_the_fact_from_the_right_article(
    seed_index: Index, question: str, fact: str, doc_id: str
) -> None:
    result = answer_question(seed_index, question)
    assert result.answer is not None, result.reason
    assert fact in result.answer.text
    assert result.answer.doc_id == doc_id
    assert result.reason == ""
    _check_extract(seed_index, result.answer)


@pytest.mark.parametrize(("question", "fact", "doc_id"), ANSWERABLE[:5])
def test_answer_passage_is_a_cited_source(
    seed_index: Index, question: str, fact: str, doc_id: str
) -> None:
    result = answer_question(seed_index, question)
    assert result.answer is not None
    assert result.hits
    assert len({h.index for h in result.hits}) == len(result.hits)
    sources = result.sources(3)
    cited = result.answer_source(3)
    assert cited is not None and 1 <= cited <= len(sources) <= 3
    own = sources[cited - 1]
    assert own.index == result.answer.passage
    assert result.answer.text in f"{own.passage.title}\n{own.passage.text}"


def test_sources_lead_with_the_answer_passage_then_keep_the_ranking() -> None:
    hits = [Hit(Passage("d", "T", n, f"text {n}"), n, 1.0 - n / 10) for n in range(5)]
    result = Result("q", Answer("text 4", "d", "T", 2.0, 4), hits)
    assert [h.index for h in result.sources(3)] == [4, 0, 1]
    assert result.answer_source(3) == 1
    unanswered = Result("q", None, hits)
    assert [h.index for h in unanswered.sources(3)] == [0, 1, 2]
    assert unanswered.answer_source(3) is None


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_unanswerable_question_abstains_with_a_reason(seed_index: Index, question: str) -> None:
    result = answer_question(seed_index, question)
    assert result.answer is None
    assert result.reason
    assert result.to_json()["answer"] is None


def test_abstention_names_what_the_articles_never_mention(seed_index: Index) -> None:
    result = answer_question(seed_index, "What did Elon Musk say about Tesla?")
    assert result.answer is None
    assert "Musk" in result.reason
    assert "Tesla" in result.reason


def test_an_unknown_possessor_typed_in_lower_case_is_a_name_never_mentioned(
    gate_index: Index,
) -> None:
    result = answer_question(gate_index, "who is zorbix's ceo rn")
    assert result.answer is None
    assert "zorbix" in result.reason
    # a common noun is no name: the question is judged on its merits
    result = answer_question(gate_index, "what was nimbus cloud's revenue, in the author's view")
    assert "author" not in result.reason
    assert result.answer is not None and "27.6 billion" in result.answer.text


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("who is wu yongmng", "Wu Yongming"),
        ("Where was Wu Yongmng born?", "Tonglu"),
        ("What is wu yongmng's nickname?", "Dongxie"),
    ],
)
def test_misspelled_name_still_finds_the_article(
    seed_index: Index, question: str, fact: str
) -> None:
    result = answer_question(seed_index, question)
    assert result.answer is not None, result.reason
    assert result.answer.doc_id == EMPLOYEE_004
    assert fact in result.answer.text
    assert result.corrections.get("yongmng") == "yongming"


def test_long_sentence_is_windowed_at_word_boundaries(seed_index: Index) -> None:
    # The sentence listing Taobao's cultures is longer than an answer may be.
    result = answer_question(seed_index, "What is the martial arts culture of Taobao?")
    assert result.answer is not None
    assert result.answer.doc_id == DAI_SHAN_003
    assert "martial arts culture" in result.answer.text
    _check_extract(seed_index, result.answer)


def _answer_from_a_long_sentence(title: str, sentence: str, question: str) -> str:
    """The answer to question over an article of one long sentence (and another on
    something else), checked to be a whole-word extract of it."""
    index = build_index(
        [
            Document("long", title, (sentence,), "l1"),
            Document("other", "Bakery news", ("The bakery won an award on Friday.",), "l2"),
        ]
    )
    result = answer_question(index, question)
    assert result.answer is not None, result.reason
    _check_extract(index, result.answer)
    return result.answer.text


def test_window_centres_on_the_asked_fact_in_a_very_long_sentence() -> None:
    before = " ".join(f"clause {n} mentions ordinary harbour matters" for n in range(60))
    after = " ".join(f"then clause {n} mentions ordinary river matters" for n in range(60))
    sentence = f"{before} and the zebra crossing was painted purple {after}."
    answer = _answer_from_a_long_sentence(
        "Harbour news", sentence, "What colour was the zebra crossing painted?"
    )
    assert "zebra crossing was painted purple" in answer


def test_a_sentence_is_read_after_the_one_before_it(seed_index: Index) -> None:
    # "Dai Shan gave way." restates the question; what she moves on to is told in the
    # next sentence, which says so only read after it
    result = answer_question(seed_index, "What is Dai Shan moving on to?")
    assert result.answer is not None, result.reason
    assert "Asset Management Company" in result.answer.text


def test_each_sentence_vector_in_context_is_a_unit_sum_with_the_one_before() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    joined = _with_preceding(vectors)
    assert np.allclose(joined[0], [1.0, 0.0])
    assert np.allclose(joined[1], [2**-0.5, 2**-0.5])
    assert np.allclose(joined[2], [0.0, 0.0])  # opposites cancel: no direction, no NaN
    assert np.allclose(vectors, [[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])  # left as given


def test_window_counts_each_asked_word_once() -> None:
    # "culture" and "harbour" are asked too, and said in every clause: the window must
    # still hold the one clause on the rare word asked about, with what it says of it.
    clauses = [
        f"the {colour} culture of the harbour, where sailors {verb} every morning"
        for colour, verb in zip(
            ["red", "blue", "green", "grey", "white", "black", "amber"],
            ["sing", "fish", "row", "mend nets", "swim", "trade", "rest"],
            strict=True,
        )
    ]
    sentence = (
        "The harbour keeps many cultures: "
        + "; ".join(clauses)
        + "; and last the smile culture of the harbour, keeping spirits up through storms."
    )
    assert len(sentence) > MAX_ANSWER_CHARS
    answer = _answer_from_a_long_sentence(
        "Harbour news", sentence, "What is the smile culture of the harbour?"
    )
    assert "smile culture of the harbour, keeping spirits up" in answer


def test_window_keeps_the_date_asked_for_and_the_sentence_start() -> None:
    # the asked words come again further on, which would pull a centred window past
    # the sentence's start, and the month with it
    tail = " ".join(f"then it opened office {n} in a new city" for n in range(40))
    sentence = (
        "In November 1997, after long thought, Lin Bo left the ferry company for good and "
        f"{tail[:300]} while the ferry company he left {tail[300:]}."
    )
    answer = _answer_from_a_long_sentence(
        "Ferry news", sentence, "When did Lin Bo leave the ferry company?"
    )
    assert answer.startswith("In November 1997, after long thought, Lin Bo left")


@pytest.mark.parametrize("question", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_returns_a_result(seed_index: Index, question: str) -> None:
    result = answer_question(seed_index, question)
    assert isinstance(result, Result)
    assert result.question == question
    if result.answer is None:
        assert result.reason
    else:
        _check_extract(seed_index, result.answer)
    payload = json.loads(json.dumps(result.to_json(), ensure_ascii=False))
    assert payload["question"] == question


def test_question_without_words_abstains_without_passages(seed_index: Index) -> None:
    for question in ("", "?!?", "🚀🔥"):
        result = answer_question(seed_index, question)
        assert result.answer is None
        assert result.hits == []
        assert result.reason


def test_to_json_has_the_contract_shape(seed_index: Index) -> None:
    result = answer_question(seed_index, "Where was Wu Yongming born?", k=3)
    payload = result.to_json()
    assert set(payload) == {"question", "answer", "passages"}
    assert payload["question"] == "Where was Wu Yongming born?"
    assert set(payload["answer"]) == {"text", "doc_id", "title", "confidence"}
    assert payload["answer"]["title"] == "Employee No. 004 saves Ali"
    assert payload["answer"]["confidence"] >= MIN_CONFIDENCE
    assert len(payload["passages"]) == 3
    for passage in payload["passages"]:
        assert set(passage) == {"doc_id", "title", "text", "score", "bm25", "semantic"}
        assert all(isinstance(passage[key], float) for key in ("score", "bm25", "semantic"))
        assert all(isinstance(passage[key], str) for key in ("doc_id", "title", "text"))
    assert payload["answer"]["text"] in payload["passages"][0]["text"]
    scores = [p["score"] for p in payload["passages"][1:]]
    assert scores == sorted(scores, reverse=True)


def test_json_passages_are_the_sources_in_order(seed_index: Index) -> None:
    # the answer comes from a passage that fusion ranks below the first: JSON lists it
    # first, as the bot numbers it [1], and the others by fused score
    result = answer_question(seed_index, "when was the ali beijing all hands held")
    assert result.answer is not None
    assert result.hits[0].index != result.answer.passage
    passages = result.to_json()["passages"]
    own = next(h for h in result.hits if h.index == result.answer.passage)
    rest = [h for h in result.hits if h is not own]
    assert [p["text"] for p in passages] == [h.passage.text for h in [own, *rest]]
    assert [p["score"] for p in passages[1:]] == [round(h.fused, 6) for h in rest]
    assert len(passages) == len(result.hits)


def test_k_bounds_the_number_of_passages(seed_index: Index) -> None:
    for k in (1, 2, 8):
        result = answer_question(seed_index, "Alibaba Cloud revenue", k=k)
        assert len(result.hits) == k


@pytest.mark.parametrize(
    "question",
    [
        "Who is Jack Ma's wife?",  # the person is in the articles, the wife is not
        "How many employees does Tencent have?",  # Tencent is, its headcount is not
        "What year did Jack Ma retire?",  # no sentence with a year says so
    ],
)
def test_abstains_when_the_subject_is_known_but_the_fact_is_not(
    seed_index: Index, question: str
) -> None:
    result = answer_question(seed_index, question)
    assert result.answer is None, result.answer
    assert result.reason
    assert result.hits  # the closest articles are still listed


# --- the evidence an answer needs ---------------------------------------------------

GATES = [
    Document(
        "results",
        "Cloud results",
        (
            "In the second quarter of fiscal 2024, Nimbus Cloud's revenue was 27.6 billion yuan.",
            "Nimbus Cloud has 8000 employees in Hangzhou.",
            "Its founders pooled 500,000 and Nimbus was established in 1999.",
            "Chen Lu founded the Nimbus lab. The lab later moved to Shanghai.",
        ),
        "g1",
    ),
    Document("other", "Harbour news", ("The harbour reopened on Friday after the storm.",), "g2"),
]


@pytest.fixture(scope="module")
def gate_index() -> Index:
    return build_index(GATES)


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("What was Nimbus Cloud's revenue in the second quarter of fiscal 2024?", "27.6 billion"),
        ("nimbus cloud turnover q2 fy2024", "27.6 billion"),
        ("how many employees does nimbus cloud have", "8000 employees"),
        ("how many staff does nimbus cloud have", "8000 employees"),  # a word of like meaning
        ("how many nimbus staff work in hangzhou", "8000 employees"),  # a name, then the noun
        ("how much money did the founders pool", "500,000"),
        ("who founded the nimbus lab", "Chen Lu"),
        ("what's the headline of the nimbus article", "Cloud results"),
    ],
)
def test_a_sentence_with_the_kind_of_fact_asked_answers(
    gate_index: Index, question: str, fact: str
) -> None:
    result = answer_question(gate_index, question)
    assert result.answer is not None, result.reason
    assert fact in result.answer.text


def test_asked_who_wrote_it_the_credit_line_answers_wherever_it_stands() -> None:
    """A credit at the end of the article's last paragraph, far from the passages that
    match the question, still answers "who wrote ...?"."""
    talk = [
        "On May 4, at the Maker Festival in Hangzhou, Li Na, president of Nimbus Cloud, "
        "said the secret of the platform is its service culture."
    ]
    talk += [
        f"Li Na described the platform's culture number {n} at the Maker Festival, and how "
        "the team keeps its promises to the sellers and buyers who rely on it every day, "
        "in good years and bad ones, and what the company owes to the small shops."
        for n in range(2, 30)
    ]
    talk.append("Customers gave the team direction and strength. (Wang Fang)")
    document = Document("talk", "Li Na on Nimbus", tuple(talk), "g3", ("(Wang Fang)",))
    index = build_index([document, *GATES])
    result = answer_question(index, "Who wrote the report on Li Na's Maker Festival talk?")
    assert result.answer is not None, result.reason
    assert "Wang Fang" in result.answer.text
    # its passage is among the numbered sources, first
    assert result.answer_source() == 1
    assert "(Wang Fang)" in result.sources()[0].passage.text


@pytest.mark.parametrize(
    ("question", "credit"),
    [
        ("who edited the report on li na's talk?", "Li Wei"),
        ("who wrote the report on li na's talk?", "Wang Fang"),
        ("what publication is the li na on nimbus article from", "Harbour Daily"),
        ("which newspaper ran the story on li na's talk", "Harbour Daily"),
    ],
)
def test_asked_who_edited_the_editor_answers_and_asked_who_wrote_the_writer(
    question: str, credit: str
) -> None:
    talk = Document(
        "talk",
        "Li Na on Nimbus",
        (
            "Text | “Harbour Daily” reporter Wang Fang",
            "Editor|Li Wei",
            "On May 4, at the Maker Festival, Li Na, president of Nimbus Cloud, gave a talk.",
        ),
        "g8",
        ("Text | “Harbour Daily” reporter Wang Fang", "Editor|Li Wei"),
    )
    result = answer_question(build_index([talk, *GATES]), question)
    assert result.answer is not None, result.reason
    assert credit in result.answer.text


@pytest.mark.parametrize(
    "question",
    [
        "What was Nimbus Cloud's revenue in the first quarter of fiscal 2024?",  # other period
        "nimbus cloud revenue q3",
        "how many offices does nimbus cloud have",  # 8000 employees are not offices
        "how many nimbus offices are in hangzhou",
        "how much did the harbour repairs cost",  # no amount about the harbour
        "who is Chen Lu's wife?",  # the wife is never mentioned
        "chen lu's wife",  # the same, typed as keywords
        "nimbus founder birthday",  # no date for it
        "how much profit did nimbus cloud make in q2 fy2024",  # revenue is not profit
        "what was nimbus cloud's net profit in the second quarter of fiscal 2024",
        "what is nimbus cloud valued at",
        "nimbus cloud market value",
    ],
)
def test_the_subject_is_there_but_not_the_fact_so_it_abstains(
    gate_index: Index, question: str
) -> None:
    result = answer_question(gate_index, question)
    assert result.answer is None, result.answer
    assert result.reason


def test_an_alias_finds_the_name_the_articles_use(gate_index: Index) -> None:
    question = "How many employees does Cumulus have?"
    unknown = answer_question(gate_index, question)
    assert unknown.answer is None and "Cumulus" in unknown.reason
    synonyms = Synonyms((("Cumulus", "Nimbus Cloud"),))
    result = answer_question(gate_index, question, synonyms=synonyms)
    assert result.aliases == ["Nimbus Cloud"]
    assert result.answer is not None and "8000 employees" in result.answer.text


def test_an_alias_the_articles_never_use_is_not_searched(gate_index: Index) -> None:
    synonyms = Synonyms((("Nimbus Cloud", "Stratus Holdings"),))
    result = answer_question(
        gate_index, "how many engineers does nimbus cloud employ", synonyms=synonyms
    )
    assert result.aliases == []


@pytest.mark.parametrize(
    ("question", "sentence", "holds"),
    [
        (
            "age gap between chen lu and wang fang",
            "Chen Lu is 11 years younger than Wang Fang.",
            True,
        ),
        ("how old is chen lu", "Chen Lu was 21 years old then.", True),
        ("how old is chen lu", "Chen Lu worked there for 11 years.", False),
    ],
)
def test_an_age_or_a_difference_of_ages_answers_an_age_question(
    question: str, sentence: str, holds: bool
) -> None:
    test = _answer_test(question)
    assert test is not None
    assert test(sentence) is holds


def test_a_typed_fact_may_name_its_subject_earlier_in_the_paragraph() -> None:
    """ "Ma said ... I will ... In the next ten to twenty years, ...": the duration is
    Chen Lu's though its sentence, and the one before it, never name her; and "over
    what time span" asks for a duration, not a date."""
    talk = Document(
        "talk",
        "Harbour talk",
        (
            "Wang Fang runs the harbour lab in Ningbo.",
            "Recently, Chen Lu mentioned in a speech that she would start again in shipping. "
            "The real change lies in the docks. In the next ten to twenty years, automation "
            "will transform every harbour crane.",
        ),
        "g4",
    )
    index = build_index([talk, *GATES])
    question = "over what time span does chen lu expect automation to transform the cranes"
    result = answer_question(index, question)
    assert result.answer is not None, result.reason
    assert "ten to twenty years" in result.answer.text
    # asked of the person named in another paragraph, it does not answer
    other = answer_question(index, "over what time span does wang fang expect cranes to change")
    assert other.answer is None


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("where was wang fang born", "Ningbo"),
        ("wang fang hometown", "Ningbo"),
        ("where was chen lu born", None),  # she is named, her birthplace is not
        ("which city is chen lu originally from?", None),
    ],
)
def test_asked_where_someone_is_from_only_a_birthplace_answers(
    question: str, answer: str | None
) -> None:
    _check_two_founders(
        (
            "Chen Lu gave way to Wang Fang in the spring. Chen Lu moved to Shanghai.",
            "Wang Fang was born in Ningbo and studied in Hangzhou.",
        ),
        question,
        answer,
    )


def _check_two_founders(paragraphs: tuple[str, ...], question: str, answer: str | None) -> None:
    """Asked of an article about two people (among the gate articles), the answer holds
    answer, or there is none."""
    people = Document("bios", "Two founders", paragraphs, "g7")
    result = answer_question(build_index([people, *GATES]), question)
    if answer is None:
        assert result.answer is None, result.answer
    else:
        assert result.answer is not None, result.reason
        assert answer in result.answer.text


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("which university did wang fang attend", "Ningbo Institute of Technology"),
        ("where did wang fang study", "Ningbo Institute of Technology"),
        ("what colege did wang fang go to", "Ningbo Institute of Technology"),  # a typo
        ("which university did chen lu attend", None),  # she is named, her studies are not
        ("chen lu alma mater", None),
    ],
)
def test_asked_where_someone_studied_only_a_place_of_learning_answers(
    question: str, answer: str | None
) -> None:
    _check_two_founders(
        (
            "Chen Lu gave way to Wang Fang in the spring. Chen Lu moved to Shanghai to "
            "run the college recruitment drive.",
            "Wang Fang grew up in Ningbo and studied at Ningbo Institute of Technology.",
        ),
        question,
        answer,
    )


def test_where_a_thing_comes_from_is_not_a_birthplace_question() -> None:
    test = _answer_test("where does wu's nickname come from")
    assert test is None or test("It comes from a martial arts novel.")


@pytest.mark.parametrize(("year", "answered"), [("2001", True), ("2005", False)])
def test_the_period_asked_about_may_be_named_earlier_in_the_paragraph(
    year: str, answered: bool
) -> None:
    history = Document(
        "history",
        "How Stratus began",
        (
            "In March 2001, Chen Lu and five others met in a flat in Ningbo. Everyone took "
            "shares. In the end, they pooled 300,000, and Stratus was established.",
        ),
        "g6",
    )
    index = build_index([history, *GATES])
    result = answer_question(
        index, f"how much money did the founders pool to start stratus in {year}"
    )
    if answered:
        assert result.answer is not None, result.reason
        assert "300,000" in result.answer.text
    else:
        assert result.answer is None, result.answer


@pytest.mark.parametrize("question", ["li na job title", "what is li na's title?"])
def test_asked_for_a_post_the_sentence_naming_it_answers(question: str) -> None:
    """A sentence about the person that names no post does not answer "job title"."""
    people = Document(
        "people",
        "Nimbus people",
        (
            "Li Na says her job title matters less than the job: Li Na sells to "
            "governments and Li Na closes big orders.",
            "Nimbus Cloud Chief Commercial Officer Li Na left the company.",
        ),
        "g5",
    )
    result = answer_question(build_index([people, *GATES]), question)
    assert result.answer is not None, result.reason
    assert "Chief Commercial Officer" in result.answer.text


@pytest.mark.parametrize(
    ("question", "sentence", "holds"),
    [
        ("over what time span will the docks change", "In the next ten to twenty years.", True),
        ("over what period will the docks change", "Within three decades, they will.", True),
        ("over what time span will the docks change", "On May 4, 2023, they changed.", False),
        ("what time did the docks open", "On May 4, 2023, they opened.", True),
    ],
)
def test_a_time_span_is_a_duration_not_a_date(question: str, sentence: str, holds: bool) -> None:
    test = _answer_test(question)
    assert test is not None
    assert bool(test(sentence)) is holds


@pytest.mark.parametrize(
    ("question", "sentence", "holds"),
    [
        ("how much profit did nimbus make", "Nimbus made a net profit of 3 billion yuan.", True),
        ("how much profit did nimbus make", "Nimbus's revenue was 27.6 billion yuan.", False),
        ("what is nimbus valued at", "Nimbus was valued at 40 billion yuan.", True),
        ("nimbus market cap", "Its market value passed 40 billion dollars.", True),
        ("nimbus turnover", "Nimbus's sales were 9 billion yuan.", True),
        ("how much money did they pool", "In the end, they pooled 500,000.", True),
        ("what % stake did chen lu get", "Chen Lu took a 5% stake.", True),
        ("what % stake did chen lu get", "Chen Lu put in 500,000 yuan.", False),
        ("what's nimbus's market share", "Nimbus holds a 30% market share.", True),
        ("what's nimbus's market share", "Its revenue grew 2% on the year.", False),
        ("how much did each founder put in", "In the end, they pooled 500,000.", False),
        ("how much did each founder put in", "Each founder put in 20,000 yuan.", True),
    ],
)
def test_an_amount_answers_only_when_it_measures_what_is_asked(
    question: str, sentence: str, holds: bool
) -> None:
    test = _answer_test(question)
    assert test is not None
    assert bool(test(sentence)) is holds


@pytest.mark.parametrize(
    ("sentence", "holds"),
    [
        ("Nimbus Cloud Chief Officer Chen Lu said goodbye to Nimbus Cloud.", False),
        ("She studied at Ningbo University of Technology.", False),
        ("Wang Fang took over from Chen Lu.", True),
    ],
)
def test_asked_who_did_something_a_company_or_a_title_is_not_a_new_person(
    sentence: str, holds: bool
) -> None:
    test = _answer_test("who replaced chen lu as chief officer")
    assert test is not None
    assert bool(test(sentence)) is holds


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("when was stratus cloud set up", "May 4, 2001"),
        ("when did chen lu join stratus cloud", None),  # the date is the company's
        ("when did wang fang join stratus cloud", "June 2, 2010"),
    ],
)
def test_a_date_answers_of_the_person_asked_about_not_of_the_company(
    question: str, answer: str | None
) -> None:
    history = Document(
        "stratus",
        "Stratus history",
        (
            "Stratus Cloud was set up on May 4, 2001, in Ningbo.",
            "Chen Lu leads the sales team at Stratus Cloud.",
            "Wang Fang joined Stratus Cloud on June 2, 2010.",
        ),
        "g9",
    )
    result = answer_question(build_index([history, *GATES]), question)
    if answer is None:
        assert result.answer is None, result.answer
    else:
        assert result.answer is not None, result.reason
        assert answer in result.answer.text


@pytest.mark.parametrize("question", ["Who is Li Na?", "who is nina li"])  # by an alias
def test_who_is_someone_is_answered_with_their_post(question: str) -> None:
    people = Document(
        "moves",
        "Li Na moves on",
        (
            "Li Na gave way.",
            "Nimbus announced on May 4 that Li Na, the former president of Nimbus Cloud, "
            "would help set up its fund.",
        ),
        "g10",
    )
    synonyms, _ = Synonyms.parse("Nina Li, Li Na")
    result = answer_question(build_index([people, *GATES]), question, synonyms=synonyms)
    assert result.answer is not None, result.reason
    assert "former president" in result.answer.text


def test_a_question_on_another_subject_abstains_though_a_word_matches(seed_index: Index) -> None:
    # "reset" is in the articles ("turn over and reset to zero"), an iphone is not
    result = answer_question(seed_index, "how do i reset an iphone")
    assert result.answer is None
    assert result.reason == "The articles are not about this."


def test_a_question_naming_what_the_articles_name_is_about_them(seed_index: Index) -> None:
    # the model knows no "Fan Zhiming": no sentence comes near this question's meaning,
    # yet the articles name him, so they are not "not about this"
    result = answer_question(seed_index, "fan zhiming position")
    assert result.reason != "The articles are not about this."
    assert any("Fan Zhiming" in h.passage.text for h in result.hits)


@pytest.mark.parametrize("question", ["Who is Fan Zhiming?", "who is fan zhiming", "fan zhiming"])
def test_a_question_asking_only_of_a_name_is_answered_by_a_sentence_naming_it(
    seed_index: Index, question: str
) -> None:
    # the model knows no "Fan Zhiming" (cosine 0.14 to the sentence naming him): the
    # name is all that is asked, and the sentence says it
    result = answer_question(seed_index, question)
    assert result.answer is not None, result.reason
    assert "president Fan Zhiming" in result.answer.text


def test_asked_more_than_a_name_a_sentence_naming_it_still_has_to_mean_it(
    seed_index: Index,
) -> None:
    # "favourite" and "food" are asked too: naming Fan Zhiming is not enough
    assert answer_question(seed_index, "what is fan zhiming's favourite food").answer is None


def test_the_question_is_embedded_with_its_typos_corrected(seed_index: Index) -> None:
    synonyms, _ = Synonyms.parse("Trudy Dai, Dai Shan")
    reading = read_question(seed_index, "what does trudy dai see in taobao custmers", synonyms)
    assert reading.terms.corrections == {"custmers": "customers"}
    assert reading.embedded == "what does trudy dai see in taobao customers (Dai Shan)"
    # a misspelling of a word the articles never use is embedded as the word meant
    reading = read_question(seed_index, "what colege did wu yongming go to")
    assert reading.embedded == "what college did wu yongming go to"


def test_a_question_read_and_embedded_beforehand_gets_the_same_answer(seed_index: Index) -> None:
    """The bot embeds a question in its model thread, then answers it in a worker."""
    synonyms, _ = Synonyms.parse("Trudy Dai, Dai Shan")
    for question in ("Who is Trudy Dai?", "Where was Wu Yongming born?", "capital of France"):
        reading = read_question(seed_index, question, synonyms)
        given = answer_question(seed_index, reading, vector=embed_question(reading))
        assert given.to_json() == answer_question(seed_index, question, synonyms=synonyms).to_json()


def test_asked_where_an_article_was_published_its_credit_line_answers() -> None:
    """The article asked about is the one whose headline the question names, though a
    passage of another article matches its other words better."""
    port = Document(
        "port",
        "Harbour port expands",
        (
            "Text | \u201cHarbour Daily\u201d reporter Wang Fang",
            "The port added two berths this spring.",
        ),
        "g11",
        ("Text | \u201cHarbour Daily\u201d reporter Wang Fang",),
    )
    press = Document(
        "press",
        "Nimbus Cloud in the press",
        (
            "Which publication is the article on the harbour port from?",
            "The article is from a publication in the port.",
        ),
        "g12",
    )
    index = build_index([port, press, *GATES])
    result = answer_question(index, "what publication is the harbour port article from")
    assert result.answer is not None, result.reason
    assert "Harbour Daily" in result.answer.text


def test_asked_which_outlet_reported_an_event_the_text_answers_not_the_credit() -> None:
    port = Document(
        "port",
        "Harbour port expands",
        (
            "Text | \u201cHarbour Daily\u201d reporter Wang Fang",
            "Coast Radio reported on Friday that the port added two berths.",
        ),
        "g11",
        ("Text | \u201cHarbour Daily\u201d reporter Wang Fang",),
    )
    index = build_index([port, *GATES])
    result = answer_question(index, "which outlet reported that the port added berths")
    assert result.answer is not None, result.reason
    assert "Coast Radio" in result.answer.text


def test_a_count_of_the_company_is_not_one_of_its_unit_named_after_it() -> None:
    """ "Stratus Cloud" is a name (the articles write it so) though "cloud" alone is a
    common word there; Stratus's staff are not Stratus Cloud's, also by the alias."""
    group = Document(
        "stratus",
        "Stratus group",
        (
            "Strat has 9000 employees in Ningbo.",
            "Stratus Cloud sells public cloud and private cloud services.",
            "The public cloud market grew, and the private cloud market shrank.",
        ),
        "g13",
    )
    synonyms, _ = Synonyms.parse("Stratus, Strat")
    index = build_index([group, *GATES])
    result = answer_question(index, "how many employees does stratus cloud have", synonyms=synonyms)
    assert result.answer is None, result.answer
    result = answer_question(index, "how many employees does stratus have", synonyms=synonyms)
    assert result.answer is not None and "9000" in result.answer.text, result.reason


@pytest.mark.parametrize(
    "marked",
    [
        "@everyone who is Dai Shan?",
        "who is Dai Shan? <@123>",
        "<@!5> who is <@&9> Dai Shan? <#789> <:smile:123> <t:1700000000:R> @here",
    ],
)
def test_chat_markup_in_a_question_changes_nothing(seed_index: Index, marked: str) -> None:
    plain = answer_question(seed_index, "who is Dai Shan?")
    result = answer_question(seed_index, marked)
    assert read_question(seed_index, marked).text == "who is Dai Shan?"
    assert result.question == marked  # reported as asked
    assert plain.answer is not None and result.answer is not None
    assert result.answer.text == plain.answer.text


def test_a_question_of_chat_markup_alone_has_no_words(seed_index: Index) -> None:
    result = answer_question(seed_index, "<@123> @everyone")
    assert result.answer is None
    assert result.reason == "The question has no words to search for."


@pytest.mark.parametrize(
    ("question", "script"),
    [
        ("阿里巴巴的CEO是谁？", "Chinese characters"),  # "CEO" alone is not the question
        ("CEO是谁", "Chinese characters"),
        ("Кто такая Дай Шань?", "Cyrillic script"),
    ],
)
def test_a_question_mostly_in_a_script_the_articles_lack_says_so(
    seed_index: Index, question: str, script: str
) -> None:
    result = answer_question(seed_index, question)
    assert result.answer is None and result.hits == []
    assert result.reason.startswith(f"The question is mostly in {script},")
    assert "ask it in the articles' language" in result.reason


def test_a_name_in_another_script_is_known_by_its_alias_or_not_at_all(
    seed_index: Index, seeds_dir: Path
) -> None:
    # the bundled synonyms give the Chinese names of the people in the articles
    synonyms, _ = load_synonyms(seeds_dir / "synonyms.csv")
    known = answer_question(seed_index, "Who is 马云?", synonyms=synonyms)
    assert known.answer is not None and "Ma Yun" in known.answer.text
    # without them, 马云 is a name the articles never mention
    unknown = answer_question(seed_index, "what did 马云 say to the beijing staff")
    assert unknown.answer is None
    assert unknown.reason == "The articles never mention 马云."
    # and words of a script the articles use are never foreign
    assert seed_index.vocabulary.scripts == {"LATIN"}


@pytest.mark.parametrize("priced", [True, False])
def test_asked_what_a_price_is_only_an_amount_answers(priced: bool) -> None:
    sentences = ["Stratus's market value has passed Nimbus again, and Stratus is upbeat."]
    if priced:
        sentences.append("Stratus shares closed at a price of 12.5 dollars on Friday.")
    market = Document("market", "Stratus shares", (" ".join(sentences),), "m1")
    result = answer_question(build_index([market, *GATES]), "What is Stratus's stock price?")
    if priced:
        assert result.answer is not None, result.reason
        assert "12.5 dollars" in result.answer.text
    else:
        assert result.answer is None, result.answer


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        # a quantity of what the question names, not an amount of money
        ("how much bamboo does wang fang's panda eat", "40 kilograms"),
        ("how much younger is chen lu than wang fang", "11 years younger"),
        # money, when the question speaks of it
        ("how much did wang fang pay for the panda", None),
        ("how much money does the panda cost to keep", None),
    ],
)
def test_how_much_asks_for_money_only_when_the_question_speaks_of_it(
    question: str, answer: str | None
) -> None:
    _check_two_founders(
        (
            "Wang Fang keeps a panda in Ningbo. Every day the panda eats 40 kilograms of "
            "bamboo from the hills.",
            "Chen Lu, who is 11 years younger than Wang Fang, looks after the panda.",
        ),
        question,
        answer,
    )


def test_a_name_the_articles_never_mention_is_named_once_whole() -> None:
    index = build_index(GATES)
    result = answer_question(index, "Is Mei Mei older than Mei or Qiao Qiao?")
    assert result.answer is None
    assert result.reason == "The articles never mention Mei Mei, Mei, Qiao Qiao."
    assert answer_question(index, "Where does Mei live? Ask Mei.").reason == (
        "The articles never mention Mei."
    )


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("who is the ceo of stratus", "Wang Fang"),
        ("Who is Stratus's chief executive?", "Wang Fang"),  # the title written out
        # the title's organisation is only a news source here, and nobody's title is given
        ("Who is the CEO of Tencent?", None),
        ("who is the cto of stratus", None),
    ],
)
def test_asked_who_holds_a_title_a_sentence_gives_it_of_what_was_asked(
    question: str, answer: str | None
) -> None:
    _check_two_founders(
        (
            "Sources at Tencent Technology said that Chen Lu left the harbour project.",
            "Wang Fang, the CEO of Stratus, hired Chen Lu in the spring.",
        ),
        question,
        answer,
    )
