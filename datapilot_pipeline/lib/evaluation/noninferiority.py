"""Paired non-inferiority of evidence accuracy: is the candidate at most `margin` worse than a reference?

Evidence accuracy is a ratio (valid-evidence insights / insights of schema-passing outputs), so the
difference of two arms on the same holdout examples is estimated with the linearized (delta-method)
influence of each example on each ratio; the per-example differences of influences give a paired
standard error, and the one-sided lower confidence bound is `difference - t(1 - alpha, n - 1) * se`.
Everything works on arrays with a leading batch axis, so the promotion rule and its calibration by
simulation (`lib/evaluation/calibration.py`) run the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MARGIN = 0.05  # evidence accuracy, absolute: "no more than 5 points worse"
DEFAULT_ALPHA = 0.05  # one-sided


def ratio_difference(valid_c: np.ndarray, insights_c: np.ndarray, valid_r: np.ndarray,
                     insights_r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(candidate - reference) ratio difference and its paired standard error along the last axis.

    Inputs hold, per example, valid-evidence insights and insights counted (0 for a schema failure).
    NaN where either arm counted no insight (the ratio is undefined) or n < 2 (no spread to estimate).
    """
    import numpy as np

    vc, kc, vr, kr = (np.asarray(a, dtype=float) for a in (valid_c, insights_c, valid_r, insights_r))
    n = kc.shape[-1]
    total_c, total_r = kc.sum(axis=-1), kr.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_c, acc_r = vc.sum(axis=-1) / total_c, vr.sum(axis=-1) / total_r
        influence = ((vc - acc_c[..., None] * kc) / (total_c / n)[..., None]
                     - (vr - acc_r[..., None] * kr) / (total_r / n)[..., None])
        se = influence.std(axis=-1, ddof=1) / np.sqrt(n) if n > 1 else np.full_like(acc_c, np.nan)
    diff = np.where((total_c > 0) & (total_r > 0), acc_c - acc_r, np.nan)
    return diff, np.where(np.isfinite(diff), se, np.nan)


def lower_bound(diff: np.ndarray | float, se: np.ndarray | float, n: int, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """One-sided (1 - alpha) lower confidence bound of the difference (Student t, n - 1 degrees of freedom)."""
    import numpy as np
    from scipy.stats import t

    if n < 2:
        return np.full(np.shape(diff), np.nan)
    return np.asarray(diff, dtype=float) - t.ppf(1 - alpha, n - 1) * np.asarray(se, dtype=float)


def per_example_counts(scores: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(valid-evidence insights, insights counted) per example of one arm's `ExampleScore`s."""
    import numpy as np

    valid = np.array([s.n_valid_evidence if s.schema_pass else 0 for s in scores], dtype=float)
    insights = np.array([s.n_insights if s.schema_pass else 0 for s in scores], dtype=float)
    return valid, insights


def paired_evidence_difference(candidate: Sequence, reference: Sequence) -> dict:
    """The report entry for one comparison: `value`, `se`, `n` (None where undefined)."""
    if [s.example_id for s in candidate] != [s.example_id for s in reference]:
        raise ValueError("a paired comparison needs both arms scored on the same examples in the same order")
    import numpy as np

    diff, se = ratio_difference(*per_example_counts(candidate), *per_example_counts(reference))
    finite = lambda x: float(x) if np.isfinite(x) else None  # noqa: E731 - MLflow and JSON take no NaN
    return {"value": finite(diff), "se": finite(se), "n": len(candidate)}
