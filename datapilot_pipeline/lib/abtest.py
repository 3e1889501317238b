"""A/B testing of the few-shot (control) and fine-tuned (treatment) variants in production.

- `assign_variant`: a sticky, salted hash of the job id, so a job always lands in the same arm.
- Per variant: insight approval rate (approved / reviewed insights; `skip` is not a review, `edit` is
  not an approval) with a Wilson interval, and mean overall job score with a t interval.
- A pooled two-proportion z-test on approval, a two-sided Mann-Whitney U test on overall scores, and the
  per-variant number of reviewed insights needed to detect the observed approval difference
  (alpha 0.05, power 0.8).
- A verdict: `promote` (fine-tuned approves significantly better and its scores are not significantly
  worse), `keep` (few-shot significantly better, or enough data and no difference) or `keep collecting`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CONTROL, TREATMENT = "few_shot", "fine_tuned"
DEFAULT_SALT = "datapilot-ab-v1"
MIN_JOBS_PER_VARIANT = 30  # below this neither test is trusted


def assign_variant(job_id: str, split: float = 0.5, salt: str = DEFAULT_SALT) -> str:
    """`fine_tuned` for a `split` share of job ids, `few_shot` for the rest; stable for a given salt."""
    if not 0.0 <= split <= 1.0:
        raise ValueError(f"split must be in [0, 1], got {split}")
    digest = hashlib.sha256(f"{salt}:{job_id}".encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return TREATMENT if bucket < split else CONTROL


@dataclass
class VariantSample:
    approved: int = 0  # approved insights
    reviewed: int = 0  # approved + edited + rejected insights
    scores: list[int] = field(default_factory=list)  # one overall score per job


def samples_from_feedback(feedback: Iterable[dict]) -> dict[str, VariantSample]:
    """Tally feedback-file dicts (`variant`, `overall_score`, `items[].action`) per variant."""
    samples = {CONTROL: VariantSample(), TREATMENT: VariantSample()}
    for fb in feedback:
        sample = samples[fb.get("variant") or CONTROL]
        sample.scores.append(int(fb["overall_score"]))
        for item in fb.get("items") or []:
            if item["action"] != "skip":
                sample.reviewed += 1
                sample.approved += item["action"] == "approve"
    return samples


def samples_from_feedback_rows(rows: Iterable[dict]) -> dict[str, VariantSample]:
    """Tally rows of the ingested feedback table (`variant`, `overall_score`, `n_approved`, `n_edited`,
    `n_rejected` per feedback) per variant."""
    samples = {CONTROL: VariantSample(), TREATMENT: VariantSample()}
    for row in rows:
        sample = samples[row.get("variant") or CONTROL]
        sample.scores.append(int(row["overall_score"]))
        sample.approved += int(row["n_approved"])
        sample.reviewed += int(row["n_approved"]) + int(row["n_edited"]) + int(row["n_rejected"])
    return samples


def _z(quantile: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(quantile))


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> list[float] | None:
    if trials == 0:
        return None
    z = _z(1 - (1 - confidence) / 2)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> list[float] | None:
    from scipy.stats import t

    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(1 - (1 - confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return [mean - half, mean + half]


def two_proportion_ztest(k1: int, n1: int, k2: int, n2: int) -> dict | None:
    """Pooled two-sided z-test of p1 = k1/n1 against p2 = k2/n2; None when it is undefined."""
    if n1 == 0 or n2 == 0:
        return None
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    diff = k1 / n1 - k2 / n2
    if se == 0:
        return None
    z = diff / se
    return {"difference": diff, "z": z, "p_value": math.erfc(abs(z) / math.sqrt(2))}


def mann_whitney(treatment: Sequence[float], control: Sequence[float]) -> dict | None:
    """Two-sided Mann-Whitney U (scipy picks exact or normal with tie correction); U is the treatment's."""
    from scipy.stats import mannwhitneyu

    if not treatment or not control:
        return None
    result = mannwhitneyu(treatment, control, alternative="two-sided")
    return {"u": float(result.statistic), "p_value": float(result.pvalue)}


def required_sample_size(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Per-variant trials to detect p1 vs p2 with a two-sided two-proportion test; None for no effect."""
    if p1 == p2:
        return None
    pbar = (p1 + p2) / 2
    numerator = (_z(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar))
                 + _z(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return math.ceil(numerator / (p1 - p2) ** 2)


def _variant_summary(sample: VariantSample) -> dict:
    return {
        "jobs": len(sample.scores), "reviewed_insights": sample.reviewed, "approved_insights": sample.approved,
        "approval_rate": sample.approved / sample.reviewed if sample.reviewed else None,
        "approval_rate_ci": wilson_interval(sample.approved, sample.reviewed),
        "mean_overall_score": sum(sample.scores) / len(sample.scores) if sample.scores else None,
        "mean_overall_score_ci": mean_interval(sample.scores),
    }


def ab_report(samples: dict[str, VariantSample], alpha: float = 0.05, power: float = 0.8,
              min_jobs: int = MIN_JOBS_PER_VARIANT) -> dict:
    """Statistics and verdict for the two variants."""
    t, c = samples.get(TREATMENT, VariantSample()), samples.get(CONTROL, VariantSample())
    z = two_proportion_ztest(t.approved, t.reviewed, c.approved, c.reviewed)
    mw = mann_whitney(t.scores, c.scores)
    needed = None
    if t.reviewed and c.reviewed:
        needed = required_sample_size(t.approved / t.reviewed, c.approved / c.reviewed, alpha, power)
    verdict, reasons = _verdict(t, c, z, mw, needed, alpha, min_jobs)
    return {"variants": {CONTROL: _variant_summary(c), TREATMENT: _variant_summary(t)},
            "approval_z_test": z, "score_mann_whitney": mw, "required_reviewed_insights_per_variant": needed,
            "alpha": alpha, "power": power, "min_jobs_per_variant": min_jobs, "verdict": verdict, "reasons": reasons}


def _verdict(t: VariantSample, c: VariantSample, z: dict | None, mw: dict | None, needed: int | None,
             alpha: float, min_jobs: int) -> tuple[str, list[str]]:
    if min(len(t.scores), len(c.scores)) < min_jobs or z is None:
        return "keep collecting", [f"each variant needs at least {min_jobs} reviewed jobs "
                                   f"(fine_tuned {len(t.scores)}, few_shot {len(c.scores)})"]
    scores_worse = mw is not None and mw["p_value"] < alpha and \
        sum(t.scores) / len(t.scores) < sum(c.scores) / len(c.scores)
    if z["p_value"] < alpha:
        if z["difference"] > 0 and not scores_worse:
            return "promote", [f"fine_tuned approval is higher by {z['difference']:+.1%} (p={z['p_value']:.4f})"]
        if z["difference"] > 0:
            return "keep", ["fine_tuned approves more insights but its overall scores are significantly worse "
                            f"(Mann-Whitney p={mw['p_value']:.4f})"]
        return "keep", [f"fine_tuned approval is lower by {z['difference']:+.1%} (p={z['p_value']:.4f})"]
    if needed is None or min(t.reviewed, c.reviewed) >= needed:
        return "keep", [f"no significant approval difference (p={z['p_value']:.4f}) with enough data"]
    return "keep collecting", [f"no significant approval difference yet (p={z['p_value']:.4f}); about {needed} "
                               f"reviewed insights per variant are needed, have {min(t.reviewed, c.reviewed)}"]
