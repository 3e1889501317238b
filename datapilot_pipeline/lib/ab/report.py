"""The A/B verdict at the job unit: a fixed-horizon test, read as often as anyone likes.

Why fixed horizon rather than an always-valid sequential test (mSPRT): the approval metric is a per-job rate
whose variance depends on the intra-job correlation, which an mSPRT would have to know in advance (its mixture
and variance are fixed up front); a fixed horizon needs only what the blinded design estimates, has the most
power for a given number of jobs, and is simple to state to a product owner ("we decide after N jobs per arm").
Daily reads stay honest because nothing is decided before the horizon and nothing after it: each experiment
(one pair of model versions, `experiments.py`) gets its plan (N per variant, MDE, alpha, power, the ICC used) at
its first read, stored and never re-estimated; the verdict is `keep collecting` until both variants have N jobs,
then the test runs once, on the first N jobs of each variant in review order, and the decision is stored, so
every later read returns the same verdict and p-value. The per-day statistic is shown for monitoring only.

At the horizon: `promote` when the fine-tuned approval rate is significantly higher (Welch's t on per-job rates,
two-sided at alpha) and no guardrail fails; otherwise `keep`. Guardrails (failing blocks a promotion, and the
asset check warns): the fine-tuned mean overall score significantly lower, or its rate of insights rejected as
hallucinated significantly higher (same test, same alpha).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import numpy as np

from datapilot_pipeline.lib.ab.assignment import CONTROL, TREATMENT
from datapilot_pipeline.lib.ab.design import plan
from datapilot_pipeline.lib.ab.experiments import (Experiment, ExperimentKey, ExperimentStore, MemoryStore, Selector,
                                                   split_experiments)
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


DEFAULTS = {"mde": 0.05, "alpha": 0.05, "power": 0.8}


class PlanConflict(ValueError):
    """Parameters that differ from the plan an experiment already has (the plan is fixed once)."""


@dataclass(frozen=True)
class Parameters:
    """The design parameters a reader passes; None means "the stored plan's, or the default for a new plan"."""

    mde: float | None = None
    alpha: float | None = None
    power: float | None = None

    def given(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def resolved(self) -> dict[str, float]:
        return {**DEFAULTS, **self.given()}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _check_plan(record: dict, params: Parameters, key: ExperimentKey) -> None:
    design = record["design"]
    changed = [f"--{k} {v:g}" for k, v in params.given().items() if not math.isclose(v, design[k], abs_tol=1e-9)]
    if changed:
        raise PlanConflict(
            f"experiment {key.id} (fine_tuned {key.fine_tuned} vs few_shot {key.few_shot}) was planned at "
            f"{record['planned_at']} with mde {design['mde']:g}, alpha {design['alpha']:g}, power {design['power']:g} "
            f"({design['jobs_needed_per_variant']} jobs per variant); {', '.join(changed)} would change it: the plan "
            "is fixed once per experiment (leave the options out to read it)")


def _decide(n: int, t: list[JobOutcome], c: list[JobOutcome], alpha: float) -> dict:
    """The verdict on the first n jobs of each variant (the caller passes exactly those)."""
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
    return {"verdict": verdict, "p_value": test["p_value"], "analysed_jobs_per_variant": n, "approval_test": test,
            "guardrails": rails, "reasons": [reason + f"; decided once, on the first {n} jobs of each variant"],
            "analysed_jobs": {CONTROL: [j.job_id for j in c], TREATMENT: [j.job_id for j in t]},
            "analysed_variants": {CONTROL: _variant_summary(c), TREATMENT: _variant_summary(t)}}


def _still_needed(n: int, t: list[JobOutcome], c: list[JobOutcome]) -> dict[str, int]:
    return {CONTROL: max(0, n - len(c)), TREATMENT: max(0, n - len(t))}


def _collecting(n: int, t: list[JobOutcome], c: list[JobOutcome], alpha: float) -> dict:
    still = _still_needed(n, t, c)
    return {"verdict": "keep collecting", "p_value": None, "analysed_jobs_per_variant": None, "approval_test": None,
            "guardrails": guardrails(t, c, alpha),  # monitoring: a failing guardrail warns before the horizon
            "reasons": [f"fixed horizon of {n} jobs per variant not reached (few_shot {len(c)}, fine_tuned "
                        f"{len(t)}): {still[CONTROL]} and {still[TREATMENT]} more jobs needed"]}


def _read(experiment: Experiment, store: ExperimentStore, params: Parameters, groups: list, now: datetime,
          planned_by: str, check: bool) -> dict:
    """One read of one experiment: its plan (fixed at the first read, with `params`), and its decision (taken
    once, when both variants first have the planned jobs), stored; later reads return the stored ones. With
    `check`, `params` that differ from the stored plan raise `PlanConflict`."""
    key = experiment.key
    record = store.plan(key)
    if record is None:
        design = plan(groups, **params.resolved())
        record = store.save_plan(key, {"planned_at": _iso(now), "planned_by": planned_by,
                                       "started_at": _iso(experiment.started_at), "design": design.to_dict()})
    if check:  # also when another reader stored its plan first
        _check_plan(record, params, key)
    n, alpha = record["design"]["jobs_needed_per_variant"], record["design"]["alpha"]
    t, c = experiment.arm(TREATMENT), experiment.arm(CONTROL)
    decision = store.decision(key)
    if decision is None and len(t) >= n and len(c) >= n:
        decision = store.save_decision(key, {"decided_at": _iso(now), **_decide(n, t[:n], c[:n], alpha)})
    body = {k: v for k, v in (decision or _collecting(n, t, c, alpha)).items()
            if k not in ("models", "experiment_id", "decided_at")}
    return {"experiment": {"id": key.id, "models": key.to_dict(), "started_at": record.get("started_at"),
                           "planned_at": record["planned_at"], "planned_by": record.get("planned_by"),
                           "decided_at": (decision or {}).get("decided_at")},
            "verdict": body.pop("verdict"), "p_value": body.pop("p_value"), "jobs_needed_per_variant": n,
            "jobs_still_needed": _still_needed(n, t, c), **body,
            "design": record["design"], "variants": {CONTROL: _variant_summary(c), TREATMENT: _variant_summary(t)},
            "daily": daily_series(experiment.jobs, alpha)}


def _select(experiments: list[Experiment], wanted: ExperimentKey | Selector | str | None,
            jobs: Sequence[JobOutcome]) -> Experiment | None:
    """The experiment a reader asks for (a key, a `Selector` by model names, or an id), else the current one: the
    latest to start. A key or a selector naming no experiment seen yet gives a new one, planned ahead of its
    first reviewed job (its few-shot model, when not named, is the latest few-shot release)."""
    if wanted is None:
        return experiments[-1] if experiments else None
    if isinstance(wanted, str):
        found = [e for e in experiments if e.key.id == wanted]
        if not found:
            known = ", ".join(e.key.id for e in experiments) or "none yet"
            raise LookupError(f"no experiment {wanted!r} (experiments: {known})")
        return found[0]
    if isinstance(wanted, ExperimentKey):
        wanted = Selector(wanted.fine_tuned, wanted.few_shot)
    found = [e for e in experiments if e.key.fine_tuned == wanted.fine_tuned
             and wanted.few_shot in (None, e.key.few_shot)]
    if found:
        return found[-1]
    few_shot = wanted.few_shot or next((j.model for j in reversed(jobs) if j.variant == CONTROL), None)
    if few_shot is None:
        raise LookupError(f"no few-shot job reviewed yet: name the few-shot model of the experiment with "
                          f"fine-tuned model {wanted.fine_tuned!r}")
    return Experiment(ExperimentKey(few_shot, wanted.fine_tuned), [], None)


def _no_experiment(table: JobTable, params: Parameters, groups: list) -> dict:
    design = plan(groups, **params.resolved())
    n = design.jobs_needed_per_variant
    t = [j for j in table.jobs if j.variant == TREATMENT]
    c = [j for j in table.jobs if j.variant == CONTROL]
    body = _collecting(n, t, c, design.alpha)
    body["reasons"] = [("no experiment yet: no reviewed job of a fine-tuned release beside the few-shot model; "
                        f"the plan below is what a first read would fix ({n} jobs per variant)")]
    return {"experiment": None, "verdict": body.pop("verdict"), "p_value": body.pop("p_value"),
            "jobs_needed_per_variant": n, "jobs_still_needed": _still_needed(n, t, c),
            **body, "design": design.to_dict(),
            "variants": {CONTROL: _variant_summary(c), TREATMENT: _variant_summary(t)},
            "daily": daily_series(table.jobs, design.alpha)}


def ab_report(table: JobTable, mde: float | None = None, alpha: float | None = None, power: float | None = None,
              *, store: ExperimentStore | None = None, experiment: ExperimentKey | Selector | str | None = None,
              now: datetime | None = None, planned_by: str = "first read") -> dict:
    """The report of the selected experiment (default: the current one, the latest to start) with the design,
    per-variant summaries, the verdict, guardrails and the per-day statistic, plus one line per experiment.

    Every experiment seen gets its plan at its first read (with the parameters given, the defaults for those
    left out) and its decision at the first read with the planned jobs in both variants, both kept in `store`
    (default: in memory, so nothing persists). Parameters that differ from the selected experiment's stored
    plan raise `PlanConflict` (other experiments keep their plans silently); an unknown id raises `LookupError`."""
    store = store if store is not None else MemoryStore()
    now = now or datetime.now(timezone.utc)
    params = Parameters(mde, alpha, power)
    groups = [j.insight_approvals for j in table.jobs]  # the blinded design pools every reviewed job
    experiments, outside = split_experiments(table.jobs)
    selected = _select(experiments, experiment, table.jobs)
    if selected is not None and all(e is not selected for e in experiments):
        experiments.append(selected)
    reads = {e.key: _read(e, store, params, groups, now, planned_by, check=e is selected) for e in experiments}
    current = reads[selected.key] if selected is not None else _no_experiment(table, params, groups)
    excluded = dict(table.excluded, jobs_outside_any_experiment=len(outside))
    return {"unit": UNIT, "method": METHOD, **current,
            "experiments": [{**r["experiment"], "verdict": r["verdict"], "p_value": r["p_value"],
                             "jobs_needed_per_variant": r["jobs_needed_per_variant"],
                             "jobs": {v: s["jobs"] for v, s in r["variants"].items()}} for r in reads.values()],
            "reviews": table.n_reviews, "excluded": {k: v for k, v in sorted(excluded.items()) if v}}


def summary_table(report: dict) -> str:
    """The printed table: one line per variant, then the design and the verdict."""
    e = report["experiment"]
    lines = [f"experiment {e['id']}: fine_tuned {e['models']['fine_tuned']} vs few_shot {e['models']['few_shot']}"
             if e else "no experiment yet (no fine-tuned release reviewed beside the few-shot model)"]
    lines.append(f"{'variant':<12}{'jobs':>7}{'approval':>10}{'overall':>9}{'halluc.':>9}")
    for name, v in report["variants"].items():
        def cell(key: str, spec: str) -> str:
            return "n/a" if v[key] is None else format(v[key], spec)
        lines.append(f"{name:<12}{v['jobs']:>7}{cell('approval_rate', '.1%'):>10}"
                     f"{cell('mean_overall_score', '.2f'):>9}{cell('hallucination_rejection_rate', '.1%'):>9}")
    d = report["design"]
    lines.append(f"\nunit: {report['unit']}; design: MDE {d['mde']:.0%}, alpha {d['alpha']}, power {d['power']}, "
                 f"ICC {d['icc']:.2f}, design effect {d['design_effect']:.2f} -> {d['jobs_needed_per_variant']} "
                 f"jobs per variant ({d['source']})"
                 + (f"; plan fixed at {e['planned_at']} ({e['planned_by']})" if e else "; not fixed yet"))
    p = report["p_value"]
    lines.append(f"verdict: {report['verdict']}" + (f" (p={p:.4g})" if p is not None else "")
                 + " - " + "; ".join(report["reasons"]))
    for rail in report["guardrails"]:
        if not rail["passed"]:
            lines.append(f"guardrail failed: {rail['name']} ({rail['harm']})")
    others = [x for x in report["experiments"] if not e or x["id"] != e["id"]]
    for x in others:
        p = "" if x["p_value"] is None else f", p={x['p_value']:.4g}"
        lines.append(f"other experiment {x['id']} (fine_tuned {x['models']['fine_tuned']}): {x['verdict']}{p}; jobs "
                     f"{x['jobs']['few_shot']} / {x['jobs']['fine_tuned']} of {x['jobs_needed_per_variant']}")
    return "\n".join(lines)


def month_report(table: JobTable, month: str, alpha: float = DEFAULTS["alpha"]) -> dict:
    """The A/B figures of one month's reviews (`table` built from the reviews written in the UTC month `month`):
    per-variant summaries, Welch's t on per-job approval rates, the guardrail tests and the per-day statistic. A
    view for monitoring, month by month: no plan is fixed and no verdict decided here; the verdict is
    `ab_report`'s, over the whole experiment, at its fixed horizon."""
    t = [j for j in table.jobs if j.variant == TREATMENT]
    c = [j for j in table.jobs if j.variant == CONTROL]
    return {"month": month, "unit": UNIT, "method": METHOD, "alpha": alpha, "reviews": table.n_reviews,
            "variants": {CONTROL: _variant_summary(c), TREATMENT: _variant_summary(t)},
            "approval_test": _test(t, c, "approval_rate", alpha), "guardrails": guardrails(t, c, alpha),
            "daily": daily_series(table.jobs, alpha) if table.jobs else [],
            "excluded": {k: v for k, v in sorted(table.excluded.items()) if v}}
