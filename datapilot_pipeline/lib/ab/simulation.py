"""Calibration of the A/B procedure by simulation, vectorized over thousands of experiments.

The generative model: each job has a latent quality p_j ~ Beta with mean mu and intra-job correlation `icc`;
each of its m_j insights (3 to 7) is good with probability p_j; each of its R_j reviewers (1 to 3) approves a
good insight with probability 1 - REVIEWER_ERROR and a bad one with probability REVIEWER_ERROR. A job's value
is its per-insight approval shares, exactly what `jobs.job_table` computes from review files. Approval rates
below are on the observed scale: mu is set so the expected approval rate is the one asked for.

`repeated_reads` runs the whole procedure as the daily asset reads it (`report.ab_report`): jobs arrive, the
plan is fixed at the experiment's first read from the jobs pooled by then (blinded: `design.anova_icc` +
`jobs_per_variant`, the report's own functions), every later read says `keep collecting` until both arms have
N jobs and then tests the first N of each (`welch`), so a verdict, once there, never changes. On the same data it
also runs the procedure this replaced (the plan re-estimated at every read), whose verdict moved after the
horizon. `python -m datapilot_pipeline.lib.ab.simulation` prints the figures the README quotes.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields

import numpy as np

from datapilot_pipeline.lib.ab.design import (MIN_DESIGN_JOBS, PLANNING_BASELINE, PLANNING_ICC, PLANNING_INSIGHTS_PER_JOB,
                                              InsightSums, anova_icc, jobs_per_variant)
from datapilot_pipeline.lib.ab.welch import welch, welch_from_moments

# verdict codes: keep collecting; keep (no significant difference); keep (fine-tuned significantly lower); promote
COLLECTING, KEEP, WORSE, PROMOTE = 0, 1, 2, 3
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


def _arm(rng: np.random.Generator, n_experiments: int, n_jobs: int, approval: float, icc: float,
         chunk: int = 128) -> dict[str, np.ndarray]:
    """Per job (shape `(n_experiments, n_jobs)`): insights m, sum and sum of squares of its insight shares, and its
    approval rate; drawn in chunks of jobs so memory stays small."""
    parts = []
    for start in range(0, n_jobs, chunk):
        shares, m = insight_shares(rng, (n_experiments, min(chunk, n_jobs - start)), approval, icc)
        total, total_sq, rate = _job_sums(shares, m)
        parts.append({"m": m.astype(float), "total": total, "total_sq": total_sq, "rate": rate})
    return {k: np.concatenate([p[k] for p in parts], axis=1) for k in ("m", "total", "total_sq", "rate")}


def _cat(*arms: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([a[k] for a in arms], axis=1) for k in arms[0]}


def _pooled_prefix(arms: list[dict[str, np.ndarray]], upto: np.ndarray) -> InsightSums:
    """The blinded design's statistics over `arms` pooled (no labels), each arm's first `upto[r]` jobs, for
    every read r: arrays of shape `(n_experiments, len(upto))`."""
    def prefix(f) -> np.ndarray:
        return sum(np.cumsum(f(a), axis=1)[:, upto - 1] for a in arms)

    return InsightSums(k=len(arms) * upto.astype(float), n=prefix(lambda a: a["m"]),
                       inv_sizes=prefix(lambda a: 1 / a["m"]), sq_sizes=prefix(lambda a: a["m"] ** 2),
                       total=prefix(lambda a: a["total"]), total_sq=prefix(lambda a: a["total_sq"]),
                       between_sq=prefix(lambda a: a["total"] ** 2 / a["m"]))


def _plus(a: InsightSums, b: InsightSums | None) -> InsightSums:
    """The statistics of two sets of jobs together (b broadcast over a's reads; None adds nothing)."""
    if b is None:
        return a
    return InsightSums(**{f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(InsightSums)})


def _needed(sums: InsightSums, mde: float, alpha: float, power: float) -> np.ndarray:
    """`design.plan` elementwise: observed ICC and variance from 50 pooled jobs on, the planning assumptions below."""
    icc, variance, _, m_h = anova_icc(sums)
    observed, _, _ = jobs_per_variant(mde, alpha, power, variance, icc, m_h)
    assumed, _, _ = jobs_per_variant(mde, alpha, power, PLANNING_BASELINE * (1 - PLANNING_BASELINE), PLANNING_ICC,
                                     PLANNING_INSIGHTS_PER_JOB)
    return np.where(sums.k >= MIN_DESIGN_JOBS, observed, assumed)


def _verdicts(control: np.ndarray, treatment: np.ndarray, analysed: np.ndarray, reached: np.ndarray,
              alpha: float) -> np.ndarray:
    """The verdict code of every read from the first `analysed` jobs of each arm (Welch, the report's test)."""
    def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s1 = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
        s2 = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x ** 2, axis=1)], axis=1)
        n = np.maximum(analysed, 2)
        mean = np.take_along_axis(s1, n, axis=1) / n
        return mean, np.maximum(np.take_along_axis(s2, n, axis=1) - n * mean ** 2, 0.0) / (n - 1)

    (mt, vt), (mc, vc) = moments(treatment), moments(control)
    n = np.maximum(analysed, 2).astype(float)
    r = welch_from_moments(mt, vt, n, mc, vc, n, alpha=alpha)
    significant = r["p_value"] < alpha
    code = np.where(significant, np.where(r["difference"] > 0, PROMOTE, WORSE), KEEP)
    return np.where(reached, code, COLLECTING)


