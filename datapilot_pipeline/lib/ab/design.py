"""The sample size of the A/B test in jobs per variant, fixed by the minimum detectable effect, alpha and power.

The analysis compares per-job approval rates (Welch's t on one value per job), so the variance that matters is
that of a job's rate. With insight-level variance s2, intra-job correlation ICC and m_j reviewed insights in
job j, a job's rate has variance s2 * (ICC + (1 - ICC) * mean(1 / m_j)); written the textbook way,
jobs = insights_if_independent * DE / m_h with the design effect DE = 1 + (m_h - 1) * ICC and m_h the
harmonic mean of insights per job. ICC and s2 come from the one-way ANOVA estimator over the insights
reviewed so far, both variants pooled (blinded: the pooled data say nothing about the difference, so
re-estimating them as data arrive does not inflate the false-positive rate). Below `MIN_DESIGN_JOBS` jobs
the planning assumptions below are used instead, and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MIN_DESIGN_JOBS = 50
PLANNING_BASELINE, PLANNING_ICC, PLANNING_INSIGHTS_PER_JOB = 0.6, 0.3, 5.0
MIN_JOBS_PER_VARIANT = 30  # Welch's t on fewer jobs leans on normality it cannot check


@dataclass(frozen=True)
class Design:
    mde: float
    alpha: float
    power: float
    baseline_approval: float
    insight_variance: float
    icc: float
    insights_per_job: float  # harmonic mean
    design_effect: float
    insights_if_independent: int
    jobs_needed_per_variant: int
    source: str

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _z(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


@dataclass(frozen=True)
class InsightSums:
    """Sufficient statistics of per-insight values grouped by job (scalars, or arrays for many samples at once):
    jobs k, insights N = sum m_j, sum 1/m_j, sum m_j^2, sum y, sum y^2 and sum over jobs of (job total)^2 / m_j."""

    k: Any
    n: Any
    inv_sizes: Any
    sq_sizes: Any
    total: Any
    total_sq: Any
    between_sq: Any

    @classmethod
    def of(cls, groups: Sequence[Sequence[float]]) -> "InsightSums":
        sizes = np.array([len(g) for g in groups], dtype=float)
        totals = np.array([float(np.sum(g)) for g in groups])
        return cls(k=float(len(groups)), n=sizes.sum(), inv_sizes=(1 / sizes).sum(), sq_sizes=(sizes ** 2).sum(),
                   total=totals.sum(), total_sq=sum(float(np.sum(np.square(g))) for g in groups),
                   between_sq=(totals ** 2 / sizes).sum())


def anova_icc(s: InsightSums) -> tuple[Any, Any, Any, Any]:
    """(ICC clipped to [0, 1], total insight variance, mean, harmonic mean of insights per job) by the one-way
    ANOVA estimator for unequal group sizes; elementwise over arrays."""
    grand = s.total / s.n
    msb = (s.between_sq - s.n * grand ** 2) / (s.k - 1)
    msw = np.where(s.n > s.k, (s.total_sq - s.between_sq) / np.maximum(s.n - s.k, 1), 0.0)
    m0 = (s.n - s.sq_sizes / s.n) / (s.k - 1)
    between = np.maximum(0.0, (msb - msw) / m0)
    variance = between + msw
    icc = np.where(variance > 0, between / np.where(variance > 0, variance, 1), 0.0)
    return icc, variance, grand, s.k / s.inv_sizes


def jobs_per_variant(mde: float, alpha: float, power: float, insight_variance, icc, insights_per_job):
    """(jobs per variant, insights per variant if insights were independent, design effect); elementwise."""
    if not 0 < mde < 1 or not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"mde, alpha and power must be in (0, 1), got {mde}, {alpha}, {power}")
    z2 = (_z(1 - alpha / 2) + _z(power)) ** 2
    independent = z2 * 2 * np.asarray(insight_variance) / mde ** 2
    design_effect = 1 + (np.asarray(insights_per_job) - 1) * np.asarray(icc)
    jobs = np.maximum(MIN_JOBS_PER_VARIANT, np.ceil(independent * design_effect / insights_per_job))
    return jobs.astype(int), np.ceil(independent).astype(int), design_effect


def plan(groups: Sequence[Sequence[float]], mde: float = 0.05, alpha: float = 0.05, power: float = 0.8) -> Design:
    """The design from jobs' per-insight approvals (all variants pooled), or the planning assumptions."""
    if len(groups) >= MIN_DESIGN_JOBS:
        icc, variance, baseline, m_h = (float(v) for v in anova_icc(InsightSums.of(groups)))
        source = f"observed: {len(groups)} jobs, both variants pooled"
    else:
        baseline, icc, m_h = PLANNING_BASELINE, PLANNING_ICC, PLANNING_INSIGHTS_PER_JOB
        variance = baseline * (1 - baseline)
        source = f"planning assumptions (fewer than {MIN_DESIGN_JOBS} reviewed jobs)"
    jobs, independent, de = jobs_per_variant(mde, alpha, power, variance, icc, m_h)
    return Design(mde=mde, alpha=alpha, power=power, baseline_approval=baseline, insight_variance=variance, icc=icc,
                  insights_per_job=m_h, design_effect=float(de), insights_if_independent=int(independent),
                  jobs_needed_per_variant=int(jobs), source=source)
