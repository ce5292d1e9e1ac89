"""Citation verification: is this claim supported by that source sentence?

Every (claim, source sentence) pair is described by a few cheap features (see
:data:`FEATURES`):

- embedding similarity (cosine of the two sentence embeddings) and its gap to the best
  sentence of the same source;
- lexical support: the share of the claim's content words (lightly stemmed) and word pairs
  found in the sentence, and the reverse share;
- hard checks embeddings are blind to: numbers of the claim missing from the sentence, a
  negation on one side only, opposite directions ("increases" vs "reduces");
- where the sentence sits in the abstract and what it looks like (a "CONCLUSIONS" or
  "RESULTS" label, statistics), and word overlap weighted by how rare each word is among
  the abstract's sentences (topic words in every sentence say little).

Models over these features are trained on the SciFact train claims (``paperbot eval verifier
--fit``; stored in ``bot/verifier_model.json``, evaluated with numpy only):

- a *rationale* model (gradient-boosted trees): is this the sentence to quote for the claim?
- optionally a *support* model: does this sentence support the claim (not contradict it,
  not merely talk about the same thing)?

The shipped file has a rationale model only: in 5-fold cross-validation on SciFact a trained
support model was no more precise than the hand-weighted rule (half cosine, half lexical;
halved when a number of the claim is missing, x0.8 on a one-sided negation, x0.7 when claim
and sentence go in opposite directions, e.g. "increases" vs "reduces"), so ``scores``
returns that rule and :meth:`Verifier.check` calls a claim ``supported`` when its best score
reaches the threshold (``PAPERBOT_VERIFY_THRESHOLD``); among several supporting sentences it
quotes the one the rationale model prefers. :meth:`Verifier.rationale` picks the sentence(s)
to quote as evidence about a claim. Numbers and trade-offs: ``benchmarks/results/groundedness.md``.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bot.embeddings import Embedder

__all__ = [
    "DEFAULT_MODEL_PATH",
    "FEATURES",
    "LinearModel",
    "Support",
    "TreeModel",
    "Verifier",
    "VerifierModel",
    "content_words",
    "numbers_in",
    "strip_markers",
]

DEFAULT_MODEL_PATH = Path(__file__).with_name("verifier_model.json")

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
_UP = re.compile(
    r"\b(increas\w*|higher|elevat\w*|enhanc\w*|improv\w*|rais\w*|promot\w*|upregulat\w*|"
    r"up-regulat\w*|greater|gain\w*|augment\w*|activat\w*|induc\w*|stimulat\w*|more|exceed\w*|"
    r"accelerat\w*|boost\w*|outperform\w*|better|positive\w*)\b"
)
_DOWN = re.compile(
    r"\b(decreas\w*|reduc\w*|lower\w*|diminish\w*|declin\w*|inhibit\w*|suppress\w*|"
    r"downregulat\w*|down-regulat\w*|less|fewer|loss|los\w*|impair\w*|attenuat\w*|prevent\w*|"
    r"block\w*|slow\w*|worse|negative\w*|abolish\w*|deplet\w*)\b"
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]*|\d+(?:\.\d+)?")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:\s?%)?")
_MARKER = re.compile(r"\s*\[(?:\d+(?:\s*[,;-]\s*\d+)*)\]")
_STATISTICS = re.compile(r"\b[Pp]\s*[<=>]|\bCI\b|%|\bOR\b|\bHR\b|\bRR\b")
_SECTION = re.compile(
    r"^\s*(CONCLUSIONS?|INTERPRETATION|RESULTS?|FINDINGS|METHODS?|DESIGN|SETTING|BACKGROUND|"
    r"OBJECTIVES?|PURPOSE|INTRODUCTION|AIMS?)\b"
)
_SECTION_COLUMN = {
    "CONC": 27, "INTE": 27, "RESU": 28, "FIND": 28, "METH": 29, "DESI": 29, "SETT": 29,
    "BACK": 30, "OBJE": 30, "PURP": 30, "INTR": 30, "AIMS": 30, "AIM": 30,
}  # fmt: skip

FEATURES: tuple[str, ...] = (
    "cosine",
    "cosine_gap",
    "lexical",
    "lexical_gap",
    "lexical_reverse",
    "bigrams",
    "claim_numbers",
    "numbers_missing",
    "claim_negated",
    "negation_mismatch",
    "direction_mismatch",
    "position",
    "is_last",
    "is_first",
    "log_words",
    "cosine_x_lexical",
    "cosine_rank1",
    "lexical_rank1",
    "cosine_rank",
    "lexical_rank",
    "cosine_prev",
    "cosine_next",
    "log_sentences",
    "lexical_idf",
    "lexical_idf_gap",
    "has_digits",
    "has_statistics",
    "section_conclusion",
    "section_results",
    "section_methods",
    "section_background",
)


assert FEATURES.index("section_conclusion") == 27 and len(FEATURES) == 31


def strip_markers(text: str) -> str:
    """Remove ``[n]`` / ``[1, 2]`` citation markers."""
    return _MARKER.sub("", text).strip()


def _stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _content_list(text: str) -> list[str]:
    words = (w.lower() for w in _WORD.findall(text))
    return [_stem(w) for w in words if w not in _STOPWORDS and len(w) > 1]


def content_words(text: str) -> set[str]:
    return set(_content_list(text))


def numbers_in(text: str) -> set[str]:
    return {n.replace(",", "").replace(" ", "") for n in _NUMBER.findall(text)}


def _negated(text: str) -> bool:
    words = {w.lower() for w in _WORD.findall(text)}
    return bool(words & _NEGATIONS) or "n't" in text.lower()


def _direction(text: str) -> int:
    low = text.lower()
    return int(bool(_UP.search(low))) - int(bool(_DOWN.search(low)))


def _bigrams(words: list[str]) -> set[tuple[str, str]]:
    return set(pairwise(words))


@dataclass(frozen=True)
class Support:
    supported: bool
    index: int  # best sentence index in the given list, -1 if none
    score: float


@dataclass(frozen=True)
class LinearModel:
    """Standardise, then logistic regression: ``sigmoid(((x - mean) / scale) @ coef + b)``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "logistic",
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "coef": [round(float(v), 6) for v in self.coef],
            "intercept": round(float(self.intercept), 6),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearModel:
        return cls(
            np.asarray(data["mean"], dtype=np.float32),
            np.asarray(data["scale"], dtype=np.float32),
            np.asarray(data["coef"], dtype=np.float32),
            float(data["intercept"]),
        )


