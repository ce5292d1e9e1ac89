"""Citation-verifier evaluation on SciFact-style claims (``paperbot eval verifier``).

Input: ``claims_train.jsonl`` in the allenai layout (``claim``, ``cited_doc_ids``, ``evidence``
``{doc_id: [{"sentences": [...], "label": "SUPPORT" | "CONTRADICT"}]}``) and the BEIR
``corpus.jsonl`` beside it (``_id``, ``title``, ``text``). Each (claim, cited abstract) is one
*pair*: SUPPORT, CONTRADICT, or NEI (cited but no evidence: "not enough info"). Abstracts are
split with paperbot's own splitter (:func:`bot.text.sentences.split_sentences`), as in the product;
on SciFact it reproduces the gold sentence numbering closely but not exactly (a gold index past
the end of our split counts as a miss).

Two measurements:

- **rationale selection**, on the pairs with gold evidence (SUPPORT + CONTRADICT): the
  sentences :meth:`Verifier.rationale` would quote versus the union of the gold rationale
  sentences; micro precision / recall / F1 over sentences.
- **support decision**, on all pairs: :meth:`Verifier.check` says "supported" - positive class
  SUPPORT, negative CONTRADICT + NEI. Precision matters most: a contradicted claim shown as
  supported is the worst error.

:func:`fit_verifier_model` trains the rationale model of :class:`bot.ground.verify.VerifierModel`
(gradient-boosted trees, or logistic regression in plain numpy) and tunes the support threshold
for precision on the training pairs; :func:`cross_validate` reports k folds split by claim, each
with its model refit and its threshold re-tuned on the other folds.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from bot.errors import InputError, MissingExtraError
from bot.ground.verify import FEATURES, LinearModel, TreeModel, Verifier, VerifierModel
from bot.text.sentences import split_sentences

if TYPE_CHECKING:
    from bot.index.embeddings import Embedder

__all__ = [
    "PRF",
    "CachedEmbedder",
    "ClaimPair",
    "CrossValidation",
    "VerifierReport",
    "cross_validate",
    "evaluate_verifier",
    "fit_verifier_model",
    "load_scifact",
]

Label = Literal["SUPPORT", "CONTRADICT", "NEI"]

# the support threshold is tuned for this precision on the training claims: a margin over
# the 0.90 wanted on unseen claims (held-out precision runs a few points below in-sample)
PRECISION_TARGET = 0.95
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ClaimPair:
    claim_id: int
    claim: str
    doc_id: str
    sentences: tuple[str, ...]
    label: Label
    rationale: frozenset[int]


@dataclass
class PRF:
    tp: int = 0
    predicted: int = 0
    gold: int = 0

    @property
    def p(self) -> float:
        return self.tp / self.predicted if self.predicted else 0.0

    @property
    def r(self) -> float:
        return self.tp / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.p, self.r
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, float]:
        return {"p": round(self.p, 4), "r": round(self.r, 4), "f1": round(self.f1, 4)}


@dataclass
class VerifierReport:
    rationale: PRF
    support: PRF
    pairs: int
    evidence_pairs: int
    labels: dict[str, int]
    threshold: float
    model: str
    # supported predictions broken down by gold label (CONTRADICT ones are the worst error)
    supported_by_label: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rationale": self.rationale.to_dict(),
            "support": self.support.to_dict(),
            "pairs": self.pairs,
            "evidence_pairs": self.evidence_pairs,
            "labels": dict(self.labels),
            "supported_by_label": dict(self.supported_by_label),
            "threshold": round(self.threshold, 4),
            "model": self.model,
        }


@dataclass
class CrossValidation:
    folds: list[VerifierReport]
    seed: int

    def mean(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for part in ("rationale", "support"):
            out[part] = {
                key: round(float(np.mean([getattr(getattr(f, part), key) for f in self.folds])), 4)
                for key in ("p", "r", "f1")
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "folds": [f.to_dict() for f in self.folds],
            "mean": self.mean(),
            "seed": self.seed,
        }


# --- data -------------------------------------------------------------------------------


def load_scifact(
    claims_path: str | Path, corpus_path: str | Path | None = None, limit: int | None = None
) -> list[ClaimPair]:
    """Pairs of (claim, cited abstract) with labels and gold rationale indices."""
    claims_path = Path(claims_path)
    corpus_path = Path(corpus_path) if corpus_path else claims_path.parent / "corpus.jsonl"
    for path, what in ((claims_path, "claims"), (corpus_path, "corpus")):
        if not path.is_file():
            raise InputError(f"SciFact {what} file not found: {path}")
    claims: list[dict[str, Any]] = []
    with claims_path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                claims.append(
                    {
                        "id": int(record["id"]),
                        "claim": str(record["claim"]),
                        "docs": [str(d) for d in record.get("cited_doc_ids") or []],
                        "evidence": dict(record.get("evidence") or {}),
                    }
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{claims_path}:{line_no}: not a SciFact claim ({exc})") from exc
            if limit is not None and len(claims) >= limit:
                break
    wanted = {d for c in claims for d in c["docs"]}
    abstracts: dict[str, tuple[str, ...]] = {}
    with corpus_path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            doc = json.loads(line)
            doc_id = str(doc.get("_id", doc.get("doc_id", "")))
            if doc_id in wanted:
                text = doc.get("text") or doc.get("abstract") or ""
                if isinstance(text, list):  # allenai layout: already a list of sentences
                    abstracts[doc_id] = tuple(str(s).strip() for s in text)
                else:
                    abstracts[doc_id] = tuple(s.text for s in split_sentences(str(text)))
    pairs: list[ClaimPair] = []
    for c in claims:
        for doc_id in c["docs"]:
            if doc_id not in abstracts or not abstracts[doc_id]:
                continue
            evidence = c["evidence"].get(doc_id) or []
            label: Label = "NEI"
            gold: set[int] = set()
            if evidence:
                label = "SUPPORT" if evidence[0].get("label") == "SUPPORT" else "CONTRADICT"
                gold = {int(i) for e in evidence for i in e.get("sentences", [])}
            pairs.append(
                ClaimPair(c["id"], c["claim"], doc_id, abstracts[doc_id], label, frozenset(gold))
            )
    if not pairs:
        raise InputError(f"no claim of {claims_path} cites an abstract found in {corpus_path}")
    return pairs


class CachedEmbedder:
    """Wraps an embedder with an on-disk cache (``.npz``), for repeated evaluation runs; token
    vectors (:meth:`embed_tokens`) go to a second file beside it (``*.tokens.npz``)."""

    def __init__(self, embedder: Embedder, path: str | Path) -> None:
        self.embedder = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.path = Path(path)
        self.tokens_path = self.path.with_name(self.path.stem + ".tokens.npz")
        self._vectors: dict[str, np.ndarray] = {}
        self._tokens: dict[str, np.ndarray] = {}
        self._dirty = False
        self._tokens_dirty = False
        if not callable(getattr(embedder, "embed_tokens", None)):
            self.embed_tokens = None  # type: ignore[assignment,method-assign]  # none to cache
        if self.path.is_file():
            data = np.load(self.path)
            self._vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        if self.tokens_path.is_file():
            data = np.load(self.tokens_path)
            ends = np.cumsum(data["lengths"])
            flat = data["vectors"]
            for key, end, n in zip(data["keys"].tolist(), ends, data["lengths"], strict=True):
                self._tokens[key] = flat[end - n : end].astype(np.float32)

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        missing = [
            t for t, k in dict(zip(texts, keys, strict=True)).items() if k not in self._vectors
        ]
        if missing:
            for text, vec in zip(missing, self.embedder.embed_documents(missing), strict=True):
                self._vectors[self._key(text)] = np.asarray(vec, dtype=np.float32)
            self._dirty = True
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray([self._vectors[k] for k in keys], dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def embed_tokens(self, texts: Sequence[str]) -> list[np.ndarray]:
        embed = self.embedder.embed_tokens  # type: ignore[attr-defined]
        keys = [self._key(t) for t in texts]
        missing = [
            t for t, k in dict(zip(texts, keys, strict=True)).items() if k not in self._tokens
        ]
        if missing:
            for text, vec in zip(missing, embed(missing), strict=True):
                self._tokens[self._key(text)] = np.asarray(vec, dtype=np.float32)
            self._tokens_dirty = True
        return [self._tokens[k] for k in keys]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._dirty:
            keys = list(self._vectors)
            tmp = self.path.with_name(self.path.name + ".tmp.npz")
            np.savez(
                tmp, keys=np.asarray(keys), vectors=np.asarray([self._vectors[k] for k in keys])
            )
            tmp.replace(self.path)
            self._dirty = False
        if self._tokens_dirty:
            keys = list(self._tokens)
            tmp = self.tokens_path.with_name(self.tokens_path.name + ".tmp.npz")
            np.savez(
                tmp,
                keys=np.asarray(keys),
                lengths=np.asarray([len(self._tokens[k]) for k in keys], dtype=np.int64),
                vectors=np.concatenate([self._tokens[k] for k in keys]).astype(np.float16),
            )
            tmp.replace(self.tokens_path)
            self._tokens_dirty = False


def warm_embeddings(
    verifier: Verifier, pairs: Sequence[ClaimPair], progress: Progress | None = None
) -> None:
    """Embed every claim and sentence once, in large batches (fills the embedder's cache);
    token vectors too when the embedder has them."""
    texts = list(dict.fromkeys([t for p in pairs for t in (p.claim, *p.sentences)]))
    tokens = getattr(verifier.embedder, "embed_tokens", None)
    batch = 256
    for i in range(0, len(texts), batch):
        verifier.embedder.embed_documents(texts[i : i + batch])
        if tokens is not None:
            tokens(texts[i : i + batch])
        if progress:
            progress("embed", min(i + batch, len(texts)), len(texts))


# --- evaluation -------------------------------------------------------------------------


def evaluate_verifier(
    verifier: Verifier, pairs: Sequence[ClaimPair], progress: Progress | None = None
) -> VerifierReport:
    """Rationale P/R/F1 (evidence pairs) and support P/R/F1 (all pairs) of ``verifier``."""
    rationale, support = PRF(), PRF()
    labels: dict[str, int] = {}
    by_label: dict[str, int] = {"SUPPORT": 0, "CONTRADICT": 0, "NEI": 0}
    evidence_pairs = 0
    for i, pair in enumerate(pairs):
        labels[pair.label] = labels.get(pair.label, 0) + 1
        if pair.rationale:
            evidence_pairs += 1
            chosen = set(verifier.rationale(pair.claim, pair.sentences))
            rationale.tp += len(chosen & pair.rationale)
            rationale.predicted += len(chosen)
            rationale.gold += len(pair.rationale)
        decision = verifier.check(pair.claim, pair.sentences).supported
        support.gold += pair.label == "SUPPORT"
        if decision:
            support.predicted += 1
            support.tp += pair.label == "SUPPORT"
            by_label[pair.label] += 1
        if progress:
            progress("verify", i + 1, len(pairs))
    model = (
        "rule"
        if verifier.model is None
        else f"{_kind(verifier.model.rationale)}+"
        + ("rule" if verifier.model.support is None else _kind(verifier.model.support))
    )
    return VerifierReport(
        rationale, support, len(pairs), evidence_pairs, labels, verifier.threshold, model, by_label
    )


def _kind(model: LinearModel | TreeModel) -> str:
    return "trees" if isinstance(model, TreeModel) else "logistic"


# --- training ---------------------------------------------------------------------------


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> LinearModel:
    """L2-regularised logistic regression by Newton's method on standardised features."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (x - mean) / scale
    z1 = np.hstack([z, np.ones((len(z), 1))])
    w = np.zeros(z1.shape[1])
    reg = np.full(z1.shape[1], l2)
    reg[-1] = 0.0  # no penalty on the intercept
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(z1 @ w, -30, 30)))
        grad = z1.T @ (p - y) + reg * w
        hess = (z1 * (p * (1 - p))[:, None]).T @ z1 + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-6:
            break
    return LinearModel(mean.astype(np.float32), scale.astype(np.float32), w[:-1], float(w[-1]))


