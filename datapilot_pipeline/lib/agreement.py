"""Krippendorff's alpha: agreement between reviewers who scored the same insights, chance-corrected.

alpha = 1 - D_o / D_e, from the coincidence matrix of values paired within each unit (Krippendorff, "Computing
Krippendorff's Alpha-Reliability", 2011). 1 is perfect agreement, 0 is what chance gives, below 0 is systematic
disagreement. Units scored by fewer than two reviewers carry no pairs and are left out; missing scores are fine.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Literal

import numpy as np

Metric = Literal["interval", "ordinal", "nominal"]


def coincidence_matrix(units: Iterable[Iterable[float]], values: np.ndarray) -> np.ndarray:
    """o[c, k]: how often value c is paired with k inside a unit, each unit weighted by 1 / (m_u - 1)."""
    index = {float(v): i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for unit in units:
        scores = [float(s) for s in unit]
        m = len(scores)
        if m < 2:
            continue
        counts = np.zeros(len(values))
        for s in scores:
            counts[index[s]] += 1
        # every ordered pair of distinct observations: n_c * n_k, minus self-pairs on the diagonal
        o += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    return o


def _delta_squared(values: np.ndarray, n_c: np.ndarray, metric: Metric) -> np.ndarray:
    if metric == "interval":
        return np.subtract.outer(values, values) ** 2
    if metric == "nominal":
        return 1.0 - np.eye(len(values))
    if metric == "ordinal":
        # (sum of n_g for g from c to k, minus half of n_c and n_k)^2, with ranks given by sorted values
        cum = np.concatenate([[0.0], np.cumsum(n_c)])
        lo = np.minimum.outer(np.arange(len(values)), np.arange(len(values)))
        hi = np.maximum.outer(np.arange(len(values)), np.arange(len(values)))
        between = cum[hi + 1] - cum[lo]
        return (between - (n_c[:, None] + n_c[None, :]) / 2.0) ** 2
    raise ValueError(f"unknown metric {metric!r}; expected interval, ordinal or nominal")


def krippendorff_alpha(units: Iterable[Iterable[float]], metric: Metric = "interval") -> float | None:
    """Alpha over `units`, each the scores different reviewers gave one item (any number per unit).

    Returns None when alpha is undefined: fewer than two pairable scores, or a single value used throughout
    (no expected disagreement to compare against)."""
    units = [list(u) for u in units]
    values = np.array(sorted({float(s) for u in units if len(u) >= 2 for s in u}))
    if len(values) == 0:
        return None
    o = coincidence_matrix(units, values)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n < 2 or len(values) < 2:
        return None
    d2 = _delta_squared(values, n_c, metric)
    observed = (o * d2).sum()
    expected = (np.outer(n_c, n_c) * d2).sum() / (n - 1)
    if expected == 0:
        return None
    return float(1.0 - observed / expected)


def units_from_ratings(ratings: Iterable[tuple[Hashable, Hashable, float]]) -> list[list[float]]:
    """Group (unit, rater, score) triples into units; a rater's repeated score on a unit counts once (the last)."""
    by_unit: dict[Hashable, dict[Hashable, float]] = {}
    for unit, rater, score in ratings:
        by_unit.setdefault(unit, {})[rater] = float(score)
    return [list(scores.values()) for scores in by_unit.values()]
