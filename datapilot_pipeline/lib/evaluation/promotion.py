"""The promotion rule, champion / challenger: promote the candidate (the `fine_tuned` arm) only when it is BETTER.

Primary metric: the evidence score per holdout example over all examples (`lib/evaluation/paired.py`: valid-evidence
insights / insights of a schema-passing reply, 0 for a schema failure, in every arm). Every rule must pass:
1. the holdout has at least `min_examples` examples;
2. the candidate's schema pass rate is at least `schema_target`;
3. superiority against EVERY reference evaluated in the run, few-shot always and the champion when there is one: the
   one-sided (1 - alpha) lower bound of the mean paired difference is above `min_gain`. This is an
   intersection-union test: each comparison at alpha keeps the chance of promoting a candidate that is not better
   than all references at alpha. Identical outputs give the bound 0 and are never promoted;
4. non-inferiority guardrails against the same references, each with its own margin: schema pass rate, text
   grounding and (when the scores carry it) evidence coverage; the lower bound of (candidate - reference) must be
   above -margin. A ratio that is undefined for the candidate (no number stated; no insight) fails when the
   reference's is defined; undefined for the reference passes (there is nothing to fall below).
No champion yet: the rules table says so and few-shot is the bar. `judge` is the rule on arrays with leading batch
axes; `decide_promotion` applies it to one report, and `lib/evaluation/calibration.py` to thousands of simulated
evaluations, so the calibration in the README is that of the deployed rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from datapilot_pipeline.lib.evaluation.paired import PRIMARY, Paired, as_arrays, compare

if TYPE_CHECKING:
    import numpy as np

DEFAULT_ALPHA = 0.05  # one-sided, per comparison (and for the family: intersection-union)
DEFAULT_MIN_GAIN = 0.01  # evidence score, absolute: a gain the lower bound puts above one point
DEFAULT_SCHEMA_TARGET = 0.95
DEFAULT_SCHEMA_MARGIN = 0.10
DEFAULT_GROUNDING_MARGIN = 0.15
DEFAULT_COVERAGE_MARGIN = 0.15
DEFAULT_MIN_EXAMPLES = 30
CANDIDATE = "fine_tuned"
REFERENCES = ("few_shot", "champion")
GUARDRAILS = (("schema_pass_rate", "schema pass rate", "schema_margin"),
              ("text_grounding", "text grounding", "grounding_margin"),
              ("evidence_coverage", "evidence coverage", "coverage_margin"))


@dataclass(frozen=True)
class PromotionRules:
    min_gain: float = DEFAULT_MIN_GAIN
    alpha: float = DEFAULT_ALPHA
    schema_target: float = DEFAULT_SCHEMA_TARGET
    schema_margin: float = DEFAULT_SCHEMA_MARGIN
    grounding_margin: float = DEFAULT_GROUNDING_MARGIN
    coverage_margin: float = DEFAULT_COVERAGE_MARGIN
    min_examples: int = DEFAULT_MIN_EXAMPLES

    def __post_init__(self) -> None:
        for name in ("min_gain", "schema_margin", "grounding_margin", "coverage_margin"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.schema_target <= 1:
            raise ValueError(f"schema_target must be in [0, 1], got {self.schema_target}")
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if self.min_examples < 2:
            raise ValueError(f"min_examples must be >= 2, got {self.min_examples}")


@dataclass(frozen=True)
class Rule:
    name: str
    observed: str
    needs: str
    passed: bool


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    rules: list[Rule]
    numbers: dict = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        return [f"{'pass' if r.passed else 'FAIL'}: {r.name}: {r.observed} (needs {r.needs})" for r in self.rules]

    def as_dict(self) -> dict:
        """The report's `promotion`: `promote`, `rules` [{name, observed, needs, passed}], `reasons`, `numbers`."""
        return {"promote": self.promote, "rules": [asdict(r) for r in self.rules], "reasons": self.reasons,
                "numbers": dict(self.numbers)}


@dataclass(frozen=True)
class Check:
    """One rule over a batch of evaluations: `passed` (bool array) and, for a comparison, its figures."""

    name: str
    passed: np.ndarray
    reference: str | None = None
    metric: str | None = None
    paired: Paired | None = None
    bound: np.ndarray | None = None
    threshold: float | None = None


def judge(candidate: dict[str, np.ndarray], references: dict[str, dict[str, np.ndarray]],
          rules: PromotionRules) -> list[Check]:
    """Every rule on per-example counts (`paired.as_arrays`; examples on the last axis, any leading batch axes)."""
    import numpy as np

    n = candidate["schema_pass"].shape[-1]
    batch = candidate["schema_pass"].shape[:-1]
    checks = [Check("holdout size", np.full(batch, n >= rules.min_examples)),
              Check("schema pass rate", candidate["schema_pass"].mean(axis=-1) >= rules.schema_target)]
    for ref, counts in references.items():
        comparisons = compare(candidate, counts)
        primary = comparisons[PRIMARY]
        bound = primary.lower_bound(rules.alpha)
        checks.append(Check(f"better than {ref}", bound > rules.min_gain, ref, PRIMARY, primary, bound, rules.min_gain))
        for metric, label, margin_name in GUARDRAILS:
            if metric not in comparisons:
                continue
            paired, margin = comparisons[metric], getattr(rules, margin_name)
            bound = paired.lower_bound(rules.alpha)
            passed = np.where(np.isnan(paired.reference), True,
                              np.where(np.isnan(paired.candidate), False, bound > -margin))
            checks.append(Check(f"{label} vs {ref}", passed, ref, metric, paired, bound, -margin))
    return checks


