"""Calibration of the A/B procedure by simulation, vectorized over thousands of experiments.

The generative model: each job has a latent quality p_j ~ Beta with mean mu and intra-job correlation `icc`;
each of its m_j insights (3 to 7) is good with probability p_j; each of its R_j reviewers (1 to 3) approves a
good insight with probability 1 - REVIEWER_ERROR and a bad one with probability REVIEWER_ERROR. A job's value
is its per-insight approval shares, exactly what `jobs.job_table` computes from review files. Approval rates
below are on the observed scale: mu is set so the expected approval rate is the one asked for.

`daily_reads` runs the whole procedure as the daily asset would: jobs arrive, every day the blinded design
(`design.anova_icc` + `jobs_per_variant`, the report's own functions) is re-estimated from the pooled data, and
the first day both variants reach the horizon the test runs once on the first n jobs of each (`welch`).
"""

from __future__ import annotations

import numpy as np

from datapilot_pipeline.lib.ab.design import InsightSums, anova_icc, jobs_per_variant
from datapilot_pipeline.lib.ab.welch import welch

REVIEWER_ERROR = 0.1
INSIGHTS, REVIEWERS = (3, 7), (1, 3)


def insight_shares(rng: np.random.Generator, shape: tuple[int, ...], approval: float,
                   icc: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """(per-insight approval shares of shape `shape + (7,)`, NaN beyond a job's insights; insights per job)."""
    mu = (approval - REVIEWER_ERROR) / (1 - 2 * REVIEWER_ERROR)
    if not 0 < mu < 1:
        raise ValueError(f"approval {approval} is outside what reviewers with error {REVIEWER_ERROR} produce")
    a, b = mu * (1 - icc) / icc, (1 - mu) * (1 - icc) / icc
    p = rng.beta(a, b, shape)[..., None]
    m = rng.integers(INSIGHTS[0], INSIGHTS[1] + 1, shape)
    r = rng.integers(REVIEWERS[0], REVIEWERS[1] + 1, shape)[..., None]
    good = (rng.random(shape + (INSIGHTS[1],), dtype=np.float32) < p).astype(np.intp)
    # approvals ~ Binomial(r, 1 - error if good else error), by inverse CDF: one uniform per insight
    u = rng.random(shape + (INSIGHTS[1],), dtype=np.float32)
    cdf = _approval_cdf()
    approvals = sum((u > cdf[:, :, k][good, r]).astype(np.int8) for k in range(REVIEWERS[1]))
    shares = approvals / r
    present = np.arange(INSIGHTS[1]) < m[..., None]
    return np.where(present, shares, np.nan), m


def _approval_cdf() -> np.ndarray:
    """P(approvals <= k) indexed [good][reviewers][k] (1 where k >= reviewers)."""
    from math import comb

    cdf = np.ones((2, REVIEWERS[1] + 1, REVIEWERS[1] + 1), dtype=np.float32)
    for good, q in ((0, REVIEWER_ERROR), (1, 1 - REVIEWER_ERROR)):
        for r in range(1, REVIEWERS[1] + 1):
            for k in range(r):
                cdf[good, r, k] = sum(comb(r, j) * q ** j * (1 - q) ** (r - j) for j in range(k + 1))
    return cdf


def _job_sums(shares: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    totals = np.nansum(shares, axis=-1)
    return totals, np.nansum(shares ** 2, axis=-1), totals / m


def daily_reads(rng: np.random.Generator, n_experiments: int, control: float, treatment: float,
                mde: float = 0.05, alpha: float = 0.05, power: float = 0.8, icc: float = 0.3,
                jobs_per_day: int = 40, max_jobs: int = 640) -> dict:
    """Run `n_experiments` experiments read daily (`jobs_per_day` new jobs per variant); the rates of a decision,
    of a significant result and of `promote`, and the median horizon in jobs per variant."""
    shape = (n_experiments, max_jobs)
    arms = [insight_shares(rng, shape, rate, icc) for rate in (control, treatment)]
    sums = [_job_sums(shares, m) for shares, m in arms]
    sizes = [m.astype(float) for _, m in arms]
    days = np.arange(jobs_per_day, max_jobs + 1, jobs_per_day) - 1  # last job index per variant, each day

    def pooled(per_arm: list[np.ndarray]) -> np.ndarray:
        # prefix sums in arrival order, both variants together: the blinded design sees no labels
        return (np.cumsum(per_arm[0], axis=1) + np.cumsum(per_arm[1], axis=1))[:, days]

    daily = InsightSums(k=2.0 * (days + 1), n=pooled(sizes), inv_sizes=pooled([1 / m for m in sizes]),
                        sq_sizes=pooled([m ** 2 for m in sizes]), total=pooled([s[0] for s in sums]),
                        total_sq=pooled([s[1] for s in sums]),
                        between_sq=pooled([s[0] ** 2 / m for s, m in zip(sums, sizes)]))
    icc_hat, variance, _, m_h = anova_icc(daily)
    needed, _, _ = jobs_per_variant(mde, alpha, power, variance, icc_hat, m_h)
    reached = needed <= days + 1
    decided = reached.any(axis=1)
    horizon = np.where(decided, needed[np.arange(n_experiments), reached.argmax(axis=1)], max_jobs)
    first_n = np.arange(max_jobs) < horizon[:, None]
    result = welch(sums[1][2], sums[0][2], alpha, mask=first_n)
    significant = decided & (result["p_value"] < alpha)
    return {"n_experiments": n_experiments, "decided": float(decided.mean()),
            "significant": float(significant.mean()),
            "promote": float((significant & (result["difference"] > 0)).mean()),
            "median_jobs_per_variant": float(np.median(horizon[decided])) if decided.any() else None}


def fixed_n(rng: np.random.Generator, n_experiments: int, jobs: int, control: float, treatment: float,
            alpha: float = 0.05, icc: float = 0.3) -> dict:
    """Rates of a significant result and of `promote` with exactly `jobs` per variant (the report's `welch`)."""
    rates = [_job_sums(*insight_shares(rng, (n_experiments, jobs), rate, icc))[2] for rate in (control, treatment)]
    r = welch(rates[1], rates[0], alpha)
    significant = r["p_value"] < alpha
    return {"n_experiments": n_experiments, "jobs_per_variant": jobs, "significant": float(significant.mean()),
            "promote": float((significant & (r["difference"] > 0)).mean())}
