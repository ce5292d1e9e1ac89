"""Ranking metrics as in BEIR / pytrec_eval, as plain functions.

``ranked`` is a list of document ids, best first; ``qrels`` maps the relevant document ids of
one query to their graded relevance (> 0 means relevant).

- nDCG@k uses the linear gain ``rel / log2(rank + 1)`` (rank starting at 1), normalised by the
  DCG of the ideal ordering of the judged documents (the pytrec_eval definition BEIR reports).
- Recall@k: relevant documents in the top k over all relevant documents.
- MRR@k: 1 / rank of the first relevant document within the top k, else 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["mean", "mrr_at_k", "ndcg_at_k", "percentile", "recall_at_k"]


def _relevant(qrels: Mapping[str, int]) -> dict[str, int]:
    return {doc: int(rel) for doc, rel in qrels.items() if int(rel) > 0}


def ndcg_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    relevant = _relevant(qrels)
    if not relevant:
        return 0.0
    dcg = 0.0
    seen: set[str] = set()
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in seen:  # a document counts once
            continue
        seen.add(doc)
        dcg += relevant.get(doc, 0) / math.log2(rank + 1)
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(rel / math.log2(rank + 1) for rank, rel in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    relevant = _relevant(qrels)
    if not relevant:
        return 0.0
    found = set(ranked[:k]) & set(relevant)
    return len(found) / len(relevant)


def mrr_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    relevant = _relevant(qrels)
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default method)."""
    if not values:
        return 0.0
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return float(data[lo] + (data[hi] - data[lo]) * (pos - lo))
