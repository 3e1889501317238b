"""Calibration of the promotion rule by simulation: how often is a candidate with a known true difference in
evidence accuracy promoted over a reference, at a given holdout size?

    python -m datapilot_pipeline.lib.evaluation.calibration   # prints the table the README quotes

Each simulated holdout example has a difficulty shared by both arms (that is what pairing buys): the
reference's per-insight validity probability is Beta-distributed around `reference_accuracy`, the candidate's
is shifted by the true difference; each arm's reply holds 1 + Poisson(2) insights, fails the schema with
probability `schema_fail` (then counts no insight) and gets Binomial(insights, p) valid-evidence insights.
The rule applied is exactly `noninferiority.ratio_difference` + `lower_bound` against `-margin`, with the
minimum holdout size; the candidate is given a schema pass rate above the target so only evidence decides.
"""

from __future__ import annotations

import numpy as np

from datapilot_pipeline.lib.evaluation.noninferiority import DEFAULT_ALPHA, DEFAULT_MARGIN, lower_bound, ratio_difference
from datapilot_pipeline.lib.evaluation.promotion import DEFAULT_MIN_EXAMPLES

DIFFERENCES = (-0.15, -0.10, -0.05, 0.0, 0.05, 0.10)
SIZES = (DEFAULT_MIN_EXAMPLES, 50, 100, 200)
CONCENTRATION = 6.0  # Beta(a, b) with a + b = 6: examples differ a lot in how hard they are


def promotion_rate(true_difference: float, n: int, runs: int = 4000, seed: int = 0,
                   reference_accuracy: float = 0.7, schema_fail: float = 0.03, margin: float = DEFAULT_MARGIN,
                   alpha: float = DEFAULT_ALPHA, min_examples: int = DEFAULT_MIN_EXAMPLES) -> float:
    """Share of `runs` simulated evaluations on `n` examples in which the candidate is promoted."""
    if n < min_examples:
        return 0.0
    rng = np.random.default_rng(seed)
    a = reference_accuracy * CONCENTRATION
    p_ref = rng.beta(a, CONCENTRATION - a, size=(runs, n))
    p_cand = np.clip(p_ref + true_difference, 0.0, 1.0)

    def arm(p: np.ndarray, fail: float) -> tuple[np.ndarray, np.ndarray]:
        insights = (1 + rng.poisson(2.0, size=p.shape)) * (rng.random(p.shape) >= fail)
        return rng.binomial(insights, p), insights

    vc, kc = arm(p_cand, 0.0)
    vr, kr = arm(p_ref, schema_fail)
    diff, se = ratio_difference(vc, kc, vr, kr)
    bound = lower_bound(diff, se, n, alpha)
    accuracy = vc.sum(axis=1) / np.maximum(kc.sum(axis=1), 1)
    promoted = np.isfinite(bound) & (bound > -margin) & (accuracy > 0)
    return float(promoted.mean())


def realized_difference(true_difference: float, reference_accuracy: float = 0.7, draws: int = 200_000) -> float:
    """The mean difference after clipping probabilities to [0, 1] (close to the nominal one)."""
    rng = np.random.default_rng(1)
    a = reference_accuracy * CONCENTRATION
    p = rng.beta(a, CONCENTRATION - a, size=draws)
    return float(np.clip(p + true_difference, 0, 1).mean() - p.mean())


def calibration_table(differences=DIFFERENCES, sizes=SIZES, runs: int = 4000) -> str:
    head = "| true difference (realized) | " + " | ".join(f"n={n}" for n in sizes) + " |"
    rows = [head, "| --- |" + " --- |" * len(sizes)]
    for d in differences:
        rates = [promotion_rate(d, n, runs=runs, seed=k) for k, n in enumerate(sizes)]
        rows.append(f"| {d:+.0%} ({realized_difference(d):+.1%}) | " + " | ".join(f"{r:.1%}" for r in rates) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(calibration_table())
