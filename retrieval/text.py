"""Tokenization shared by documents and queries.

One tokenizer serves both sides so that a word in a question meets the same word in an
article: Unicode NFKC normalization, case folding, one apostrophe, possessives dropped,
hyphenated words joined ("spin-off" = "spinoff"), numbers kept whole ("27.648", "2003",
"1+6+N"), English stop words removed and Snowball stemming (PyStemmer).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache

import Stemmer

__all__ = [
    "STOP_WORDS",
    "analyze",
    "normalize",
    "script",
    "script_runs",
    "script_units",
    "stem",
    "surface_words",
    "tokenize",
]

# Apostrophe look-alikes folded to "'" (right/left single quote, modifier letter, prime,
# grave, acute, fullwidth).
_APOSTROPHES = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc\u2032\u0060\u00b4\uff07", "'"))
# Hyphens that join two word parts ("spin-off", "e‑commerce"); dashes between spaced words
# ("pattern – one generation") separate instead.
_JOIN_HYPHEN = re.compile(r"(?<=[^\W_])[-\u2010\u2011\u00ad](?=[^\W_])")
_TOKEN = re.compile(
    r"\d+(?:[.,]\d+)+"  # 27.648, 500,000
    r"|[^\W_]+(?:[+'][^\W_]+)*"  # words, 1+6+N, taobao's, don't
)
_DIGIT_GROUP = re.compile(r"^\d{1,3}(?:,\d{3})+$")

# A conventional English stop list (articles, pronouns, auxiliaries, prepositions, question
# words). Words that carry meaning in news text ("new", "first", "year") are kept.
STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your
    yours yourself yourselves s t d ll m o re ve y also may might must shall us via whose
    dont doesnt didnt isnt arent wasnt werent cant couldnt wont wouldnt shouldnt hasnt
    havent hadnt im ive id youre theyre weve lets thats
    """.split()
)

_stemmer = Stemmer.Stemmer("english")


def normalize(text: str) -> str:
    """NFKC-normalize, case-fold, unify apostrophes and join hyphenated words."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    return _JOIN_HYPHEN.sub("", text)


def _fold_word(raw: str) -> str:
    """Drop possessives and inner apostrophes; strip digit-group commas ("500,000")."""
    if "'" in raw:
        if raw.endswith("'s"):
            raw = raw[:-2]
        raw = raw.replace("'", "")
    if _DIGIT_GROUP.match(raw):
        raw = raw.replace(",", "")
    return raw


def surface_words(text: str) -> Iterator[str]:
    """Normalized words of text before stop-word removal and stemming."""
    for match in _TOKEN.finditer(normalize(text)):
        word = _fold_word(match.group())
        if word:
            yield word


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball (Porter2) stem of one normalized word; numbers and codes pass unchanged."""
    if not word.isalpha():
        return word
    return _stemmer.stemWord(word)


def analyze(text: str) -> list[tuple[str, str]]:
    """(surface word, index term) pairs of text, stop words removed, in order."""
    return [(word, stem(word)) for word in surface_words(text) if word not in STOP_WORDS]


def tokenize(text: str) -> list[str]:
    """Index terms of text: normalized, stop words removed, stemmed."""
    return [stem(word) for word in surface_words(text) if word not in STOP_WORDS]


# Scripts written without spaces between words: each character counts as a word.
_UNSPACED = frozenset({"CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR"})


def script(char: str) -> str:
    """The script of a letter as its Unicode name begins ("LATIN", "CJK", "CYRILLIC"),
    or "" for anything else."""
    if not char.isalpha():
        return ""
    return unicodedata.name(char, "").partition(" ")[0]


def script_runs(text: str) -> list[tuple[str, str]]:
    """Text's runs of letters of one script, each with its script, in order."""
    runs: list[tuple[str, str]] = []
    start, previous = 0, ""
    for n, char in enumerate([*text, " "]):
        current = script(char)
        if current != previous:
            if previous:
                runs.append((previous, text[start:n]))
            start, previous = n, current
    return runs


def script_units(text: str) -> Counter[str]:
    """How many words of text each script writes: a run of letters of one script is a
    word, and so is each character of a script written without spaces."""
    units: Counter[str] = Counter()
    for name, run in script_runs(text):
        units[name] += len(run) if name in _UNSPACED else 1
    return units
