"""From ranked passages to an extractive answer, or an honest "not in these articles".

The answer is a verbatim extract of one passage (a sentence or a window of one, at most
``MAX_ANSWER_CHARS``, cut only between words). Sentences are scored by the idf-weighted
query terms they contain, the rank of their passage, and what the question asks for
(a date for "when", a number for "how many", a name for "who").

It abstains when the best passage does not cover the question: when the question names
something the articles never mention, or when the best passage holds fewer than half of
its terms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from retrieval.index import Hit, Index, QueryTerms
from retrieval.passages import split_sentences
from retrieval.text import stem, surface_words, tokenize

__all__ = ["MAX_ANSWER_CHARS", "Answer", "Result", "answer_question"]

MAX_ANSWER_CHARS = 400
MIN_COVERAGE = 0.5
CANDIDATE_HITS = 5


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    doc_id: str
    title: str


@dataclass(slots=True)
class Result:
    """The outcome of one question: an answer or None, and the passages behind it."""

    question: str
    answer: Answer | None
    hits: list[Hit]
    reason: str = ""  # why it abstained, for people
    corrections: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        """The ``ask --json`` contract object."""
        answer = self.answer
        return {
            "question": self.question,
            "answer": None
            if answer is None
            else {"text": answer.text, "doc_id": answer.doc_id, "title": answer.title},
            "passages": [
                {
                    "doc_id": h.passage.doc_id,
                    "title": h.passage.title,
                    "text": h.passage.text,
                    "score": round(float(h.score), 6),
                }
                for h in self.hits
            ],
        }


# --- what the question asks for -----------------------------------------------------

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"
_DATE = re.compile(
    rf"\b(?:1[89]\d\d|20\d\d)\b|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b|\b\d{{1,2}}(?:st|nd|rd|th)\b",
    re.IGNORECASE,
)
_NUMBER_WORDS = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty"
    r"|fifty|hundred|thousand|million|billion|dozen)s?"
)
_NUMBER = re.compile(rf"\d|\b{_NUMBER_WORDS}\b", re.IGNORECASE)
_HOW_MANY = re.compile(r"\bhow many\s+([^\W\d_]+)", re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b")
_UNIT = r"(?:years?|months?|weeks?|days?|hours?|minutes?|decades?)"

# Question patterns and the sentence patterns that answer them, most specific first.
_EXPECTS: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (
        re.compile(r"\bhow old\b|\bwhat age\b|\bat what age\b", re.I),
        re.compile(r"\b\d+\s*(?:-\s*)?years?(?:\s*-\s*|\s+)old\b|\baged?\s+\d+|\bage of \d+", re.I),
    ),
    (
        re.compile(r"\bhow long\b|\bfor how many (?:years|months|days)\b", re.I),
        re.compile(
            rf"\b(?:\d+|a|one|two|three|four|five|six|seven|eight|nine|ten)\s+{_UNIT}\b", re.I
        ),
    ),
    (
        re.compile(r"\bwhat (?:share|percentage|percent|proportion|rate)\b|\bhow fast\b", re.I),
        re.compile(r"\d(?:[.,]\d+)?\s*(?:%|percent\b|per cent\b)", re.I),
    ),
    (
        re.compile(r"\bhow (?:much|big|large)\b|\bwhat (?:amount|revenue|price|cost)\b", re.I),
        _NUMBER,
    ),
    (
        re.compile(
            r"^\W*when\b|\b(?:what|which) (?:year|date|day|month|time)\b|\bin what year\b", re.I
        ),
        _DATE,
    ),
    (re.compile(r"\bhow many\b|\bwhat number\b", re.I), _NUMBER),
]
_ASKS_PERSON = re.compile(r"^\W*(?:who|whom)\b|\bwhich (?:person|people|executive)\b", re.I)
# "Who is Dai Shan?", "What is Guofutong?", "Is e-commerce still ...?": the answer states
# something of the subject, so the subject is followed by a verb or an appositive.
_ASKS_IDENTITY = re.compile(r"^\W*(?:who|what)\s+(?:is|was|are|were)\s+(?P<subject>.+?)\W*$", re.I)
_ASKS_YES_NO = re.compile(
    r"^\W*(?:is|are|was|were|does|do|did|has|have|can|will|would|should)\s+"
    r"(?P<subject>[\w'’-]+(?:\s+[\w'’-]+)?)",
    re.I,
)
_PREDICATE = (
    r"(?:'s)?\s*(?:,\s*(?:the\s+|a\s+|an\s+)?\w|\s+(?:\w+ly\s+)?(?:is|was|are|were|has|have|had|"
    r"became|become|becomes|remains|remained|serves|served|refers|means|will)\b)"
)
_ASKS_AUTHOR = re.compile(
    r"\bwho (?:wrote|authored|reported|edited)\b|\b(?:author|reporter|byline|written by)\b", re.I
)


def _counts(noun: str) -> Callable[[str], bool]:
    """A test that a sentence puts a number right before noun ("8000 employees")."""
    wanted = stem(noun.casefold())

    def test(sentence: str) -> bool:
        words = re.findall(r"[\w%.,+'-]+", sentence)
        for i, word in enumerate(words):
            if _NUMBER.fullmatch(word[:1]) or re.fullmatch(_NUMBER_WORDS, word, re.I):
                following = words[i + 1 : i + 4]
                if any(stem(w.casefold().strip(".,")) == wanted for w in following):
                    return True
        return False

    return test


def _answer_test(question: str) -> Callable[[str], bool] | None:
    """For a question asking for a date, an age, a duration, a share, an amount or a
    count, a test that a sentence holds one; None for other questions."""
    if how_many := _HOW_MANY.search(question):
        return _counts(how_many.group(1))
    for asks, answers in _EXPECTS:
        if asks.search(question):
            return lambda sentence, answers=answers: bool(answers.search(sentence))
    return None


def _type_bonus(question: str) -> Callable[[str], float]:
    """Read the question once; return how well a sentence has the kind of thing it asks
    for (a date, a count, a statement about its subject, a person's name)."""
    test = _answer_test(question)
    if test is not None:
        return lambda sentence: 0.6 if test(sentence) else 0.0
    subjects: list[str] = []
    if identity := _ASKS_IDENTITY.match(question):
        subjects.append(identity.group("subject"))
    elif yes_no := _ASKS_YES_NO.match(question):
        words = yes_no.group("subject").split()
        subjects.extend(" ".join(words[:n]) for n in range(len(words), 0, -1))
    if subjects:
        patterns = [
            re.compile(rf"\b{re.escape(subject.strip())}{_PREDICATE}", re.I) for subject in subjects
        ]
        return lambda sentence: 0.5 if any(p.search(sentence) for p in patterns) else 0.0
    if _ASKS_PERSON.search(question):
        asked = {w.casefold() for w in re.findall(r"[A-Za-z]+", question)}

        def new_name(sentence: str) -> float:
            names = [n for n in _NAME.findall(sentence) if n.split()[0].casefold() not in asked]
            return 0.3 if names else 0.0

        return new_name
    return lambda sentence: 0.0


# --- extraction ---------------------------------------------------------------------


def _window(sentence: str, weights: dict[str, float], limit: int = MAX_ANSWER_CHARS) -> str:
    """The stretch of sentence of at most limit chars that holds the most query weight,
    cut between words."""
    if len(sentence) <= limit:
        return sentence
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", sentence)]
    gains = [sum(weights.get(t, 0.0) for t in tokenize(sentence[a:b])) for a, b in spans]
    best = (-1.0, 0, 0)
    right = 0
    total = 0.0
    for left in range(len(spans)):
        if right < left:
            right, total = left, 0.0
        while right < len(spans) and spans[right][1] - spans[left][0] <= limit:
            total += gains[right]
            right += 1
        if right == left:  # a single "word" longer than the limit
            return sentence[spans[left][0] : spans[left][0] + limit]
        if total > best[0]:
            best = (total, spans[left][0], spans[right - 1][1])
        total -= gains[left]
    return sentence[best[1] : best[2]]


def _byline_hit(index: Index, hit: Hit) -> Hit | None:
    """The passage holding the credit line of hit's article, if it has one."""
    doc = index.document(hit.passage.doc_id)
    if doc is None or not doc.bylines:
        return None
    for i in range(doc.first_passage, doc.first_passage + doc.passage_count):
        passage = hit.passage if i == hit.index else index.passage(i)
        if doc.bylines[0] in passage.text:
            return hit if i == hit.index else Hit(passage, 0.0, i)
    return None


class _Ranked(NamedTuple):
    score: float
    sentence: str
    hit: Hit
    fits: bool  # the sentence has what the question asks for, in an article naming its names


def _rerank(
    question: str,
    hits: list[Hit],
    weights: dict[str, float],
    bylines: frozenset[str],
    fits_article: Callable[[str], bool],
) -> list[_Ranked]:
    """Score every passage by its best sentence: idf-weighted query terms in the
    sentence (title terms count a little), the passage's retrieval score and rank, and
    whether the sentence holds what the question asks for. Fitting sentences first."""
    total_weight = sum(weights.values()) or 1.0
    top_score = hits[0].score or 1.0
    test = _answer_test(question)
    bonus = _type_bonus(question)
    ranked: list[_Ranked] = []
    for rank, hit in enumerate(hits):
        title_terms = set(tokenize(hit.passage.title))
        article_fits = fits_article(hit.passage.doc_id)
        best: _Ranked | None = None
        for sentence in split_sentences(hit.passage.text):
            terms = set(tokenize(sentence))
            overlap = sum(w for t, w in weights.items() if t in terms)
            overlap += 0.3 * sum(w for t, w in weights.items() if t in title_terms - terms)
            score = (
                overlap / total_weight
                + 0.3 * (hit.score / top_score)
                - 0.02 * rank
                + bonus(sentence)
            )
            if any(b in sentence for b in bylines):
                score += 1.0  # "who wrote it?" is answered by the credit line
            fits = article_fits and (test is None or test(sentence))
            candidate = _Ranked(score, sentence, hit, fits)
            if best is None or (fits, score) > (best.fits, best.score):
                best = candidate
        if best is not None:
            ranked.append(best)
    ranked.sort(key=lambda r: (not r.fits, -r.score, r.hit.index))
    return ranked


# --- abstention ---------------------------------------------------------------------

# Capitalised words that do not start the question (or a sentence in it): names.
_NAME_WORD = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][\w'’-]*)")


# "Jack Ma's wife": what the question is about is the thing after a possessive.
_POSSESSED = re.compile(r"(\b[\w-]+(?:['’]s|s['’])\s+([^\W\d_]+))")


def _unknown_names(question: str, terms: QueryTerms) -> list[str]:
    """Names in the question, and things it asks about by possessive ("X's wife"),
    that the articles never mention."""
    unknown = set(terms.unknown)
    names = []
    for match in _NAME_WORD.finditer(question.strip()):
        words = list(surface_words(match.group(1)))
        if words and all(w in unknown for w in words):
            names.append(match.group(1))
    for match in _POSSESSED.finditer(question):
        words = list(surface_words(match.group(2)))
        if words and all(w in unknown for w in words):
            names.append(match.group(1))
    return names


def _name_terms(question: str, terms: QueryTerms) -> set[str]:
    """Index terms of the names in the question, as corrected for typos."""
    found: set[str] = set()
    for match in _NAME_WORD.finditer(question.strip()):
        found.update(tokenize(match.group(1)))
    return found & set(terms.terms)


def answer_question(index: Index, question: str, *, k: int = CANDIDATE_HITS) -> Result:
    """Answer question from the index, or abstain with a reason."""
    terms = index.query_terms(question)
    if not terms.terms and not terms.unknown:
        return Result(question, None, [], "The question has no words to search for.")
    hits = index.search(terms, k=k)
    result = Result(question, None, hits, corrections=terms.corrections)
    if not hits:
        result.reason = "No article mentions these words."
        return result
    missing = _unknown_names(question, terms)
    if missing:
        result.reason = f"The articles never mention {', '.join(missing)}."
        return result
    distinct = set(terms.terms) | set(terms.unknown)
    weights = {t: index.idf(t) for t in set(terms.terms)}
    matched = distinct & index.passage_terms(hits[0].passage)
    coverage = len(matched) / len(distinct)
    if coverage < MIN_COVERAGE or (len(distinct) > 1 and len(matched) < 2):
        result.reason = "The closest passages do not cover the question."
        return result
    candidates = list(hits)
    bylines: frozenset[str] = frozenset()
    if _ASKS_AUTHOR.search(question):
        credit = _byline_hit(index, hits[0])
        if credit is not None:
            doc = index.document(credit.passage.doc_id)
            bylines = frozenset(doc.bylines if doc else ())
            if all(h.index != credit.index for h in hits):
                candidates.append(credit)
    names = _name_terms(question, terms)
    article_terms: dict[str, set[str]] = {}

    def names_article(doc_id: str) -> bool:
        """Whether the article mentions every name in the question."""
        if not names:
            return True
        if doc_id not in article_terms:
            article_terms[doc_id] = index.document_terms(doc_id)
        return names <= article_terms[doc_id]

    ranked = _rerank(question, candidates, weights, bylines, names_article)
    # Sources in the reranked order, each with the score it was ranked by.
    result.hits = [Hit(r.hit.passage, round(r.score, 6), r.hit.index) for r in ranked]
    if not ranked or not ranked[0].fits:
        result.reason = "The closest passages do not say what the question asks."
        return result
    best = ranked[0]
    result.answer = Answer(
        _window(best.sentence, weights), best.hit.passage.doc_id, best.hit.passage.title
    )
    return result
