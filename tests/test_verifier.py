"""The citation verifier and its SciFact evaluation, with the real MiniLM model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.errors import InputError
from bot.evaluation.verifier import (
    PRF,
    CachedEmbedder,
    ClaimPair,
    _fit_trees,
    cross_validate,
    evaluate_verifier,
    fit_verifier_model,
    load_scifact,
)
from bot.ground.verify import (
    DEFAULT_MODEL_PATH,
    FEATURES,
    LinearModel,
    TreeModel,
    Verifier,
    VerifierModel,
)
from bot.index.embeddings import LocalEmbedder

PAPERBOT = shutil.which("paperbot", path=str(Path(sys.executable).parent)) or "paperbot"

ABSTRACT = [
    "BACKGROUND Aspirin is widely used for the prevention of cardiovascular disease.",
    "We followed 12000 adults for ten years in a randomised trial.",
    "CONCLUSIONS Daily aspirin reduced the risk of colorectal cancer by 24%.",
    "Gastrointestinal bleeding was more common in the aspirin group.",
]


@pytest.fixture(scope="module")
def verifier(embedder: LocalEmbedder) -> Verifier:
    """The similarity rule (the fallback when no entailment model is installed)."""
    return Verifier(embedder, threshold=0.58, entailment=None)


def test_shipped_model_loads_and_matches_the_features() -> None:
    model = VerifierModel.load(DEFAULT_MODEL_PATH)
    assert model.features == FEATURES
    assert isinstance(model.rationale, TreeModel)
    assert 0.0 < model.rationale_threshold < 1.0
    again = VerifierModel.from_dict(json.loads(json.dumps(model.to_dict())))
    x = np.random.default_rng(0).random((7, len(FEATURES))).astype(np.float32)
    assert np.allclose(model.rationale.predict(x), again.rationale.predict(x), atol=1e-5)


def test_supported_claim_quotes_the_right_sentence(verifier: Verifier) -> None:
    support = verifier.check("Daily aspirin lowers colorectal cancer risk by 24% [1].", ABSTRACT)
    assert support.supported
    assert support.index == 2
    assert verifier.rationale("Aspirin reduces the risk of colorectal cancer.", ABSTRACT)[0] == 2


def test_unrelated_claim_is_not_supported(verifier: Verifier) -> None:
    support = verifier.check("Transformers outperform recurrent networks on translation.", ABSTRACT)
    assert not support.supported
    assert 0 <= support.index < len(ABSTRACT)


def test_hard_checks_lower_the_score(verifier: Verifier) -> None:
    sentence = [ABSTRACT[2]]
    same = verifier.scores("Daily aspirin reduced the risk of colorectal cancer by 24%.", sentence)
    wrong_number = verifier.scores(
        "Daily aspirin reduced the risk of colorectal cancer by 61%.", sentence
    )
    negated = verifier.scores(
        "Daily aspirin did not reduce the risk of colorectal cancer by 24%.", sentence
    )
    opposite = verifier.scores(
        "Daily aspirin increased the risk of colorectal cancer by 24%.", sentence
    )
    assert same[0] > 0.9
    assert wrong_number[0] < 0.6 * same[0]
    assert negated[0] < same[0] and opposite[0] < same[0]
    assert not verifier.check(
        "Daily aspirin increased colorectal cancer risk by 61%.", sentence
    ).supported


def test_empty_inputs(verifier: Verifier) -> None:
    assert verifier.check("anything", []).index == -1
    assert len(verifier.scores("[1]", ABSTRACT)) == len(ABSTRACT)
    assert verifier.rationale("claim", []) == []
    assert verifier.relevance("q", []).shape == (0,)
    assert verifier.features("claim", ABSTRACT).shape == (len(ABSTRACT), len(FEATURES))


def test_rule_fallback_without_a_model(embedder: LocalEmbedder) -> None:
    rule = Verifier(embedder, threshold=0.58, model=None, entailment=None)
    assert rule.model is None
    assert rule.rationale("Aspirin reduces colorectal cancer.", ABSTRACT) == [2]
    assert rule.check("Aspirin reduced colorectal cancer risk by 24%.", ABSTRACT).supported


def test_exported_trees_predict_like_scikit_learn() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(1)
    x = rng.random((400, len(FEATURES)))
    y = ((x[:, 0] + 0.5 * x[:, 2] - 0.3 * x[:, 5]) > 0.6).astype(float)
    trees = _fit_trees(x, y, max_iter=20)
    reference = HistGradientBoostingClassifier(
        max_iter=20, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40,
        l2_regularization=1.0, early_stopping=False, random_state=0,
    ).fit(x, y.astype(int))  # fmt: skip
    test = rng.random((50, len(FEATURES)))
    assert np.allclose(trees.predict(test), reference.predict_proba(test)[:, 1], atol=1e-5)
    restored = TreeModel.from_dict(trees.to_dict())
    assert np.allclose(restored.predict(test), trees.predict(test), atol=1e-4)


def test_linear_model_round_trip() -> None:
    model = LinearModel(np.zeros(3), np.ones(3), np.asarray([1.0, -1.0, 0.5]), 0.2)
    x = np.asarray([[1.0, 2.0, 3.0]])
    assert np.allclose(LinearModel.from_dict(model.to_dict()).predict(x), model.predict(x))


# --- SciFact-style evaluation on a tiny hand-made set --------------------------------------

CORPUS = {
    "11": [
        "BACKGROUND Vitamin D is linked to bone health.",
        "We randomised 800 older adults to vitamin D or placebo.",
        "RESULTS Vitamin D supplements reduced hip fractures by 30%.",
        "CONCLUSIONS Vitamin D prevents fractures in older adults.",
    ],
    "22": [
        "Sleep deprivation affects memory consolidation.",
        "Participants slept four hours per night for a week.",
        "Recall of word lists fell sharply after sleep loss.",
    ],
    "33": [
        "Coffee consumption is common worldwide.",
        "We surveyed 3000 coffee drinkers about their habits.",
        "Coffee intake was not associated with heart disease.",
    ],
}
CLAIMS = [
    {"id": 1, "claim": "Vitamin D supplements reduce hip fractures.",
     "evidence": {"11": [{"sentences": [2], "label": "SUPPORT"}]}, "cited_doc_ids": [11]},
    {"id": 2, "claim": "Sleep loss impairs recall of word lists.",
     "evidence": {"22": [{"sentences": [2], "label": "SUPPORT"}]}, "cited_doc_ids": [22]},
    {"id": 3, "claim": "Coffee intake increases heart disease.",
     "evidence": {"33": [{"sentences": [2], "label": "CONTRADICT"}]}, "cited_doc_ids": [33]},
    {"id": 4, "claim": "Vitamin D cures the common cold.", "evidence": {},
     "cited_doc_ids": [11]},
    {"id": 5, "claim": "Sleep loss improves memory.",
     "evidence": {"22": [{"sentences": [0, 2], "label": "CONTRADICT"}]}, "cited_doc_ids": [22]},
    {"id": 6, "claim": "Vitamin D prevents fractures in older adults.",
     "evidence": {"11": [{"sentences": [2, 3], "label": "SUPPORT"}]},
     "cited_doc_ids": [11, 33]},
]  # fmt: skip


@pytest.fixture()
def scifact_dir(tmp_path: Path) -> Path:
    (tmp_path / "claims.jsonl").write_text(
        "\n".join(json.dumps(c) for c in CLAIMS) + "\n", encoding="utf-8"
    )
    (tmp_path / "corpus.jsonl").write_text(
        "\n".join(
            json.dumps({"_id": k, "title": f"doc {k}", "text": " ".join(v), "metadata": {}})
            for k, v in CORPUS.items()
        )
        + "\n",
        encoding="utf-8",
    )
    return tmp_path


def test_load_scifact_builds_labelled_pairs(scifact_dir: Path) -> None:
    pairs = load_scifact(scifact_dir / "claims.jsonl")
    assert len(pairs) == 7  # claim 6 cites two abstracts
    by_key = {(p.claim_id, p.doc_id): p for p in pairs}
    assert by_key[(1, "11")].label == "SUPPORT" and by_key[(1, "11")].rationale == {2}
    assert by_key[(3, "33")].label == "CONTRADICT"
    assert by_key[(4, "11")].label == "NEI" and not by_key[(4, "11")].rationale
    assert by_key[(6, "33")].label == "NEI"  # cited without evidence
    assert by_key[(1, "11")].sentences == tuple(CORPUS["11"])  # our splitter, gold numbering
    assert len(load_scifact(scifact_dir / "claims.jsonl", limit=2)) == 2


def test_load_scifact_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_scifact(tmp_path / "missing.jsonl")
    (tmp_path / "claims.jsonl").write_text('{"claim": "no id"}\n', encoding="utf-8")
    (tmp_path / "corpus.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match=r"claims.jsonl:1"):
        load_scifact(tmp_path / "claims.jsonl")


def test_evaluate_counts_rationales_and_support(scifact_dir: Path, verifier: Verifier) -> None:
    pairs = load_scifact(scifact_dir / "claims.jsonl")
    report = evaluate_verifier(verifier, pairs)
    assert report.pairs == 7 and report.evidence_pairs == 5
    assert report.labels == {"SUPPORT": 3, "CONTRADICT": 2, "NEI": 2}
    assert report.rationale.gold == 1 + 1 + 1 + 2 + 2
    assert report.rationale.tp >= 3  # the obvious sentences are found
    assert report.support.gold == 3
    assert report.supported_by_label["NEI"] == 0  # nothing supports the unrelated claims
    assert 0 < report.support.tp <= report.support.predicted  # scored by PRF (tested below)
    data = report.to_dict()
    assert set(data["rationale"]) == {"p", "r", "f1"} and data["pairs"] == 7


@pytest.mark.parametrize(
    ("tp", "predicted", "gold", "expected"),
    [
        (2, 4, 3, {"p": 0.5, "r": 0.6667, "f1": 0.5714}),  # f1 = 2 * 1/2 * 2/3 / (7/6) = 4/7
        (3, 3, 3, {"p": 1.0, "r": 1.0, "f1": 1.0}),
        (0, 3, 2, {"p": 0.0, "r": 0.0, "f1": 0.0}),
        (0, 0, 0, {"p": 0.0, "r": 0.0, "f1": 0.0}),  # nothing predicted, nothing gold: no 0/0
    ],
)
def test_precision_recall_f1_from_known_counts(
    tp: int, predicted: int, gold: int, expected: dict[str, float]
) -> None:
    assert PRF(tp, predicted, gold).to_dict() == expected


def test_fit_and_cross_validate_on_tiny_set(scifact_dir: Path, embedder: LocalEmbedder) -> None:
    pairs: list[ClaimPair] = load_scifact(scifact_dir / "claims.jsonl")
    base = Verifier(embedder, model=None, entailment=None)
    model = fit_verifier_model(base, pairs, kind="logistic")
    assert model.support is None and isinstance(model.rationale, LinearModel)
    fitted = Verifier(embedder, model=model, entailment=None)
    assert fitted.rationale("Vitamin D supplements reduce hip fractures.", CORPUS["11"])[0] == 2
    cv = cross_validate(base, pairs, folds=2, kind="logistic")
    assert len(cv.folds) == 2 and sum(f.pairs for f in cv.folds) == len(pairs)
    assert set(cv.to_dict()["mean"]) == {"rationale", "support"}


def test_cached_embedder_round_trip(tmp_path: Path, embedder: LocalEmbedder) -> None:
    path = tmp_path / "cache.npz"
    cached = CachedEmbedder(embedder, path)
    first = cached.embed_documents(["alpha beta", "gamma"])
    cached.save()
    again = CachedEmbedder(embedder, path)
    assert np.allclose(again.embed_documents(["gamma", "alpha beta"]), first[::-1])
    assert again.embed_query("gamma").shape == (embedder.dimension,)


def test_cli_eval_verifier_json(scifact_dir: Path, isolated_env: Path) -> None:
    r = subprocess.run(
        [PAPERBOT, "eval", "verifier", "--scifact", str(scifact_dir / "claims.jsonl"), "--json"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data["rationale"]) == {"p", "r", "f1"}
    assert set(data["support"]) == {"p", "r", "f1"}
    assert data["pairs"] == 7
    bad = subprocess.run(
        [PAPERBOT, "eval", "verifier", "--scifact", str(scifact_dir / "nope.jsonl")],
        capture_output=True, text=True, timeout=600, env=dict(os.environ),
    )  # fmt: skip
    assert bad.returncode == 1 and "not found" in bad.stderr
    assert "Traceback" not in bad.stderr
