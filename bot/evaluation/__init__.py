"""Evaluation harnesses shipped in the product (``paperbot eval ...``).

- :mod:`bot.evaluation.metrics`: nDCG, recall, MRR and latency percentiles (pure functions).
- :mod:`bot.evaluation.retrieval`: BEIR-format datasets -> a cached collection -> metrics.
"""

from __future__ import annotations

from bot.evaluation.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from bot.evaluation.retrieval import (
    BeirDataset,
    RetrievalReport,
    beir_collection_name,
    evaluate_retrieval,
    load_beir,
)

__all__ = [
    "BeirDataset",
    "RetrievalReport",
    "beir_collection_name",
    "evaluate_retrieval",
    "load_beir",
    "mrr_at_k",
    "ndcg_at_k",
    "percentile",
    "recall_at_k",
]
