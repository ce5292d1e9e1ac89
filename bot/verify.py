"""Citation verification: is this claim supported by that source sentence?

The score of a claim against a sentence combines
- embedding similarity (cosine of the two sentence embeddings), and
- lexical support: the share of the claim's content words (lightly stemmed) found in the sentence,
then applies two hard checks that embeddings are blind to:
- every number in the claim must occur in the sentence, and
- a negation in only one of the two halves the score.

``supported`` means ``score >= threshold``. The verifier also picks the sentence to quote: the
best-scoring sentence of the cited source.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bot.embeddings import Embedder

__all__ = ["Support", "Verifier", "content_words", "numbers_in", "strip_markers"]

_STOPWORDS = frozenset(
    """a an the and or but if then else of in on at to for from by with without within into onto
    over under about as is are was were be been being this that these those it its their there
    here we our us you your they them he she his her i me my which who whom whose what when where
    why how than such can could may might will would shall should do does did done has have had
    not no nor so also very more most less least much many some any each every all both either
    neither one two via using use used based show shows shown paper study work approach method
    new propose proposed present presents results result find found further however while thus
    therefore hence between among across through during per""".split()
)
_NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "none",
        "cannot",
        "neither",
        "nor",
        "without",
        "fails",
        "fail",
        "failed",
        "unable",
        "lack",
        "lacks",
    }
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]*|\d+(?:\.\d+)?")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:\s?%)?")
_MARKER = re.compile(r"\s*\[(?:\d+(?:\s*[,;-]\s*\d+)*)\]")


def strip_markers(text: str) -> str:
    """Remove ``[n]`` / ``[1, 2]`` citation markers."""
    return _MARKER.sub("", text).strip()


def _stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    words = (w.lower() for w in _WORD.findall(text))
    return {_stem(w) for w in words if w not in _STOPWORDS and len(w) > 1}


def numbers_in(text: str) -> set[str]:
    return {n.replace(",", "").replace(" ", "") for n in _NUMBER.findall(text)}


def _negated(text: str) -> bool:
    words = {w.lower() for w in _WORD.findall(text)}
    return bool(words & _NEGATIONS) or "n't" in text.lower()


@dataclass(frozen=True)
class Support:
    supported: bool
    index: int  # best sentence index in the given list, -1 if none
    score: float


class Verifier:
    """Scores claims against source sentences; see the module docstring for the rule."""

    def __init__(
        self,
        embedder: Embedder,
        threshold: float = 0.58,
        embed_weight: float = 0.5,
        cache_size: int = 4096,
    ) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.embed_weight = embed_weight
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vec in zip(missing, self.embedder.embed_documents(missing), strict=True):
                self._cache[text] = vec
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        for t in texts:
            self._cache.move_to_end(t)
        return np.asarray([self._cache[t] for t in texts], dtype=np.float32)

    def lexical(self, claim: str, sentence: str) -> float:
        words = content_words(claim)
        if not words:
            return 0.0
        return len(words & content_words(sentence)) / len(words)

    def scores(self, claim: str, sentences: Sequence[str]) -> np.ndarray:
        """Support score of ``claim`` against each sentence, in [0, 1]."""
        claim = strip_markers(claim)
        if not sentences or not claim:
            return np.zeros(len(sentences), dtype=np.float32)
        vecs = self._vectors([claim, *sentences])
        cosine = np.clip(vecs[1:] @ vecs[0], 0.0, 1.0)
        lexical = np.asarray([self.lexical(claim, s) for s in sentences], dtype=np.float32)
        score = self.embed_weight * cosine + (1.0 - self.embed_weight) * lexical
        claim_numbers = numbers_in(claim)
        claim_negated = _negated(claim)
        for i, sentence in enumerate(sentences):
            if claim_numbers and not claim_numbers <= numbers_in(sentence):
                score[i] *= 0.5
            if claim_negated != _negated(sentence):
                score[i] *= 0.8
        return score.astype(np.float32)

    def check(self, claim: str, sentences: Sequence[str]) -> Support:
        """Is ``claim`` supported by one of ``sentences``? Also which one is the best quote."""
        if not sentences:
            return Support(False, -1, 0.0)
        scores = self.scores(claim, sentences)
        best = int(np.argmax(scores))
        value = float(scores[best])
        return Support(value >= self.threshold, best, value)

    def relevance(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """How well each sentence answers ``question`` (embedding + lexical overlap)."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        vecs = self._vectors([question, *sentences])
        cosine = np.clip(vecs[1:] @ vecs[0], 0.0, 1.0)
        lexical = np.asarray([self.lexical(question, s) for s in sentences], dtype=np.float32)
        return (0.7 * cosine + 0.3 * lexical).astype(np.float32)
