"""From a question's text to index terms: analysis and typo correction.

A word the index has never seen is replaced by the closest word it has (edit distance
1 for words up to six letters, 2 beyond; among equally close words, the one in more
passages), so "custmers" finds "customers". A word with no close match is kept as
unknown: answering uses that to say "the articles never mention ...".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from retrieval.text import analyze

__all__ = ["QueryTerms", "Vocabulary"]

# Words shorter than this are never corrected: short words have too many neighbours.
MIN_CORRECTED_LENGTH = 5
# Longest word corrected at edit distance 1; longer ones may be 2 edits away.
ONE_EDIT_LENGTH = 6


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """What a question turned into: index terms, typo corrections and unknown words."""

    terms: tuple[str, ...]  # index terms in query order, after corrections
    surfaces: tuple[str, ...]  # the words they came from (corrected spelling)
    corrections: dict[str, str]  # typed word -> corrected word
    unknown: tuple[str, ...]  # typed words the index has never seen, even corrected


class Vocabulary:
    """The words of an index: each surface word with its index term, and how many
    passages hold a term."""

    def __init__(self, surfaces: Mapping[str, str], doc_freq: Callable[[str], int]) -> None:
        self.surfaces = surfaces
        self._doc_freq = doc_freq
        self._choices: list[str] | None = None  # built on the first correction

    def correct(self, word: str) -> str | None:
        """The closest indexed word to an unknown one, or None."""
        if len(word) < MIN_CORRECTED_LENGTH or not word.isalpha():
            return None
        # imported here: most questions need no correction, and a one-shot `ask` would
        # pay some 30 ms for the import
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        if self._choices is None:
            self._choices = list(self.surfaces)
        max_distance = 1 if len(word) <= ONE_EDIT_LENGTH else 2
        matches = process.extract(
            word,
            self._choices,
            scorer=Levenshtein.distance,
            score_cutoff=max_distance,
            limit=10,
        )
        if not matches:
            return None
        # Closest first; among equally close words the one in more passages.
        best = min(matches, key=lambda m: (m[1], -self._doc_freq(self.surfaces[m[0]]), m[0]))
        return best[0]

    def read(self, question: str) -> QueryTerms:
        """Turn a question into index terms, correcting words the index has never seen."""
        terms: list[str] = []
        surfaces: list[str] = []
        corrections: dict[str, str] = {}
        unknown: list[str] = []
        for surface, term in analyze(question):
            if self._doc_freq(term) == 0:
                fixed = self.correct(surface)
                if fixed is None:
                    unknown.append(surface)
                else:
                    corrections[surface] = fixed
                    surface, term = fixed, self.surfaces[fixed]
            terms.append(term)
            surfaces.append(surface)
        return QueryTerms(tuple(terms), tuple(surfaces), corrections, tuple(unknown))