def promoted(checks: list[Check]) -> np.ndarray:
    import numpy as np

    return np.logical_and.reduce([np.asarray(c.passed, dtype=bool) for c in checks])


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value) -> float | None:
    import math

    return None if value is None or not math.isfinite(float(value)) else float(value)


def _describe(check: Check, n: int, rules: PromotionRules, candidate_schema: float) -> Rule:
    bound_text = f"lower {1 - rules.alpha:.0%} bound of the"
    if check.name == "holdout size":
        return Rule(check.name, f"{n} examples", f">= {rules.min_examples}", bool(check.passed))
    if check.name == "schema pass rate":
        return Rule(check.name, _pct(candidate_schema), f">= {_pct(rules.schema_target)}", bool(check.passed))
    p = check.paired
    cand, ref, value, bound = (_num(x) for x in (p.candidate, p.reference, p.value, check.bound))
    if check.metric == PRIMARY:
        needs = f"{bound_text} per-example difference > {rules.min_gain:+.1%}"
        differing = int(p.df) + 1  # the primary's t has (differing examples - 1) degrees of freedom
        head = f"{_pct(cand)} vs {_pct(ref)} per example: difference {value:+.1%}, lower bound "
        if differing == 0:
            observed = f"{head}{bound:+.1%} (identical scores on all {n} examples)"
        elif bound is None:
            observed = f"{head}n/a (the arms differ on {differing} of {n} examples: too few to tell)"
        else:
            observed = f"{head}{bound:+.1%} (the arms differ on {differing} of {n} examples)"
        return Rule(check.name, observed, needs, bool(check.passed))
    needs = f"{bound_text} difference > {check.threshold:+.1%}"
    if ref is None and cand is None:
        observed = "n/a vs n/a: undefined in both arms, nothing to compare"
    elif ref is None:
        observed = f"{_pct(cand)} vs n/a: undefined for {check.reference}, nothing to fall below"
    elif cand is None:
        observed = f"n/a vs {_pct(ref)}: undefined for the candidate"
    else:
        observed = f"{_pct(cand)} vs {_pct(ref)}: difference {value:+.1%}, lower bound " + (
            "n/a" if bound is None else f"{bound:+.1%}")
    return Rule(check.name, observed, needs, bool(check.passed))


def _no_champion() -> Rule:
    return Rule("better than champion", "no champion yet: few-shot is the bar", "a champion, when there is one", True)


def decide_promotion(report: dict, rules: PromotionRules | None = None) -> PromotionDecision:
    """The decision on one evaluation report (its `per_example` counts), every rule with its numbers and verdict."""
    import numpy as np

    rules = rules or PromotionRules()
    per = report.get("per_example") or {}
    numbers: dict = {**asdict(rules)}
    if CANDIDATE not in per or "few_shot" not in per:
        rule = Rule("per-example scores", "the report holds no per-example scores of the candidate and few-shot",
                    "per-example scores of every arm", False)
        return PromotionDecision(False, [rule], numbers)
    candidate = as_arrays(per[CANDIDATE])
    references = {ref: as_arrays(per[ref]) for ref in REFERENCES if ref in per}
    n = int(candidate["schema_pass"].shape[-1])
    schema = float(np.mean(candidate["schema_pass"])) if n else 0.0
    checks = judge(candidate, references, rules)
    numbers.update({"n": n, "fine_tuned_schema_pass_rate": schema})
    for check in checks:
        if check.metric == PRIMARY:
            numbers["fine_tuned_evidence_score"] = _num(check.paired.candidate)
            numbers[f"{check.reference}_evidence_score"] = _num(check.paired.reference)
            numbers[f"diff_vs_{check.reference}"] = _num(check.paired.value)
            numbers[f"diff_vs_{check.reference}_lower_bound"] = _num(check.bound)
        elif check.metric is not None:
            numbers[f"{check.metric}_diff_vs_{check.reference}_lower_bound"] = _num(check.bound)
    described = [_describe(c, n, rules, schema) for c in checks]
    if "champion" not in references:
        described.insert(max(i for i, c in enumerate(checks) if c.reference == "few_shot") + 1, _no_champion())
    return PromotionDecision(bool(promoted(checks)), described, numbers)


def rules_table(decision: PromotionDecision) -> str:
    """Every rule as a Markdown table row: what was observed, what it needs, pass or FAIL."""
    rows = ["| rule | observed | needs | verdict |", "| --- | --- | --- | --- |"]
    rows += [f"| {r.name} | {r.observed} | {r.needs} | {'pass' if r.passed else 'FAIL'} |" for r in decision.rules]
    return "\n".join(rows)


def decision_from_dict(promotion: dict) -> PromotionDecision:
    """A decision read back from a report's or an asset's `promotion` dict."""
    return PromotionDecision(bool(promotion["promote"]), [Rule(**r) for r in promotion["rules"]],
                             dict(promotion.get("numbers") or {}))