def _fit_trees(x: np.ndarray, y: np.ndarray, seed: int = 0, max_iter: int = 250) -> TreeModel:
    """Gradient-boosted trees (scikit-learn, a dependency of sentence-transformers), exported
    to the flat node tables :class:`bot.ground.verify.TreeModel` evaluates with numpy."""
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError as exc:  # pragma: no cover - installed with sentence-transformers
        raise MissingExtraError("scikit-learn", purpose="fitting the verifier model") from exc
    model = HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    ).fit(x, y.astype(int))
    trees = []
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        trees.append(
            (
                nodes["feature_idx"].astype(np.int64),
                nodes["num_threshold"].astype(np.float64),
                nodes["left"].astype(np.int64),
                nodes["right"].astype(np.int64),
                nodes["is_leaf"].astype(bool),
                nodes["value"].astype(np.float64),
            )
        )
    baseline = float(np.ravel(model._baseline_prediction)[0])
    return TreeModel(baseline, tuple(trees))


def _threshold_for_precision(
    scores: np.ndarray, positive: np.ndarray, target: float, min_share: float = 0.2
) -> float:
    """The lowest threshold whose precision on (scores, positive) reaches ``target`` while
    still accepting at least ``min_share`` of the positives; when no threshold does, the one
    with the best precision among those accepting ``min_share`` of the positives."""
    order = np.argsort(-scores, kind="stable")
    s, pos = scores[order], positive[order].astype(float)
    tp = np.cumsum(pos)
    n = np.arange(1, len(s) + 1)
    precision = tp / n
    min_tp = max(5.0, min_share * pos.sum())
    cuts = [i for i in range(len(s)) if i + 1 == len(s) or s[i + 1] != s[i]]
    reaching = [i for i in cuts if tp[i] >= min_tp and precision[i] >= target]
    if reaching:
        return float(s[max(reaching)])
    eligible = [i for i in cuts if tp[i] >= min_tp] or cuts
    best = max(eligible, key=lambda i: (round(float(precision[i]), 3), i))
    return float(s[best])


