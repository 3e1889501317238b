"""The promotion rule, champion / challenger, as a pure decision over an evaluation report.

The candidate (the `fine_tuned` arm) is promoted only when every rule passes:
1. the holdout has at least `min_examples` examples;
2. its schema pass rate meets `schema_target`;
3. its evidence accuracy is defined and above zero;
4. it is non-inferior to the few-shot arm: the one-sided (1 - alpha) lower bound of the paired
   (candidate - few-shot) evidence-accuracy difference is above `-margin`;
5. it is non-inferior to the current champion by the same test, when a champion was evaluated in the same
   run on the same holdout (no champion yet: the rule passes, and says so).
Undefined numbers never pass a rule, except a reference arm with no schema-passing output at all, which the
candidate (whose accuracy is defined, rule 3) cannot be worse than. Calibrated by simulation in
`lib/evaluation/calibration.py`; the figures are in the README.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from datapilot_pipeline.lib.evaluation.noninferiority import DEFAULT_ALPHA, DEFAULT_MARGIN, lower_bound

DEFAULT_SCHEMA_TARGET = 0.95
DEFAULT_MIN_EXAMPLES = 30
REFERENCES = ("few_shot", "champion")


@dataclass(frozen=True)
class PromotionRules:
    schema_target: float = DEFAULT_SCHEMA_TARGET
    margin: float = DEFAULT_MARGIN
    alpha: float = DEFAULT_ALPHA
    min_examples: int = DEFAULT_MIN_EXAMPLES

    def __post_init__(self) -> None:
        if not 0 <= self.schema_target <= 1:
            raise ValueError(f"schema_target must be in [0, 1], got {self.schema_target}")
        if not 0 <= self.margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {self.margin}")
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if self.min_examples < 2:
            raise ValueError(f"min_examples must be >= 2, got {self.min_examples}")


@dataclass(frozen=True)
class Rule:
    name: str
    passed: bool
    observed: str
    required: str


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    rules: list[Rule]
    numbers: dict = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        return [f"{'pass' if r.passed else 'FAIL'}: {r.name}: {r.observed} (needs {r.required})" for r in self.rules]

    def as_dict(self) -> dict:
        return {**asdict(self), "reasons": self.reasons}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _noninferior(name: str, report: dict, rules: PromotionRules, numbers: dict) -> Rule:
    required = f"lower {1 - rules.alpha:.0%} bound of the difference > {-rules.margin:+.1%}"
    reference = report.get(name)
    if reference is None:
        return Rule(f"non-inferior to {name}", True, f"no {name} to compare with", required)
    diff = (report.get("noninferiority") or {}).get(name) or {}
    value, se, n = diff.get("value"), diff.get("se"), diff.get("n") or 0
    candidate_acc = report["fine_tuned"].get("evidence_accuracy")
    if reference.get("evidence_accuracy") is None and candidate_acc is not None:
        return Rule(f"non-inferior to {name}", True, f"{name} has no schema-passing output", required)
    if value is None or se is None:
        return Rule(f"non-inferior to {name}", False, "difference undefined", required)
    bound = float(lower_bound(value, se, n, rules.alpha))
    numbers[f"{name}_evidence_accuracy"] = reference.get("evidence_accuracy")
    numbers[f"diff_vs_{name}"], numbers[f"diff_vs_{name}_lower_bound"] = value, bound
    observed = (f"{_pct(candidate_acc)} vs {_pct(reference.get('evidence_accuracy'))}: difference {value:+.1%}, "
                f"lower bound {bound:+.1%}")
    return Rule(f"non-inferior to {name}", bound > -rules.margin, observed, required)


def decide_promotion(report: dict, rules: PromotionRules | None = None) -> PromotionDecision:
    """Decision, every rule with its numbers and verdict, and the numbers it was made on."""
    rules = rules or PromotionRules()
    ft = report["fine_tuned"]
    n, schema, accuracy = ft.get("n") or 0, ft.get("schema_pass_rate"), ft.get("evidence_accuracy")
    numbers: dict = {**asdict(rules), "n": n, "fine_tuned_schema_pass_rate": schema,
                     "fine_tuned_evidence_accuracy": accuracy}
    checks = [
        Rule("holdout size", n >= rules.min_examples, f"{n} examples", f">= {rules.min_examples}"),
        Rule("schema pass rate", schema is not None and schema >= rules.schema_target, _pct(schema),
             f">= {_pct(rules.schema_target)}"),
        Rule("evidence accuracy defined", accuracy is not None and accuracy > 0, _pct(accuracy), "> 0%"),
        *(_noninferior(name, report, rules, numbers) for name in REFERENCES),
    ]
    return PromotionDecision(promote=all(r.passed for r in checks), rules=checks, numbers=numbers)


def rules_table(decision: PromotionDecision) -> str:
    """Every rule as a Markdown table row: what was observed, what it needs, pass or FAIL."""
    rows = ["| rule | observed | needs | verdict |", "| --- | --- | --- | --- |"]
    rows += [f"| {r.name} | {r.observed} | {r.required} | {'pass' if r.passed else 'FAIL'} |" for r in decision.rules]
    return "\n".join(rows)
