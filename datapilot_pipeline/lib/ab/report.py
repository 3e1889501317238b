"""The A/B verdict at the job unit: a fixed-horizon test, read as often as anyone likes.

Why fixed horizon rather than an always-valid sequential test (mSPRT): the approval metric is a per-job rate
whose variance depends on the intra-job correlation, which an mSPRT would have to know in advance (its mixture
and variance are fixed up front); a fixed horizon needs only what the blinded design estimates, has the most
power for a given number of jobs, and is simple to state to a product owner ("we decide after N jobs per arm").
Daily reads stay honest because nothing is decided before the horizon: the verdict is `keep collecting` until
both variants have the planned number of jobs, and then the test runs once, on the first N jobs of each variant
in review order, so later reads return the same answer. The per-day statistic is shown for monitoring only.

At the horizon: `promote` when the fine-tuned approval rate is significantly higher (Welch's t on per-job rates,
two-sided at alpha) and no guardrail fails; otherwise `keep`. Guardrails (failing blocks a promotion, and the
asset check warns): the fine-tuned mean overall score significantly lower, or its rate of insights rejected as
hallucinated significantly higher (same test, same alpha).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from datapilot_pipeline.lib.ab.assignment import CONTROL, TREATMENT
from datapilot_pipeline.lib.ab.design import Design, plan
from datapilot_pipeline.lib.ab.jobs import JobOutcome, JobTable
from datapilot_pipeline.lib.ab.welch import welch, welch_from_moments

UNIT = "job"
METHOD = "fixed horizon; Welch's t-test on per-job approval rates (one value per job: reviewers' consensus)"
GUARDRAILS = {  # metric -> (job attribute, direction that harms)
    "mean_overall_score": ("overall_score", "lower"),
    "hallucination_rejection_rate": ("hallucination_rate", "higher"),
}


def _values(jobs: Sequence[JobOutcome], attribute: str) -> np.ndarray:
    if attribute == "approval_rate":
        return np.array([j.approval_rate for j in jobs], dtype=float)
    return np.array([getattr(j, attribute) for j in jobs], dtype=float)


def _test(treatment: Sequence[JobOutcome], control: Sequence[JobOutcome], attribute: str, alpha: float) -> dict | None:
    if len(treatment) < 2 or len(control) < 2:
        return None
    r = welch(_values(treatment, attribute), _values(control, attribute), alpha)
    return {k: round(float(v), 6) for k, v in r.items()}


def _variant_summary(jobs: Sequence[JobOutcome]) -> dict:
    def mean(attribute: str) -> float | None:
        return round(float(_values(jobs, attribute).mean()), 6) if jobs else None

    return {"jobs": len(jobs), "reviewed_insights": sum(len(j.insight_approvals) for j in jobs),
            "reviews": sum(j.n_reviewers for j in jobs), "approval_rate": mean("approval_rate"),
            "mean_overall_score": mean("overall_score"), "hallucination_rejection_rate": mean("hallucination_rate")}


def guardrails(treatment: Sequence[JobOutcome], control: Sequence[JobOutcome], alpha: float) -> list[dict]:
    out = []
    for name, (attribute, harm) in GUARDRAILS.items():
        test = _test(treatment, control, attribute, alpha)
        failed = test is not None and test["p_value"] < alpha and (
            test["difference"] < 0 if harm == "lower" else test["difference"] > 0)
        out.append({"name": name, "passed": not failed, "harm": f"fine_tuned significantly {harm}", "test": test})
    return out


def _cumulative(jobs: Sequence[JobOutcome], variant: str, days: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per day: jobs of `variant` first reviewed by then, their mean approval rate and its sample variance."""
    arm = [j for j in jobs if j.variant == variant]  # `jobs` is in review order
    dates = np.array([j.first_reviewed_at.date() for j in arm], dtype="datetime64[D]")
    x = _values(arm, "approval_rate")
    s1, s2 = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(x ** 2)])
    n = np.searchsorted(dates, days, side="right")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1[n] / n
        var = (s2[n] - n * mean ** 2) / (n - 1)
    return n, mean, np.maximum(var, 0.0)


def daily_series(jobs: Sequence[JobOutcome], alpha: float) -> list[dict]:
    """Per review day (UTC), cumulative jobs per variant, approval rates and the Welch statistic (monitoring only;
    the verdict is taken once, at the horizon)."""
    days = np.unique(np.array([j.first_reviewed_at.date() for j in jobs], dtype="datetime64[D]"))
    nt, mt, vt = _cumulative(jobs, TREATMENT, days)
    nc, mc, vc = _cumulative(jobs, CONTROL, days)
    testable = (nt >= 2) & (nc >= 2)
    stats = welch_from_moments(mt[testable], vt[testable], nt[testable], mc[testable], vc[testable], nc[testable],
                               alpha=alpha) if testable.any() else {}
    index = np.cumsum(testable) - 1
    out = []
    for k, day in enumerate(days):
        def stat(key: str) -> float | None:
            return round(float(stats[key][index[k]]), 6) if testable[k] else None

        def rate(n: np.ndarray, mean: np.ndarray) -> float | None:
            return round(float(mean[k]), 6) if n[k] else None

        out.append({"date": str(day), "jobs": {CONTROL: int(nc[k]), TREATMENT: int(nt[k])},
                    "approval_rate": {CONTROL: rate(nc, mc), TREATMENT: rate(nt, mt)},
                    "difference": stat("difference"), "t": stat("t"), "p_value": stat("p_value")})
    return out