def fit_verifier_model(
    verifier: Verifier,
    pairs: Sequence[ClaimPair],
    precision_target: float = PRECISION_TARGET,
    l2: float = 1.0,
    support_model: bool = False,
    kind: str = "trees",
    min_share: float = 0.05,
) -> VerifierModel:
    """Train the rationale and support models on ``pairs`` and tune their thresholds there.

    ``verifier`` only supplies the features (its embedder); its own model is not used. Without
    ``support_model`` the support decision stays the hand-weighted rule (in cross-validation a
    trained one was no more precise) and only its threshold is fitted: the lowest one whose
    precision on these pairs reaches ``precision_target`` while accepting at least
    ``min_share`` of their SUPPORT pairs."""
    feats = [verifier.features(p.claim, p.sentences) for p in pairs]
    # rationale: which sentence of an evidence pair is gold (any label)
    r_rows = [(f, p) for f, p in zip(feats, pairs, strict=True) if p.rationale]
    xr = np.vstack([f for f, _ in r_rows])
    yr = np.concatenate([[i in p.rationale for i in range(len(f))] for f, p in r_rows]).astype(
        float
    )
    rationale: LinearModel | TreeModel = (
        _fit_trees(xr, yr) if kind == "trees" else _fit_logistic(xr, yr, l2)
    )
    # support: is this sentence a gold rationale of a SUPPORT pair
    xs = np.vstack(feats)
    ys = np.concatenate(
        [
            [p.label == "SUPPORT" and i in p.rationale for i in range(len(f))]
            for f, p in zip(feats, pairs, strict=True)
        ]
    ).astype(float)
    support: LinearModel | None = None
    positive = np.asarray([p.label == "SUPPORT" for p in pairs])
    if support_model:
        support = _fit_logistic(xs, ys, l2)
        pair_scores = np.asarray([float(support.predict(f).max()) for f in feats])
    else:  # the hand-weighted rule: only its threshold is tuned here
        pair_scores = np.asarray([float(verifier._rule(f).max()) for f in feats])
    support_threshold = _threshold_for_precision(
        pair_scores, positive, precision_target, min_share=min_share
    )
    # rationale threshold: extra sentences beyond the best one, tuned for F1 on out-of-fold
    # scores of these pairs (in-sample scores of boosted trees are over-confident)
    best_t, best_f1 = 1.01, -1.0
    r_scores: list[np.ndarray] = [np.zeros(0)] * len(r_rows)
    inner = 3
    for k in range(inner):
        held = [j for j, (_, p) in enumerate(r_rows) if p.claim_id % inner == k]
        kept = [j for j, (_, p) in enumerate(r_rows) if p.claim_id % inner != k]
        if not held or not kept:
            continue
        x_k = np.vstack([r_rows[j][0] for j in kept])
        y_k = np.concatenate(
            [[i in r_rows[j][1].rationale for i in range(len(r_rows[j][0]))] for j in kept]
        ).astype(float)
        sub = _fit_trees(x_k, y_k) if kind == "trees" else _fit_logistic(x_k, y_k, l2)
        for j in held:
            r_scores[j] = sub.predict(r_rows[j][0])
    r_scores = [
        sc if len(sc) else rationale.predict(f) for sc, (f, _) in zip(r_scores, r_rows, strict=True)
    ]
    for t in np.arange(0.1, 0.96, 0.05):
        prf = PRF()
        for s, (_, p) in zip(r_scores, r_rows, strict=True):
            order = np.argsort(-s, kind="stable")
            chosen = {int(order[0])} | {int(i) for i in order[1:3] if s[i] >= t}
            prf.tp += len(chosen & p.rationale)
            prf.predicted += len(chosen)
            prf.gold += len(p.rationale)
        if prf.f1 > best_f1:
            best_f1, best_t = prf.f1, float(t)
    meta = {
        "trained_on_pairs": len(pairs),
        "precision_target": precision_target,
        "min_share": min_share,
        "support": "logistic" if support_model else "rule",
        "rationale_model": kind,
        "l2": l2,
        "embedding_model": verifier.embedder.name,
    }
    return VerifierModel(rationale, support, support_threshold, best_t, FEATURES, meta)


def cross_validate(
    verifier: Verifier,
    pairs: Sequence[ClaimPair],
    folds: int = 5,
    seed: int = 13,
    precision_target: float = PRECISION_TARGET,
    progress: Progress | None = None,
    support_model: bool = False,
    kind: str = "trees",
) -> CrossValidation:
    """k-fold cross-validation split by claim: fit on k-1 folds, evaluate on the held-out one
    with the threshold tuned on the training folds."""
    claim_ids = sorted({p.claim_id for p in pairs})
    random.Random(seed).shuffle(claim_ids)
    fold_of = {cid: i % folds for i, cid in enumerate(claim_ids)}
    reports: list[VerifierReport] = []
    for k in range(folds):
        train = [p for p in pairs if fold_of[p.claim_id] != k]
        test = [p for p in pairs if fold_of[p.claim_id] == k]
        model = fit_verifier_model(
            verifier, train, precision_target, support_model=support_model, kind=kind
        )
        fold_verifier = Verifier(
            verifier.embedder, threshold=model.support_threshold, model=model, entailment=None
        )
        reports.append(evaluate_verifier(fold_verifier, test))
        if progress:
            progress("folds", k + 1, folds)
    return CrossValidation(reports, seed)
