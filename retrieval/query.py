"""From a question's text to index terms: analysis and typo correction.

A word the index has never seen is replaced by the closest word it has (edit distance
1 for words up to six letters, 2 beyond; among equally close words, the one in more
passages), so "custmers" finds "customers". Only a word that is no word at all is
corrected so: one of the dictionary's (English words) is at most taken back to the
indexed word it inflects ("smaller" to "small", "known" to "know"), so "devices" does
not become "services", nor "writer" "writes"; a name of the synonym groups is kept as
typed. A word that is not corrected and is not in the index is unknown: answering uses
that to say "the articles never mention ...". An unknown word that is no English word
is spelled as the closest dictionary word, the most common of equally close ones
("colege" as "college", "runing" as "running", not "ruining"), for the embedding model
only: it reads a misspelling as word pieces of nothing.

Words are also met as the articles run them together or apart: two neighbouring words
whose joining the index holds are searched joined too ("project based" also finds
"project-based", indexed as one word; "Dai Shan" the headline's "Daishan"), and an
unknown word that is no English word and runs two indexed words together is searched
as those two ("sevenpart" as "seven part").

The dictionary is the English word-frequency list that the PyPI package ``symspellpy``
ships (82,765 words with their counts, from Google Books n-grams intersected with the
SCOWL word lists; MIT): only the file is read, none of the package's code runs.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from retrieval.text import analyze, script

__all__ = ["QueryTerms", "Vocabulary", "dictionary"]

log = logging.getLogger(__name__)

_WORDS_PACKAGE = "symspellpy"
_WORDS_FILE = "frequency_dictionary_en_82_765.txt"

# Words shorter than this are never corrected: short words have too many neighbours.
MIN_CORRECTED_LENGTH = 5
# A word run together from two ("projectbased") is split only into indexed words of at
# least this many letters: shorter ones split almost anything ("cargo" = "car" + "go").
MIN_PART_LENGTH = 4
# Longest word corrected at edit distance 1; longer ones may be 2 edits away.
ONE_EDIT_LENGTH = 6
# Endings that make a dictionary word an inflection of a shorter indexed word; longest
# first, so "smaller" is "small" + "er" before "smalle" + "r" is tried.
INFLECTIONS = ("ing", "est", "es", "ed", "er", "st", "s", "d", "r", "n")


@functools.lru_cache(maxsize=1)
def dictionary() -> dict[str, int]:
    """English words, lower case ("devices", "writer", "mindset", "college"), each with
    its rank from the most common; empty (with a warning) when the list is missing."""
    spec = importlib.util.find_spec(_WORDS_PACKAGE)
    try:
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"the package {_WORDS_PACKAGE!r} is not installed")
        path = Path(next(iter(spec.submodule_search_locations))) / _WORDS_FILE
        fields = path.read_text(encoding="utf-8").split()  # word count word count ...
        words = fields[0::2]
        counts = np.array(fields[1::2], dtype=np.int64)
    except (OSError, ValueError) as exc:
        log.warning("no dictionary for typo correction: %s", exc)
        return {}
    ranks: dict[str, int] = {}
    for i in np.argsort(-counts, kind="stable").tolist():
        if words[i].isalpha():
            ranks.setdefault(words[i], len(ranks))
    return ranks


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """What a question turned into: index terms, typo corrections and unknown words."""

    terms: tuple[str, ...]  # index terms in query order, after corrections
    surfaces: tuple[str, ...]  # the words they came from (corrected spelling)
    corrections: dict[str, str]  # typed word -> corrected word
    unknown: tuple[str, ...]  # typed words the index has never seen, even corrected
    # unknown words misspelled, with the dictionary word meant: not searched (the index
    # has not got it either), but the embedding model reads "college" where "colege"
    # would be word pieces of nothing
    spellings: dict[str, str] = field(default_factory=dict)


class Vocabulary:
    """The words of an index: each surface word with its index term, and how many
    passages hold a term."""

    def __init__(
        self,
        surfaces: Mapping[str, str],
        doc_freq: Callable[[str], int],
        dictionary: Callable[[], Mapping[str, int]] = dict,
    ) -> None:
        self.surfaces = surfaces
        self._doc_freq = doc_freq
        self._dictionary = dictionary  # called on the first correction
        self._choices: list[str] | None = None  # built on the first correction

    def correct(self, word: str, names: Collection[str] = ()) -> str | None:
        """The closest indexed word to an unknown one, or None: also when it is a word
        of the dictionary or of names (lower case), spelled right."""
        if len(word) < MIN_CORRECTED_LENGTH or not word.isalpha():
            return None
        word = word.casefold()
        if word in names:
            return None
        if word in self._dictionary():
            return self._uninflected(word)
        if self._choices is None:
            self._choices = list(self.surfaces)
        matches = _closest(word, self._choices)
        if not matches:
            return None
        # Closest first; among equally close words the one in more passages.
        best = min(matches, key=lambda m: (m[1], -self._doc_freq(self.surfaces[m[0]]), m[0]))
        return best[0]

    @cached_property
    def scripts(self) -> frozenset[str]:
        """The scripts the index's words are written in (looked up once per distinct
        character: a large vocabulary has a few dozen)."""
        chars: set[str] = set()
        for word in self.surfaces:
            chars.update(word)
        return frozenset(map(script, chars)) - {""}

    @cached_property
    def _words(self) -> list[str]:
        return list(self._dictionary())

    def spell(self, word: str, names: Collection[str] = ()) -> str | None:
        """The dictionary word closest to a word that is none (and no name), or None;
        among equally close words the most common."""
        word = word.casefold()
        if len(word) < MIN_CORRECTED_LENGTH or not word.isalpha() or word in names:
            return None
        ranks = self._dictionary()
        if word in ranks:
            return None
        matches = _closest(word, self._words)
        if not matches:
            return None
        return min(matches, key=lambda m: (m[1], ranks[m[0]]))[0]

    def _split(self, word: str) -> tuple[str, str] | None:
        """Two indexed words that an unindexed word runs together, or None (also for an
        English word: "mindset" is not "mind set")."""
        if not word.isalpha() or word in self._dictionary():
            return None
        for cut in range(MIN_PART_LENGTH, len(word) - MIN_PART_LENGTH + 1):
            first, second = word[:cut], word[cut:]
            if first in self.surfaces and second in self.surfaces:
                return first, second
        return None

    def _uninflected(self, word: str) -> str | None:
        """The indexed word that a dictionary word inflects, or None."""
        for ending in INFLECTIONS:
            base = word.removesuffix(ending)
            if base != word and len(base) >= MIN_CORRECTED_LENGTH - 1 and base in self.surfaces:
                return base
        return None

    def read(self, question: str, names: Collection[str] = ()) -> QueryTerms:
        """Turn a question into index terms, correcting words the index has never seen
        (but not the words of names, lower case)."""
        terms: list[str] = []
        surfaces: list[str] = []
        corrections: dict[str, str] = {}
        spellings: dict[str, str] = {}
        unknown: list[str] = []
        for surface, term in analyze(question):
            if self._doc_freq(term) == 0:
                fixed = self.correct(surface, names)
                if fixed is None and (parts := self._split(surface)):
                    # "projectbased" typed where the articles write "project based"
                    for part in parts:
                        terms.append(self.surfaces[part])
                        surfaces.append(part)
                    continue
                if fixed is None:
                    unknown.append(surface)
                    if spelled := self.spell(surface, names):
                        spellings[surface] = spelled
                else:
                    corrections[surface] = fixed
                    surface, term = fixed, self.surfaces[fixed]
            terms.append(term)
            surfaces.append(surface)
        # "project based" typed where the articles write "project-based" (indexed as
        # one word): the joined word is searched too
        for first, second in itertools.pairwise(list(surfaces)):
            joined = first + second
            if joined in self.surfaces and joined not in surfaces:
                terms.append(self.surfaces[joined])
                surfaces.append(joined)
        return QueryTerms(tuple(terms), tuple(surfaces), corrections, tuple(unknown), spellings)


def _closest(word: str, choices: list[str]) -> list[tuple[str, float, int]]:
    """The choices within the edit distance allowed for word's length (1 for words up
    to ONE_EDIT_LENGTH letters, else 2), with their distances."""
    # imported here: most questions need no correction, and a one-shot `ask` would
    # pay some 30 ms for the import
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    max_distance = 1 if len(word) <= ONE_EDIT_LENGTH else 2
    return process.extract(
        word, choices, scorer=Levenshtein.distance, score_cutoff=max_distance, limit=10
    )