@dataclass(frozen=True)
class TreeModel:
    """Gradient-boosted trees (exported from scikit-learn's HistGradientBoostingClassifier):
    ``sigmoid(baseline + sum of the leaf values)``, each tree a flat node table."""

    baseline: float
    # per tree: feature, threshold, left, right, leaf flag, value (one row per node)
    trees: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        rows = np.arange(len(x))
        raw = np.full(len(x), self.baseline)
        for feature, threshold, left, right, leaf, value in self.trees:
            node = np.zeros(len(x), dtype=np.int64)
            while True:
                inner = ~leaf[node]
                if not inner.any():
                    break
                go_left = x[rows, feature[node]] <= threshold[node]
                node = np.where(inner, np.where(go_left, left[node], right[node]), node)
            raw += value[node]
        return (1.0 / (1.0 + np.exp(-np.clip(raw, -30, 30)))).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "trees",
            "baseline": round(self.baseline, 6),
            "trees": [
                {
                    "feature": f.tolist(),
                    "threshold": [round(float(v), 6) for v in t],
                    "left": left.tolist(),
                    "right": right.tolist(),
                    "leaf": [int(v) for v in leaf],
                    "value": [round(float(v), 6) for v in value],
                }
                for f, t, left, right, leaf, value in self.trees
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TreeModel:
        trees = tuple(
            (
                np.asarray(t["feature"], dtype=np.int64),
                np.asarray(t["threshold"], dtype=np.float64),
                np.asarray(t["left"], dtype=np.int64),
                np.asarray(t["right"], dtype=np.int64),
                np.asarray(t["leaf"], dtype=bool),
                np.asarray(t["value"], dtype=np.float64),
            )
            for t in data["trees"]
        )
        return cls(float(data["baseline"]), trees)


def _model_from_dict(data: dict[str, Any]) -> LinearModel | TreeModel:
    if data.get("kind") == "trees":
        return TreeModel.from_dict(data)
    return LinearModel.from_dict(data)


@dataclass(frozen=True)
class VerifierModel:
    """The two trained models plus the thresholds tuned with them."""

    rationale: LinearModel | TreeModel
    support: LinearModel | TreeModel | None  # None: the support score is the hand-weighted rule
    support_threshold: float
    rationale_threshold: float
    features: tuple[str, ...] = FEATURES
    meta: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "rationale": self.rationale.to_dict(),
            "support": self.support.to_dict() if self.support is not None else None,
            "support_threshold": round(self.support_threshold, 4),
            "rationale_threshold": round(self.rationale_threshold, 4),
            "meta": self.meta or {},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerifierModel:
        features = tuple(data["features"])
        if features != FEATURES:
            from bot.errors import ConfigError

            raise ConfigError(
                "the verifier model file was trained on other features; refit it with "
                "`paperbot eval verifier --fit`"
            )
        return cls(
            _model_from_dict(data["rationale"]),
            _model_from_dict(data["support"]) if data.get("support") else None,
            float(data["support_threshold"]),
            float(data["rationale_threshold"]),
            features,
            dict(data.get("meta") or {}),
        )

    @classmethod
    def load(cls, path: str | Path = DEFAULT_MODEL_PATH) -> VerifierModel:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def save(self, path: str | Path = DEFAULT_MODEL_PATH) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")


_MISSING = object()


@lru_cache(maxsize=1)
def _default_model() -> VerifierModel | None:
    """The shipped model (parsed once per process), or ``None`` if the file is absent."""
    return VerifierModel.load() if DEFAULT_MODEL_PATH.is_file() else None


class Verifier:
    """Scores claims against source sentences; see the module docstring for the rule.

    ``model``: a :class:`VerifierModel`, a path to one, or ``None`` for the hand-weighted rule;
    by default the model shipped in ``bot/verifier_model.json`` (the rule if it is absent).
    ``threshold`` applies to :meth:`scores` (the support probability with a model).
    """

    def __init__(
        self,
        embedder: Embedder,
        threshold: float = 0.58,
        embed_weight: float = 0.5,
        cache_size: int = 4096,
        model: VerifierModel | str | Path | object | None = _MISSING,
    ) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.embed_weight = embed_weight
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        if model is _MISSING:
            model = _default_model()
        elif isinstance(model, str | Path):
            model = VerifierModel.load(model)
        self.model: VerifierModel | None = model  # type: ignore[assignment]

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        found: dict[str, np.ndarray] = {}
        for t in dict.fromkeys(texts):
            if t in self._cache:
                self._cache.move_to_end(t)
                found[t] = self._cache[t]
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            for text, vec in zip(missing, self.embedder.embed_documents(missing), strict=True):
                found[text] = vec
                self._cache[text] = vec
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return np.asarray([found[t] for t in texts], dtype=np.float32)

    def lexical(self, claim: str, sentence: str) -> float:
        words = content_words(claim)
        if not words:
            return 0.0
        return len(words & content_words(sentence)) / len(words)

    def features(self, claim: str, sentences: Sequence[str]) -> np.ndarray:
        """The :data:`FEATURES` of ``claim`` against each sentence: shape (n, len(FEATURES))."""
        claim = strip_markers(claim)
        n = len(sentences)
        out = np.zeros((n, len(FEATURES)), dtype=np.float32)
        if not n or not claim:
            return out
        vecs = self._vectors([claim, *sentences])
        cosine = np.clip(vecs[1:] @ vecs[0], 0.0, 1.0)
        claim_list = _content_list(claim)
        claim_words = set(claim_list)
        claim_bigrams = _bigrams(claim_list)
        claim_numbers = numbers_in(claim)
        claim_negated = _negated(claim)
        claim_dir = _direction(claim)
        lexical = np.zeros(n, dtype=np.float32)
        lists = [_content_list(sentence) for sentence in sentences]
        word_sets = [set(w) for w in lists]
        # within-abstract inverse sentence frequency: words of every sentence (the topic)
        # say little about which sentence carries the claim
        freq: dict[str, int] = {}
        for words in word_sets:
            for w in words:
                freq[w] = freq.get(w, 0) + 1
        idf = {w: float(np.log((n + 1) / (freq.get(w, 0) + 0.5))) for w in claim_words}
        idf_total = sum(idf.values()) or 1.0
        for i, sentence in enumerate(sentences):
            s_list = lists[i]
            s_words = word_sets[i]
            common = len(claim_words & s_words)
            lexical[i] = common / len(claim_words) if claim_words else 0.0
            out[i, 4] = common / len(s_words) if s_words else 0.0
            out[i, 5] = (
                len(claim_bigrams & _bigrams(s_list)) / len(claim_bigrams) if claim_bigrams else 0.0
            )
            out[i, 7] = float(bool(claim_numbers) and not claim_numbers <= numbers_in(sentence))
            out[i, 9] = float(claim_negated != _negated(sentence))
            out[i, 10] = float(claim_dir * _direction(sentence) < 0)
            out[i, 14] = np.log1p(len(s_list))
            out[i, 23] = sum(idf[w] for w in claim_words & s_words) / idf_total
            out[i, 25] = float(any(ch.isdigit() for ch in sentence))
            out[i, 26] = float(bool(_STATISTICS.search(sentence)))
            section = _SECTION.match(sentence)
            if section:
                out[i, _SECTION_COLUMN[section.group(1)[:4]]] = 1.0
        out[:, 0] = cosine
        out[:, 1] = cosine - cosine.max()
        out[:, 2] = lexical
        out[:, 3] = lexical - lexical.max()
        out[:, 6] = float(bool(claim_numbers))
        out[:, 8] = float(claim_negated)
        out[:, 11] = np.arange(n) / max(n - 1, 1)
        out[n - 1, 12] = 1.0
        out[0, 13] = 1.0
        out[:, 15] = cosine * lexical
        out[int(np.argmax(cosine)), 16] = 1.0
        out[int(np.argmax(lexical)), 17] = 1.0
        out[:, 18] = np.argsort(np.argsort(-cosine, kind="stable"), kind="stable") / n
        out[:, 19] = np.argsort(np.argsort(-lexical, kind="stable"), kind="stable") / n
        out[1:, 20] = cosine[:-1]
        out[:-1, 21] = cosine[1:]
        out[:, 22] = np.log(n)
        out[:, 24] = out[:, 23] - out[:, 23].max()
        return out

    def _rule(self, feats: np.ndarray) -> np.ndarray:
        score = self.embed_weight * feats[:, 0] + (1.0 - self.embed_weight) * feats[:, 2]
        score = np.where(feats[:, 7] > 0, score * 0.5, score)
        score = np.where(feats[:, 9] > 0, score * 0.8, score)
        score = np.where(feats[:, 10] > 0, score * 0.7, score)
        return score.astype(np.float32)

    def scores(self, claim: str, sentences: Sequence[str]) -> np.ndarray:
        """Support score of ``claim`` against each sentence, in [0, 1]."""
        if not sentences or not strip_markers(claim):
            return np.zeros(len(sentences), dtype=np.float32)
        feats = self.features(claim, sentences)
        if self.model is None or self.model.support is None:
            return self._rule(feats)
        return self.model.support.predict(feats)

    def rationale_scores(self, claim: str, sentences: Sequence[str]) -> np.ndarray:
        """How likely each sentence is the one to quote for ``claim`` (supporting or not)."""
        if not sentences or not strip_markers(claim):
            return np.zeros(len(sentences), dtype=np.float32)
        feats = self.features(claim, sentences)
        if self.model is None:
            return self._rule(feats)
        return self.model.rationale.predict(feats)

    def rationale(self, claim: str, sentences: Sequence[str], max_sentences: int = 3) -> list[int]:
        """Indices of the sentences to quote as evidence about ``claim`` (best first; at least
        the best one, plus others the rationale model is confident about)."""
        scores = self.rationale_scores(claim, sentences)
        if not len(scores):
            return []
        order = [int(i) for i in np.argsort(-scores, kind="stable")]
        cut = self.model.rationale_threshold if self.model is not None else 1.01
        chosen = [order[0]] + [i for i in order[1:] if scores[i] >= cut]
        return chosen[:max_sentences]

    def check(self, claim: str, sentences: Sequence[str]) -> Support:
        """Is ``claim`` supported by one of ``sentences``? Also which one is the best quote."""
        if not sentences:
            return Support(False, -1, 0.0)
        scores = self.scores(claim, sentences)
        best = int(np.argmax(scores))
        passing = np.flatnonzero(scores >= self.threshold)
        if len(passing) > 1 and self.model is not None:
            # several sentences support the claim: quote the one the rationale model prefers
            rationale = self.rationale_scores(claim, sentences)
            best = int(passing[np.argmax(rationale[passing])])
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