def _summary(codes: np.ndarray, horizon_read: np.ndarray) -> dict:
    """What the reads said: share of experiments in which any read declared a winner, and how often the verdict
    changed between consecutive reads once decided."""
    decided = codes != COLLECTING
    after = decided[:, :-1] & decided[:, 1:]
    changed = (after & (codes[:, :-1] != codes[:, 1:])).any(axis=1)
    return {"decided": float(decided[:, -1].mean()),
            "promote_any_read": float((codes == PROMOTE).any(axis=1).mean()),
            "significant_any_read": float(np.isin(codes, (PROMOTE, WORSE)).any(axis=1).mean()),
            "promote_final": float((codes[:, -1] == PROMOTE).mean()),
            "changed_after_horizon": float(changed.mean()),
            "declared_before_horizon": float((decided & (np.arange(codes.shape[1]) < horizon_read[:, None])).any(axis=1).mean())}


def repeated_reads(rng: np.random.Generator, n_experiments: int, control: float, treatment: float,
                   mde: float = 0.05, alpha: float = 0.05, power: float = 0.8, icc: float = 0.3,
                   jobs_per_day: int = 40, history_jobs: int = 400, extra_days: int = 10) -> dict:
    """Run `n_experiments` experiments read every day (`jobs_per_day` new jobs per variant a day) as
    `report.ab_report` reads them: the plan is fixed at the first read (after day 1) from the jobs pooled by
    then, blinded (`history_jobs` earlier jobs of the store, reviewed before the release, plus day 1 of both arms);
    each later read says `keep collecting` until both arms have N jobs, then tests the first N jobs of each arm.
    Reads go on `extra_days` past the last horizon. Also, on the same data, the procedure this replaced (the plan
    re-estimated at every read from all jobs so far, then the first N of that read tested) for comparison.

    Returns the figures of both (`_summary`), the planned jobs per variant (median, 5% and 95% quantiles) and
    the number of reads."""
    history = [_arm(rng, n_experiments, history_jobs, control, icc)] if history_jobs else []
    day1 = [_arm(rng, n_experiments, jobs_per_day, rate, icc) for rate in (control, treatment)]
    before = _pooled_prefix(history, np.array([history_jobs])) if history else None
    first = _plus(_pooled_prefix(day1, np.array([jobs_per_day])), before)
    planned = _needed(first, mde, alpha, power)[:, 0]  # fixed once per experiment
    days = int(np.ceil(planned.max() / jobs_per_day)) + extra_days
    rest = [_arm(rng, n_experiments, (days - 1) * jobs_per_day, rate, icc) for rate in (control, treatment)]
    arms = [_cat(a, b) for a, b in zip(day1, rest)]
    available = np.arange(1, days + 1) * jobs_per_day  # jobs per arm at each read
    reached = available[None, :] >= planned[:, None]
    analysed = np.where(reached, planned[:, None], available[None, :])
    codes = _verdicts(arms[0]["rate"], arms[1]["rate"], analysed, reached, alpha)
    horizon_read = reached.argmax(axis=1)

    # the replaced procedure: re-planned from everything pooled so far at every read (history included)
    replanned = _needed(_plus(_pooled_prefix(arms, available), before), mde, alpha, power)
    re_reached = available[None, :] >= replanned
    re_codes = _verdicts(arms[0]["rate"], arms[1]["rate"], np.where(re_reached, replanned, available[None, :]),
                         re_reached, alpha)
    return {"n_experiments": n_experiments, "reads": days, "jobs_per_day": jobs_per_day,
            "history_jobs": history_jobs,
            "planned_jobs_per_variant": {"median": float(np.median(planned)),
                                         "p05": float(np.quantile(planned, 0.05)),
                                         "p95": float(np.quantile(planned, 0.95))},
            **_summary(codes, horizon_read), "replanned_every_read": _summary(re_codes, re_reached.argmax(axis=1))}


