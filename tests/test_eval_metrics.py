"""Ranking metrics against hand-computed values, and ``paperbot eval retrieval`` end to end on
a tiny hand-made BEIR dataset (tests/fixtures/beir_tiny)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import InputError
from bot.evaluation.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from bot.evaluation.retrieval import (
    beir_collection_name,
    evaluate_rankings,
    evaluate_retrieval,
    ingest_beir,
    load_beir,
)
from bot.index.embeddings import LocalEmbedder
from tests.conftest import ROOT, make_settings

TINY = ROOT / "tests" / "fixtures" / "beir_tiny"
PAPERBOT = shutil.which("paperbot", path=str(Path(sys.executable).parent)) or "paperbot"
L3 = 1 / math.log2(3)  # discount at rank 2
L4 = 1 / math.log2(4)  # discount at rank 3 (0.5)


def test_ndcg_hand_computed() -> None:
    qrels = {"a": 1, "b": 1}
    assert ndcg_at_k(["a", "b", "x"], qrels) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "a", "y", "b"], qrels) == pytest.approx(
        (L3 + 1 / math.log2(5)) / (1 + L3)
    )
    assert ndcg_at_k(["x", "y"], qrels) == 0.0
    assert ndcg_at_k([], qrels) == 0.0
    # graded: ideal puts the grade-2 document first
    graded = {"a": 2, "b": 1}
    assert ndcg_at_k(["b", "a"], graded) == pytest.approx((1 + 2 * L3) / (2 + L3))
    # cut-off: relevant document at rank 3 is outside @2
    assert ndcg_at_k(["x", "y", "a"], {"a": 1}, k=2) == 0.0
    assert ndcg_at_k(["x", "y", "a"], {"a": 1}, k=3) == pytest.approx(L4)
    # zero-relevance judgements do not count as relevant
    assert ndcg_at_k(["z"], {"z": 0, "a": 1}) == 0.0
    # ideal DCG is cut at k too: 3 relevant, k=2
    assert ndcg_at_k(["a", "b"], {"a": 1, "b": 1, "c": 1}, k=2) == pytest.approx(1.0)


def test_recall_and_mrr_hand_computed() -> None:
    qrels = {"a": 1, "b": 1, "c": 1, "d": 1}
    ranked = ["x", "a", "y", "b"]
    assert recall_at_k(ranked, qrels, 10) == pytest.approx(0.5)
    assert recall_at_k(ranked, qrels, 2) == pytest.approx(0.25)
    assert recall_at_k(ranked, qrels, 1) == 0.0
    assert mrr_at_k(ranked, qrels, 10) == pytest.approx(0.5)
    assert mrr_at_k(["x", "y", "z", "a"], qrels, 3) == 0.0
    assert mrr_at_k([], qrels) == 0.0
    assert recall_at_k(["a"], {}, 10) == 0.0


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) == 0.0


def test_evaluate_rankings_averages_over_judged_queries() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    report = evaluate_rankings({"q1": ["a"], "q2": ["x", "b"]}, qrels, [1.0, 3.0], "t", 10)
    assert report.queries == 2
    assert report.ndcg_at_10 == pytest.approx((1 + L3) / 2)
    assert report.mrr_at_10 == pytest.approx(0.75)
    assert report.latency_p50_ms == pytest.approx(2.0)


def test_load_beir_reads_the_split(tmp_path: Path) -> None:
    data = load_beir(TINY, "test")
    assert len(data.papers) == 6 and data.papers[0].title == "Axolotl limb regeneration"
    assert set(data.queries) == {"q1", "q2", "q3", "q4"}  # q5 has no judgements
    assert data.qrels["q3"] == {"d5": 2, "d6": 1}
    with pytest.raises(InputError, match="missing"):
        load_beir(TINY, "dev")
    with pytest.raises(InputError, match="missing"):
        load_beir(tmp_path, "test")


# Hand-computed for the BM25 retriever on beir_tiny (only documents sharing a query term are
# retrieved): q1 -> [d1] (relevant d1, d2); q2 -> [d4, d3] (relevant d3); q3 -> [d5, d6]
# (d5 grade 2, d6 grade 1, the ideal order); q4 -> [] (relevant d2).
EXPECTED = {
    "ndcg@10": (1 / (1 + L3) + L3 + 1.0 + 0.0) / 4,
    "recall@10": (0.5 + 1 + 1 + 0) / 4,
    "recall@100": (0.5 + 1 + 1 + 0) / 4,
    "mrr@10": (1 + 0.5 + 1 + 0) / 4,
}


def test_eval_on_tiny_beir_gives_hand_computed_metrics(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    data = load_beir(TINY, "test")
    settings = make_settings(tmp_path / "home")
    bot, embedded = ingest_beir(data, settings, embedder, k=10)
    assert embedded == 6
    assert bot.settings.store.collection == beir_collection_name(data, settings, embedder.name)
    report = evaluate_retrieval(bot, data, "bm25", k=10)
    got = report.to_dict()
    for key, value in EXPECTED.items():
        assert got[key] == pytest.approx(value, abs=1e-4), key
    assert report.per_query["q2"]["mrr@10"] == 0.5
    # the other retrievers run on the same cached collection
    _, again = ingest_beir(data, settings, embedder, k=10)
    assert again == 0
    hybrid = evaluate_retrieval(bot, data, "hybrid", k=10)
    assert hybrid.queries == 4 and hybrid.recall_at_10 >= report.recall_at_10


def test_cli_eval_retrieval_json_and_cache(isolated_env: Path) -> None:
    cmd = [PAPERBOT, "eval", "retrieval", "--beir", str(TINY)]
    cmd += ["--split", "test", "--retriever", "bm25", "-k", "10", "--json"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, timeout=300)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert {"ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_ms", "queries"} <= set(data)
    assert data["retriever"] == "bm25" and data["queries"] == 4
    assert set(data["latency_ms"]) >= {"p50", "p95"}
    for key, value in EXPECTED.items():
        assert data[key] == pytest.approx(value, abs=1e-4), key
    assert data["papers_embedded"] == 6  # a second run reuses it (tested in-process above)
    bad = subprocess.run(
        [*cmd[:4], str(isolated_env), "--split", "test"],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=300,
    )
    assert bad.returncode == 1 and "not a BEIR dataset" in bad.stderr
