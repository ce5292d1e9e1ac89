"""Which source sentence answers the question? A small trained question-sentence scorer.

The extractive answer (:func:`bot.generate.answer.extractive_answer`) quotes the sentences this
scores highest. Topic similarity alone (the verifier's ``relevance``) prefers motivation
sentences that share the question's words ("Diffusion models have become ...") over the
sentence that answers it, and sentences that cannot stand alone ("First, they can ...").
The scorer adds what a reader looks for, as cheap features of a (question, sentence) pair
within its abstract (:data:`FEATURES`):

- meaning and words: MiniLM cosine, its rank and gap to the best sentence of the same paper,
  the share of the question's content words in the sentence, weighted by rarity;
- not where it sits, on purpose: in PubMedQA the answer is the end of the abstract and the
  first sentence is background, so a scorer trained on that learns "quote the end, never the
  start", while a machine-learning abstract often opens with its answer ("We propose that
  grokking ...") and ends with "Code is available at ...";
- what it does: reports a finding ("we find", "results show", numbers), states an aim or
  background ("To examine whether", "Recently", "However, ... remains"), starts by pointing
  back ("This", "They", "First,"), matches what the question asks for (a dataset, a method,
  a number, a reason);

A logistic regression over these (``bot/ground/sentence_scorer.json``, evaluated with numpy only) is
trained by ``benchmarks/train_sentence_scorer.py`` on SciFact train (claim -> rationale
sentences) and a training split of PubMedQA (question -> the abstract's conclusion
sentences); the rest of PubMedQA and ``data/questions.jsonl`` are held out
(``benchmarks/results/extractive_quality.md``). Query-time cost: the features reuse the
sentence vectors the verifier already computed for abstention; the model is a dot product.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.ground.contrast import is_aim
from bot.ground.verify import LinearModel, content_words

__all__ = [
    "DEFAULT_SCORER_PATH",
    "FEATURES",
    "REFERS_BACK",
    "Candidate",
    "SentenceScorer",
    "asks_match",
    "features",
    "refers_back",
]

DEFAULT_SCORER_PATH = Path(__file__).with_name("sentence_scorer.json")

FEATURES: tuple[str, ...] = (
    "cosine",
    "cosine_gap",
    "cosine_rank",
    "lexical",
    "lexical_idf",
    "log_words",
    "finding",
    "aim",
    "background",
    "refers_back",
    "asks_match",
    "has_number",
)

# A sentence that leans on the one before it (this/they/these/first/however ...).
REFERS_BACK = re.compile(
    # "This paper / In this work ..." names the paper itself: that stands alone
    r"^\W*(?!(?:in )?(?:this|the present) (?:paper|work|study|article|book|thesis|letter|note|"
    r"review|manuscript|survey|chapter|report)\b)"
    r"(?:this|that|these|those|they|them|their|it|its|such|here|there|then|thus|hence|"
    r"therefore|however|moreover|furthermore|additionally|also|besides|meanwhile|"
    r"nevertheless|nonetheless|consequently|accordingly|instead|similarly|likewise|"
    r"first(?:ly)?|second(?:ly)?|third(?:ly)?|finally|lastly|next|in (?:this|these|that|"
    r"addition|contrast|particular|turn)|to this end|on the other hand|as a result|"
    r"for (?:example|instance)|in summary|overall|both|each|the former|the latter|"
    r"the (?:same|above|proposed|resulting))\b",
    re.IGNORECASE,
)
_FINDING = re.compile(
    r"\b(?:we (?:find|found|show|showed|demonstrate|observe|prove|report|conclude)|"
    r"results? (?:show|indicate|suggest|demonstrate|reveal)|(?:is|are|was|were) "
    r"(?:associated|correlated|higher|lower|significant)|outperform|achiev|improv|"
    r"significantly|conclu|reveal|leads? to|reduc|increas)",
    re.IGNORECASE,
)
_BACKGROUND = re.compile(
    r"^\W*(?:recent(?:ly)?|in recent years|over the past|despite|although|while|traditionally|"
    r"historically|current|existing|many|most|a (?:key|major|fundamental|central)|"
    r"(?:[a-z\-]+ )?(?:models?|methods?|approaches|networks?) (?:have|has) (?:become|been|"
    r"emerged|shown|achieved))|\b(?:remains? (?:an? )?(?:open|unclear|challenging|"
    r"difficult|unknown|poorly)|little is known|is (?:poorly )?understood|has attracted)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d")
# What a question asks for, and words of a sentence that supply it.
_ASKS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (
        re.compile(r"\b(?:datasets?|benchmarks?|corpus|corpora|data)\b", re.I),
        re.compile(
            r"\b(?:datasets?|benchmarks?|corpus|corpora|CIFAR|ImageNet|MNIST|FFHQ|COCO|"
            r"[A-Z][A-Za-z]*-\d+|trained on|evaluated on|experiments on)\b"
        ),
    ),
    (
        re.compile(r"^\W*how\b(?! (?:many|much|often|large|long))|\bmethod|\bapproach", re.I),
        re.compile(
            r"\b(?:by|via|using|through|we (?:propose|introduce|present|develop|use)|"
            r"based on|consists?|framework)\b",
            re.I,
        ),
    ),
    (
        re.compile(r"\bhow (?:many|much|often|large|long)|\bwhat (?:percentage|fraction)", re.I),
        re.compile(r"\d"),
    ),
    (
        re.compile(r"^\W*why\b|\bwhat (?:causes|explains|drives)|\breason", re.I),
        re.compile(r"\b(?:because|due to|since|caus|explain|arises?|driven|leads? to)", re.I),
    ),
    (
        re.compile(r"\b(?:compare|versus|vs\.?|better|outperform|baselines?)\b", re.I),
        re.compile(r"\b(?:outperform|compared|than|baselines?|versus|state-of-the-art)", re.I),
    ),
)


def refers_back(sentence: str) -> bool:
    """Does ``sentence`` start by pointing at what came before ("This", "They", "First,")?"""
    return bool(REFERS_BACK.match(sentence))


def asks_match(question: str, sentence: str) -> float:
    """1 when the question asks for a kind of thing (a dataset, a number, a method, a reason,
    a comparison) and the sentence supplies it, -1 when it does not, 0 for other questions."""
    for asks, supplies in _ASKS:
        if asks.search(question):
            return 1.0 if supplies.search(sentence) else -1.0
    return 0.0


@dataclass
class Candidate:
    """One source sentence to score: its text and its place in its paper."""

    text: str
    paper: str  # paper key (sentences of one paper are ranked among themselves)
    index: int
    n_in_paper: int


def features(question: str, candidates: Sequence[Candidate], cosines: np.ndarray) -> np.ndarray:
    """The :data:`FEATURES` of each candidate: shape (n, len(FEATURES))."""
    n = len(candidates)
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if not n:
        return out
    q_words = content_words(question)
    sent_words = [content_words(c.text) for c in candidates]
    df: dict[str, int] = {}
    for words in sent_words:
        for w in words:
            df[w] = df.get(w, 0) + 1
    idf = {w: math.log(1 + n / df.get(w, 0.5)) for w in q_words}
    idf_total = sum(idf.values()) or 1.0
    best_in_paper: dict[str, float] = {}
    for c, cos in zip(candidates, cosines, strict=True):
        best_in_paper[c.paper] = max(best_in_paper.get(c.paper, -1.0), float(cos))
    ranks: dict[str, list[float]] = {}
    for c, cos in zip(candidates, cosines, strict=True):
        ranks.setdefault(c.paper, []).append(float(cos))
    for i, (c, words) in enumerate(zip(candidates, sent_words, strict=True)):
        cos = float(cosines[i])
        shared = q_words & words
        peers = ranks[c.paper]
        out[i] = (
            cos,
            cos - best_in_paper[c.paper],
            sum(1 for v in peers if v > cos) / max(1, len(peers)),
            len(shared) / len(q_words) if q_words else 0.0,
            sum(idf[w] for w in shared) / idf_total,
            math.log(1 + len(c.text.split())),
            float(bool(_FINDING.search(c.text))),
            float(is_aim(c.text)),
            float(bool(_BACKGROUND.search(c.text))),
            float(refers_back(c.text)),
            asks_match(question, c.text),
            float(bool(_NUMBER.search(c.text))),
        )
    return out


class SentenceScorer:
    """Scores (question, sentence) pairs: higher = more likely to answer the question.

    ``model``: a :class:`bot.ground.verify.LinearModel` over :data:`FEATURES`, or a path to the JSON
    file :meth:`save` writes (default ``bot/ground/sentence_scorer.json``)."""

    def __init__(self, model: LinearModel | str | Path | None = None) -> None:
        if model is None or isinstance(model, str | Path):
            model, self.meta = _load(str(model or DEFAULT_SCORER_PATH))
        else:
            self.meta = {}
        self.model: LinearModel = model

    def score(
        self,
        question: str,
        candidates: Sequence[Candidate],
        embed: Callable[[list[str]], np.ndarray],
    ) -> np.ndarray:
        """Scores in [0, 1] for ``candidates``; ``embed`` returns unit vectors for texts
        (question first), e.g. the verifier's cached embeddings."""
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        vectors = np.asarray(embed([question, *(c.text for c in candidates)]), dtype=np.float32)
        cosines = np.clip(vectors[1:] @ vectors[0], -1.0, 1.0)
        return self.model.predict(features(question, candidates, cosines))

    def save(self, path: str | Path, **meta: object) -> None:
        data = {"features": list(FEATURES), "model": self.model.to_dict(), **meta}
        Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[LinearModel, dict[str, object]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if list(data.get("features", [])) != list(FEATURES):
        raise ValueError(f"{path}: trained on other features; retrain the sentence scorer")
    meta = {k: v for k, v in data.items() if k not in ("features", "model")}
    return LinearModel.from_dict(data["model"]), meta
