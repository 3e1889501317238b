"""The promotion rule, as a pure decision over an evaluation report.

Promote the fine-tuned model when (1) its schema pass rate meets the target (default 0.95) and (2) its
evidence accuracy is not worse than the few-shot arm's beyond the confidence interval: the upper end of
the paired bootstrap CI of (fine-tuned - few-shot) evidence accuracy is not below zero. An undefined
evidence accuracy (no schema-passing output) never promotes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

DEFAULT_SCHEMA_TARGET = 0.95


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reasons: list[str]
    numbers: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def decide_promotion(report: dict, schema_target: float = DEFAULT_SCHEMA_TARGET) -> PromotionDecision:
    """Decision, every reason behind it, and the numbers it was made on."""
    if not 0 <= schema_target <= 1:
        raise ValueError(f"schema_target must be in [0, 1], got {schema_target}")
    ft, fs = report["fine_tuned"], report["few_shot"]
    diff = (report.get("comparison") or {}).get("evidence_accuracy") or {}
    ci = diff.get("ci")
    numbers = {
        "schema_target": schema_target,
        "fine_tuned_schema_pass_rate": ft.get("schema_pass_rate"),
        "few_shot_schema_pass_rate": fs.get("schema_pass_rate"),
        "fine_tuned_evidence_accuracy": ft.get("evidence_accuracy"),
        "few_shot_evidence_accuracy": fs.get("evidence_accuracy"),
        "evidence_accuracy_diff": diff.get("value"),
        "evidence_accuracy_diff_ci": ci,
        "n": ft.get("n"),
    }
    reasons: list[str] = []
    schema_ok = ft.get("schema_pass_rate") is not None and ft["schema_pass_rate"] >= schema_target
    reasons.append(f"fine-tuned schema pass rate {_pct(ft.get('schema_pass_rate'))} "
                   f"{'meets' if schema_ok else 'is below'} the target {_pct(schema_target)}")

    ft_acc, fs_acc = ft.get("evidence_accuracy"), fs.get("evidence_accuracy")
    if ft_acc is None:
        evidence_ok = False
        reasons.append("fine-tuned evidence accuracy is undefined (no schema-passing output)")
    elif fs_acc is None:
        evidence_ok = True
        reasons.append(f"fine-tuned evidence accuracy {_pct(ft_acc)}; few-shot has no schema-passing output to compare")
    elif ci is None:
        evidence_ok = False
        reasons.append("no confidence interval for the evidence-accuracy difference; cannot rule out a regression")
    else:
        evidence_ok = ci[1] >= 0
        verdict = "not worse than" if evidence_ok else "worse than"
        reasons.append(f"fine-tuned evidence accuracy {_pct(ft_acc)} is {verdict} few-shot {_pct(fs_acc)} "
                       f"beyond the CI (difference {diff.get('value'):+.1%}, CI [{ci[0]:+.1%}, {ci[1]:+.1%}])")
    return PromotionDecision(promote=schema_ok and evidence_ok, reasons=reasons, numbers=numbers)
