from __future__ import annotations

import pytest

from datapilot_pipeline.lib.evaluation.promotion import decide_promotion


def _report(ft_schema: float, ft_acc: float | None, fs_acc: float | None, diff_ci: list[float] | None) -> dict:
    diff = None if ft_acc is None or fs_acc is None else ft_acc - fs_acc
    return {"fine_tuned": {"n": 50, "schema_pass_rate": ft_schema, "evidence_accuracy": ft_acc},
            "few_shot": {"n": 50, "schema_pass_rate": 0.7, "evidence_accuracy": fs_acc},
            "comparison": {"evidence_accuracy": {"value": diff, "ci": diff_ci}}}


@pytest.mark.parametrize("ft_schema, ft_acc, fs_acc, ci, promote", [
    (0.96, 0.90, 0.85, [0.01, 0.09], True),     # better, clears the target
    (0.95, 0.80, 0.85, [-0.12, 0.02], True),    # a little worse but within the CI
    (0.95, 0.70, 0.85, [-0.25, -0.05], False),  # worse beyond the CI
    (0.94, 0.99, 0.50, [0.40, 0.58], False),    # schema pass rate below the target
    (1.00, None, 0.80, None, False),            # no schema-passing output at all
    (0.97, 0.90, None, None, True),             # nothing to compare against: the target decides
    (0.97, 0.90, 0.85, None, False),            # a comparison without a CI cannot rule out a regression
])
def test_promotion_rule(ft_schema, ft_acc, fs_acc, ci, promote):
    decision = decide_promotion(_report(ft_schema, ft_acc, fs_acc, ci))
    assert decision.promote is promote
    assert len(decision.reasons) == 2
    assert decision.numbers["fine_tuned_schema_pass_rate"] == ft_schema
    assert decision.numbers["evidence_accuracy_diff_ci"] == ci


def test_target_is_configurable_and_reasons_name_the_numbers():
    report = _report(0.90, 0.9, 0.9, [-0.05, 0.05])
    assert not decide_promotion(report).promote
    decision = decide_promotion(report, schema_target=0.9)
    assert decision.promote and "90.0%" in decision.reasons[0] and "meets" in decision.reasons[0]
    assert decision.as_dict()["numbers"]["schema_target"] == 0.9
    with pytest.raises(ValueError):
        decide_promotion(report, schema_target=1.5)
