"""Fusing ranked lists, and diversifying one (MMR).

- :func:`reciprocal_rank_fusion`: ``sum_i w_i / (k + rank_i)`` (Cormack et al. 2009); only
  ranks matter, so it needs no score calibration.
- :func:`weighted_fusion`: ``sum_i w_i * norm_i(score)`` where each list's scores are min-max
  normalised over the list (a document missing from a list gets 0 from it).
- :func:`mmr`: maximal marginal relevance (Carbonell & Goldstein 1998) over candidate vectors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["minmax", "mmr", "reciprocal_rank_fusion", "weighted_fusion"]

Ranked = Sequence[tuple[str, float]]  # (id, score), best first


def reciprocal_rank_fusion(
    lists: Sequence[Ranked], k: float = 60.0, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Fused (id, score) best first; ties keep the order of first appearance."""
    weights = list(weights) if weights is not None else [1.0] * len(lists)
    fused: dict[str, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for rank, (doc, _score) in enumerate(ranked, start=1):
            fused[doc] = fused.get(doc, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)


def minmax(ranked: Ranked) -> dict[str, float]:
    """Scores rescaled to [0, 1] over the list (all 1.0 when they are equal)."""
    if not ranked:
        return {}
    scores = [s for _, s in ranked]
    lo, hi = min(scores), max(scores)
    if hi - lo <= 1e-12:
        return {doc: 1.0 for doc, _ in ranked}
    return {doc: (s - lo) / (hi - lo) for doc, s in ranked}


def weighted_fusion(lists: Sequence[Ranked], weights: Sequence[float]) -> list[tuple[str, float]]:
    """Weighted sum of min-max normalised scores, best first."""
    fused: dict[str, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for doc, score in minmax(ranked).items():
            fused[doc] = fused.get(doc, 0.0) + weight * score
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)


def mmr(
    relevance: Mapping[str, float],
    vectors: Mapping[str, np.ndarray],
    k: int,
    lambda_: float = 0.5,
    duplicate: float = 0.95,
) -> list[str]:
    """Pick ``k`` ids trading relevance against similarity to those already picked.

    ``relevance`` should be on a [0, 1] scale (e.g. min-max normalised); ``vectors`` are unit
    vectors (ids without a vector are never penalised for redundancy). A candidate at least
    ``duplicate``-similar to a picked one comes only after every other candidate."""
    remaining = sorted(relevance, key=lambda d: relevance[d], reverse=True)
    chosen: list[str] = []
    chosen_vecs: list[np.ndarray] = []
    while remaining and len(chosen) < k:
        best, best_value = remaining[0], -np.inf
        for doc in remaining:
            vec = vectors.get(doc)
            redundancy = 0.0
            if vec is not None and chosen_vecs:
                redundancy = float(max(float(np.dot(vec, c)) for c in chosen_vecs))
            value = lambda_ * relevance[doc] - (1 - lambda_) * redundancy
            if redundancy >= duplicate:
                value -= 10.0  # a near-duplicate: last resort
            if value > best_value:
                best, best_value = doc, value
        chosen.append(best)
        remaining.remove(best)
        vec = vectors.get(best)
        if vec is not None:
            chosen_vecs.append(vec)
    return chosen