def _verdict(design: Design, t: list[JobOutcome], c: list[JobOutcome], alpha: float) -> dict:
    n = design.jobs_needed_per_variant
    still = {CONTROL: max(0, n - len(c)), TREATMENT: max(0, n - len(t))}
    if any(still.values()):
        return {"verdict": "keep collecting", "p_value": None, "analysed_jobs_per_variant": None,
                "jobs_still_needed": still, "approval_test": None, "guardrails": guardrails(t, c, alpha),
                "reasons": [f"fixed horizon of {n} jobs per variant not reached (few_shot {len(c)}, fine_tuned "
                            f"{len(t)}): {still[CONTROL]} and {still[TREATMENT]} more jobs needed"]}
    t, c = t[:n], c[:n]  # the first n jobs of each variant: the verdict does not move as later data arrive
    test = _test(t, c, "approval_rate", alpha)
    rails = guardrails(t, c, alpha)
    failed = [g["name"] for g in rails if not g["passed"]]
    better = test["p_value"] < alpha and test["difference"] > 0
    if better and not failed:
        verdict, reason = "promote", f"fine_tuned approval higher by {test['difference']:+.1%} (p={test['p_value']:.4g})"
    elif better:
        verdict, reason = "keep", f"fine_tuned approval is higher but guardrails fail: {', '.join(failed)}"
    elif test["p_value"] < alpha:
        verdict, reason = "keep", f"fine_tuned approval lower by {test['difference']:+.1%} (p={test['p_value']:.4g})"
    else:
        verdict, reason = "keep", (f"no significant approval difference at the horizon ({test['difference']:+.1%}, "
                                   f"p={test['p_value']:.4g})")
    return {"verdict": verdict, "p_value": test["p_value"], "analysed_jobs_per_variant": n,
            "jobs_still_needed": still, "approval_test": test, "guardrails": rails, "reasons": [reason]}


def ab_report(table: JobTable, mde: float = 0.05, alpha: float = 0.05, power: float = 0.8) -> dict:
    """Design, per-variant summaries, the verdict, guardrails, exclusions and the per-day statistic."""
    design = plan([j.insight_approvals for j in table.jobs], mde, alpha, power)
    t = [j for j in table.jobs if j.variant == TREATMENT]
    c = [j for j in table.jobs if j.variant == CONTROL]
    decision = _verdict(design, t, c, alpha)
    return {"unit": UNIT, "method": METHOD, "verdict": decision.pop("verdict"), "p_value": decision.pop("p_value"),
            "jobs_needed_per_variant": design.jobs_needed_per_variant, **decision,
            "design": design.to_dict(), "variants": {CONTROL: _variant_summary(c), TREATMENT: _variant_summary(t)},
            "reviews": table.n_reviews, "excluded": {k: v for k, v in sorted(table.excluded.items()) if v},
            "daily": daily_series(table.jobs, alpha)}


def summary_table(report: dict) -> str:
    """The printed table: one line per variant, then the design and the verdict."""
    lines = [f"{'variant':<12}{'jobs':>7}{'approval':>10}{'overall':>9}{'halluc.':>9}"]
    for name, v in report["variants"].items():
        def cell(key: str, spec: str) -> str:
            return "n/a" if v[key] is None else format(v[key], spec)
        lines.append(f"{name:<12}{v['jobs']:>7}{cell('approval_rate', '.1%'):>10}"
                     f"{cell('mean_overall_score', '.2f'):>9}{cell('hallucination_rejection_rate', '.1%'):>9}")
    d = report["design"]
    lines.append(f"\nunit: {report['unit']}; design: MDE {d['mde']:.0%}, alpha {d['alpha']}, power {d['power']}, "
                 f"ICC {d['icc']:.2f}, design effect {d['design_effect']:.2f} -> {d['jobs_needed_per_variant']} "
                 f"jobs per variant ({d['source']})")
    p = report["p_value"]
    lines.append(f"verdict: {report['verdict']}" + (f" (p={p:.4g})" if p is not None else "")
                 + " - " + "; ".join(report["reasons"]))
    for rail in report["guardrails"]:
        if not rail["passed"]:
            lines.append(f"guardrail failed: {rail['name']} ({rail['harm']})")
    return "\n".join(lines)