def fixed_n(rng: np.random.Generator, n_experiments: int, jobs: int, control: float, treatment: float,
            alpha: float = 0.05, icc: float = 0.3) -> dict:
    """Rates of a significant result and of `promote` with exactly `jobs` per variant (the report's `welch`)."""
    rates = [_job_sums(*insight_shares(rng, (n_experiments, jobs), rate, icc))[2] for rate in (control, treatment)]
    r = welch(rates[1], rates[0], alpha)
    significant = r["p_value"] < alpha
    return {"n_experiments": n_experiments, "jobs_per_variant": jobs, "significant": float(significant.mean()),
            "promote": float((significant & (r["difference"] > 0)).mean())}


SCENARIOS = (  # (name, control, treatment, keyword arguments of `repeated_reads`)
    ("A/A, plan from 400 earlier jobs + day 1", 0.6, 0.6, {}),
    ("A/A, new deployment: plan from day 1 only", 0.6, 0.6, {"history_jobs": 0}),
    ("+5 points, MDE 0.05 (planned power 0.8)", 0.6, 0.65, {}),
    ("+8 points, MDE 0.08 (planned power 0.8)", 0.6, 0.68, {"mde": 0.08}),
    ("+3 points, MDE 0.05 (below the MDE)", 0.6, 0.63, {}),
)


def calibration(n_experiments: int = 2000, seed: int = 0) -> list[dict]:
    """Every scenario of `SCENARIOS`, seeded: the figures of `repeated_reads` with the scenario's name."""
    rng = np.random.default_rng(seed)
    return [{"scenario": name, "control": c, "treatment": t, **kwargs,
             **repeated_reads(rng, n_experiments, c, t, **kwargs)} for name, c, t, kwargs in SCENARIOS]


def _table(rows: list[dict]) -> str:
    head = ("| scenario | jobs per variant planned (median, 5-95%) | reads | promote at any read | significant at any "
            "read | verdict changed after the horizon | same data, re-planned each read: promote / significant / changed |")
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        q, old = r["planned_jobs_per_variant"], r["replanned_every_read"]
        lines.append(f"| {r['scenario']} | {q['median']:.0f} ({q['p05']:.0f}-{q['p95']:.0f}) | {r['reads']} | "
                     f"{r['promote_any_read']:.1%} | {r['significant_any_read']:.1%} | {r['changed_after_horizon']:.1%} | "
                     f"{old['promote_any_read']:.1%} / {old['significant_any_read']:.1%} / {old['changed_after_horizon']:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datapilot_pipeline.lib.ab.simulation",
                                     description="Calibrate the A/B procedure read every day, by simulation.")
    parser.add_argument("--experiments", type=int, default=2000, help="simulated experiments per scenario")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = calibration(args.experiments, args.seed)
    print(json.dumps(rows, indent=2) if args.json else _table(rows))
    print(f"\n{args.experiments} experiments per scenario, 40 jobs per variant a day, read daily, seed {args.seed}; "
          f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
