"""Reading level of generated text: the Flesch-Kincaid grade level (FKGL).

``FKGL = 0.39 * words/sentences + 11.8 * syllables/words - 15.59``

Words and sentences are counted with ``textstat`` (``lexicon_count``, ``sentence_count``);
syllables with ``pyphen``'s en_US hyphenation dictionary (hyphenation points + 1), which is
how textstat counted them up to 0.7.3 and how current textstat still counts every word missing
from CMUdict. We do not call ``textstat.flesch_kincaid_grade`` itself: current textstat loads
NLTK's CMUdict and tries to *download* it at run time, which fails offline.

The figure paperbot reports is always computed from the text it shows (citation markers
removed), never taken from what a model claims about its own output.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from bot.errors import MissingExtraError
from bot.ground.verify import strip_markers

__all__ = ["AUDIENCE_GRADES", "fkgl", "syllables", "target_grade"]

#: Default target grade per audience (US school grades): plain-language guidance aims at
#: grade 8 for the general public; 12 is the end of high school; 16 a graduate reader.
AUDIENCE_GRADES: dict[str, float] = {"general": 8.0, "student": 12.0, "expert": 16.0}

_WORD = re.compile(r"[A-Za-z]+")


@functools.lru_cache(maxsize=1)
def _hyphenator() -> Any:
    try:
        import pyphen
    except ImportError as exc:  # pragma: no cover - comes with textstat
        raise MissingExtraError("pyphen", purpose="reading-level measurement") from exc
    return pyphen.Pyphen(lang="en_US")


def syllables(word: str) -> int:
    """Syllables of one word: pyphen hyphenation points + 1 (numbers and symbols count 1)."""
    letters = "".join(_WORD.findall(word.lower()))
    if not letters:
        return 1
    return len(_hyphenator().positions(letters)) + 1


def fkgl(text: str) -> float:
    """Flesch-Kincaid grade of ``text`` (``[n]`` markers ignored), 2 decimals; 0.0 if empty."""
    plain = " ".join(strip_markers(text or "").split())
    if not plain:
        return 0.0
    try:
        import textstat
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingExtraError("textstat", purpose="reading-level measurement") from exc
    words = [w for w in plain.split() if any(ch.isalnum() for ch in w)]
    n_words = max(1, int(textstat.lexicon_count(plain, removepunct=True)))
    n_sentences = max(1, int(textstat.sentence_count(plain)))
    n_syllables = sum(syllables(w) for w in words)
    grade = 0.39 * n_words / n_sentences + 11.8 * n_syllables / n_words - 15.59
    return round(grade, 2)


def target_grade(audience: str, grade: float | None = None) -> float:
    """``grade`` if given, else the audience's default target."""
    if grade is not None:
        return float(grade)
    return AUDIENCE_GRADES.get(audience, AUDIENCE_GRADES["general"])
