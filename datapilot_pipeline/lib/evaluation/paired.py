"""Paired comparisons of the candidate with one reference arm on the same holdout examples: the figures the
promotion rule (`lib/evaluation/promotion.py`) judges.

- **evidence score**, the primary metric: per holdout example, valid-evidence insights / insights when the reply
  passed the schema and holds at least one insight, else 0 (a schema failure scores 0 in every arm; it is never
  "undefined"). An arm's score is the mean over ALL examples. The comparison is the mean of the per-example
  differences d_i = s_candidate_i - s_reference_i with the standard error sd(d) / sqrt(n), and a one-sided
  Student-t lower bound. Its degrees of freedom are (examples on which the two arms score differently) - 1: the
  spread is estimated from those examples only, so a difference carried by a handful of examples (say 3 of 40,
  where the signs alone give p = 1/8) is not mistaken for evidence; when every example differs this is the usual
  n - 1. Identical scores give d = 0 everywhere, se = 0 and the bound 0.
- **schema pass**: per example 1 or 0, the mean of the paired differences, t with n - 1 degrees of freedom.
- **text grounding** and **evidence coverage** are ratios (grounded numbers / stated numbers; insights citing a
  number / insights) over schema-passing replies: the difference of two ratios with a delta-method paired
  standard error (each example's linearized influence on each ratio), t with n - 1 degrees of freedom.

Every function works on arrays with leading batch axes (the last axis is the holdout example), so the deployed rule
and its calibration by simulation (`lib/evaluation/calibration.py`) run the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Per-example counts of one arm, as the report stores them under `per_example.<arm>`; every count of a reply that
# failed the schema is 0. `n_citing_number` is there only when the scores carry it.
COUNTS = ("schema_pass", "n_insights", "n_valid_evidence", "n_numbers", "n_grounded", "n_citing_number")
PRIMARY = "evidence_score"


def per_example(scores: Sequence) -> dict[str, list[int]]:
    """One arm's `ExampleScore`s as the per-example counts the rule reads."""
    keys = [k for k in COUNTS[1:] if all(getattr(s, k, None) is not None for s in scores)]
    return {"schema_pass": [int(bool(s.schema_pass)) for s in scores],
            **{k: [int(getattr(s, k)) if s.schema_pass else 0 for s in scores] for k in keys}}


def as_arrays(counts: Mapping[str, Sequence]) -> dict[str, np.ndarray]:
    import numpy as np

    return {k: np.asarray(counts[k], dtype=float) for k in COUNTS if counts.get(k) is not None}


@dataclass(frozen=True)
class Paired:
    """candidate - reference for one metric over a batch of evaluations (arrays of the batch shape; NaN where
    undefined): each arm's figure, the difference, its standard error and the degrees of freedom of its t."""

    candidate: np.ndarray
    reference: np.ndarray
    value: np.ndarray
    se: np.ndarray
    df: np.ndarray

    def lower_bound(self, alpha: float) -> np.ndarray:
        """One-sided (1 - alpha) lower confidence bound of the difference; the difference itself when it has no
        spread (identical arms: 0); NaN when undefined or estimated from a single differing example."""
        import numpy as np
        from scipy.stats import t

        value, se, df = (np.asarray(a, dtype=float) for a in (self.value, self.se, self.df))
        with np.errstate(invalid="ignore"):
            quantile = t.ppf(1 - alpha, np.where(df >= 1, df, np.nan))
            bound = np.where(se == 0, value, value - quantile * se)
        return np.where(np.isfinite(value) & np.isfinite(se), bound, np.nan)


def evidence_scores(counts: Mapping[str, np.ndarray]) -> np.ndarray:
    """s_i: valid-evidence insights / insights of a schema-passing reply with an insight, else 0."""
    import numpy as np

    insights, valid = counts["n_insights"], counts["n_valid_evidence"]
    ok = (counts["schema_pass"] > 0) & (insights > 0)
    return np.where(ok, valid / np.where(ok, insights, 1.0), 0.0)


def mean_difference(candidate: np.ndarray, reference: np.ndarray, ties_reduce_df: bool = False) -> Paired:
    """The mean of per-example paired differences; with `ties_reduce_df` the t has (differing examples - 1)
    degrees of freedom instead of n - 1."""
    import numpy as np

    c, r = np.asarray(candidate, dtype=float), np.asarray(reference, dtype=float)
    d = c - r
    n = d.shape[-1]
    se = d.std(axis=-1, ddof=1) / np.sqrt(n) if n > 1 else np.full(d.shape[:-1], np.nan)
    df = (np.count_nonzero(np.abs(d) > 1e-12, axis=-1) - 1) if ties_reduce_df else np.full(d.shape[:-1], n - 1)
    return Paired(c.mean(axis=-1), r.mean(axis=-1), d.mean(axis=-1), se, np.asarray(df, dtype=float))


def ratio_difference(num_c: np.ndarray, den_c: np.ndarray, num_r: np.ndarray, den_r: np.ndarray) -> Paired:
    """sum(num_c)/sum(den_c) - sum(num_r)/sum(den_r) with its delta-method paired standard error (NaN where either
    denominator sums to 0, or n < 2)."""
    import numpy as np

    nc, kc, nr, kr = (np.asarray(a, dtype=float) for a in (num_c, den_c, num_r, den_r))
    n = kc.shape[-1]
    total_c, total_r = kc.sum(axis=-1), kr.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_c = np.where(total_c > 0, nc.sum(axis=-1) / total_c, np.nan)
        ratio_r = np.where(total_r > 0, nr.sum(axis=-1) / total_r, np.nan)
        influence = ((nc - ratio_c[..., None] * kc) / (total_c / n)[..., None]
                     - (nr - ratio_r[..., None] * kr) / (total_r / n)[..., None])
        se = influence.std(axis=-1, ddof=1) / np.sqrt(n) if n > 1 else np.full(ratio_c.shape, np.nan)
    value = ratio_c - ratio_r
    return Paired(ratio_c, ratio_r, value, np.where(np.isfinite(value), se, np.nan), np.full(value.shape, n - 1.0))


def compare(candidate: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]) -> dict[str, Paired]:
    """Every paired comparison the promotion rule judges, candidate against one reference (arrays from
    `as_arrays`, examples on the last axis, in the same order in both arms). `evidence_coverage` only when both
    arms carry `n_citing_number`."""
    if candidate["schema_pass"].shape != reference["schema_pass"].shape:
        raise ValueError("a paired comparison needs both arms scored on the same examples")
    out = {
        PRIMARY: mean_difference(evidence_scores(candidate), evidence_scores(reference), ties_reduce_df=True),
        "schema_pass_rate": mean_difference(candidate["schema_pass"], reference["schema_pass"]),
        "text_grounding": ratio_difference(candidate["n_grounded"], candidate["n_numbers"],
                                           reference["n_grounded"], reference["n_numbers"]),
    }
    if "n_citing_number" in candidate and "n_citing_number" in reference:
        out["evidence_coverage"] = ratio_difference(candidate["n_citing_number"], candidate["n_insights"],
                                                    reference["n_citing_number"], reference["n_insights"])
    return out
