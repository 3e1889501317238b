"""The champion/challenger promotion rule: superiority on the per-example evidence score against every reference,
the guardrails, the degenerate cases, and the paired statistics underneath."""

from __future__ import annotations

import numpy as np
import pytest

from datapilot_pipeline.lib.evaluation.metrics import ExampleScore
from datapilot_pipeline.lib.evaluation.paired import (as_arrays, evidence_scores, mean_difference, per_example,
                                                      ratio_difference)
from datapilot_pipeline.lib.evaluation.promotion import (DEFAULT_MIN_EXAMPLES, PromotionRules, decide_promotion,
                                                         decision_from_dict, rules_table)

N = 40


def arm(valid, insights=2, schema=1, numbers=2, grounded=None, citing=None) -> dict:
    """Per-example counts as the runner writes them (`report["per_example"][arm]`); scalars repeat N times."""
    def column(x):
        return list(x) if isinstance(x, (list, tuple, np.ndarray)) else [x] * N

    valid, insights, schema, numbers = column(valid), column(insights), column(schema), column(numbers)
    grounded = column(numbers if grounded is None else grounded)
    counts = {"schema_pass": schema, "n_insights": [k * s for k, s in zip(insights, schema)],
              "n_valid_evidence": [v * s for v, s in zip(valid, schema)],
              "n_numbers": [m * s for m, s in zip(numbers, schema)], "n_grounded": [g * s for g, s in zip(grounded, schema)]}
    if citing is not None:
        counts["n_citing_number"] = [c * s for c, s in zip(column(citing), schema)]
    return {k: [int(x) for x in v] for k, v in counts.items()}


def report(fine_tuned: dict, few_shot: dict, champion: dict | None = None) -> dict:
    per = {"fine_tuned": fine_tuned, "few_shot": few_shot}
    if champion is not None:
        per["champion"] = champion
    return {"per_example": per}


def mixed(seed: int, p: float, n: int = N) -> list[int]:
    """Valid-evidence insights of 2 per example, Binomial(2, p)."""
    return np.random.default_rng(seed).binomial(2, p, n).tolist()


def verdicts(decision) -> dict[str, bool]:
    return {r.name: r.passed for r in decision.rules}


def failing(decision) -> list[str]:
    return [r.name for r in decision.rules if not r.passed]


def test_identical_outputs_in_every_arm_are_never_promoted():
    same = arm(mixed(0, 0.6))
    decision = decide_promotion(report(same, same, same))
    assert not decision.promote and failing(decision) == ["better than few_shot", "better than champion"]
    assert decision.numbers["diff_vs_champion"] == 0 and decision.numbers["diff_vs_champion_lower_bound"] == 0
    assert "(identical scores on all 40 examples)" in rules_table(decision)
    # even with no minimum gain, a bound of exactly 0 is not "better"
    assert not decide_promotion(report(same, same, same), PromotionRules(min_gain=0.0)).promote


@pytest.mark.parametrize("better", [1, 2, 3])
def test_equal_except_a_few_items_better_is_refused(better):
    """se = 0 on the ties must not turn one (or three) lucky examples into evidence: the t of the primary has
    (differing examples - 1) degrees of freedom; 3 of 3 by signs alone is p = 1/8."""
    reference = arm(1)
    candidate = arm([2] * better + [1] * (N - better))
    decision = decide_promotion(report(candidate, arm(0), reference), PromotionRules(min_gain=0.0))
    assert not decision.promote and failing(decision) == ["better than champion"]
    observed = {r.name: r.observed for r in decision.rules}["better than champion"]
    assert f"the arms differ on {better} of 40 examples" in observed


def test_every_example_better_by_the_same_amount_is_promoted():
    decision = decide_promotion(report(arm(2), arm(0), arm(1)))  # no spread, but on all 40 examples
    assert decision.promote and decision.numbers["diff_vs_champion_lower_bound"] == pytest.approx(0.5)


def test_clearly_better_than_both_is_promoted_and_the_table_shows_the_numbers():
    decision = decide_promotion(report(arm(mixed(1, 0.9)), arm(mixed(2, 0.4)), arm(mixed(3, 0.6))))
    assert decision.promote and all(verdicts(decision).values())
    table = rules_table(decision)
    assert "| holdout size | 40 examples | >= 30 | pass |" in table
    assert "| better than champion | " in table and "lower 95% bound of the per-example difference > +1.0%" in table
    d = np.array(mixed(1, 0.9)) / 2 - np.array(mixed(3, 0.6)) / 2
    differing = np.count_nonzero(d)
    from scipy.stats import t

    bound = d.mean() - t.ppf(0.95, differing - 1) * d.std(ddof=1) / np.sqrt(N)
    assert decision.numbers["diff_vs_champion_lower_bound"] == pytest.approx(bound)
    assert [r.name for r in decision.rules] == [
        "holdout size", "schema pass rate", "better than few_shot", "schema pass rate vs few_shot",
        "text grounding vs few_shot", "better than champion", "schema pass rate vs champion", "text grounding vs champion"]


def test_better_than_few_shot_but_worse_than_the_champion_is_refused():
    decision = decide_promotion(report(arm(mixed(1, 0.7)), arm(mixed(2, 0.3)), arm(mixed(3, 0.9))))
    assert not decision.promote and failing(decision) == ["better than champion"]
    assert verdicts(decision)["better than few_shot"]


def test_no_champion_yet_few_shot_is_the_bar():
    decision = decide_promotion(report(arm(mixed(1, 0.9)), arm(mixed(2, 0.4))))
    assert decision.promote
    assert {r.name: r.observed for r in decision.rules}["better than champion"] == "no champion yet: few-shot is the bar"


def test_references_that_fail_the_schema_score_zero_and_do_not_pass_a_near_zero_candidate():
    """The issue's case: few-shot and champion fail the schema everywhere; a candidate at 0.25% evidence accuracy
    (1 valid insight of 400) is not promoted. A schema failure is a 0, never "undefined, pass"."""
    broken = arm(0, schema=0)
    weak = arm([1] + [0] * (N - 1), insights=10, numbers=0)
    decision = decide_promotion(report(weak, broken, broken))
    assert not decision.promote and decision.numbers["fine_tuned_evidence_score"] == pytest.approx(0.1 / N)
    assert {"better than few_shot", "better than champion"} <= set(failing(decision))
    # a candidate that is actually good is better than references that produce nothing
    assert decide_promotion(report(arm(mixed(4, 0.8)), broken, broken)).promote


def test_a_schema_failure_scores_zero_per_example():
    counts = as_arrays(arm([2, 1, 0, 2] * 10, insights=[2, 2, 2, 0] * 10, schema=[1, 1, 1, 0] * 10))
    assert evidence_scores(counts).tolist()[:4] == [1.0, 0.5, 0.0, 0.0]


@pytest.mark.parametrize("candidate, rule", [
    (arm(mixed(1, 0.9), schema=[1] * 37 + [0] * 3), "schema pass rate"),  # 92.5% < 95%
    (arm(mixed(1, 0.9), grounded=0), "text grounding vs champion"),  # every stated number wrong
    (arm(mixed(1, 0.9), numbers=0), "text grounding vs champion"),  # undefined for the candidate only
    (arm(mixed(1, 0.9), citing=0), "evidence coverage vs champion"),  # no evidence cites a number any more
])
def test_each_guardrail_blocks_on_its_own(candidate, rule):
    few_shot, champion = arm(mixed(2, 0.3), citing=2), arm(mixed(3, 0.6), citing=2)
    if "n_citing_number" not in candidate:
        candidate["n_citing_number"] = candidate["n_insights"]
    decision = decide_promotion(report(candidate, few_shot, champion))
    assert not decision.promote and rule in failing(decision)
    assert {r.split(" vs ")[0] for r in failing(decision)} == {rule.split(" vs ")[0]}
    assert f"| {rule} |" in rules_table(decision) and "| FAIL |" in rules_table(decision)


def test_schema_pass_rate_guardrail_against_a_reference():
    references = arm(mixed(2, 0.3)), arm(mixed(3, 0.5))  # they never fail the schema
    one = decide_promotion(report(arm(mixed(1, 0.95), schema=[1] * 39 + [0]), *references))
    assert one.promote and one.numbers["schema_pass_rate_diff_vs_champion_lower_bound"] == pytest.approx(-0.067, abs=1e-3)
    strict = decide_promotion(report(arm(mixed(1, 0.95), schema=[1] * 39 + [0]), *references),
                              PromotionRules(schema_margin=0.05))
    assert failing(strict) == ["schema pass rate vs few_shot", "schema pass rate vs champion"]
    two = decide_promotion(report(arm(mixed(1, 0.95), schema=[1] * 38 + [0] * 2), *references))  # 95%: on target
    assert verdicts(two)["schema pass rate"] and failing(two) == failing(strict)  # but -10.9% < -10 points


def test_a_reference_without_a_stated_number_cannot_be_fallen_below():
    decision = decide_promotion(report(arm(mixed(1, 0.9)), arm(mixed(2, 0.3), numbers=0), arm(mixed(3, 0.5))))
    assert decision.promote
    assert {r.name: r.observed for r in decision.rules}["text grounding vs few_shot"].endswith(
        "undefined for few_shot, nothing to fall below")


def test_evidence_coverage_is_a_rule_only_when_every_arm_carries_it():
    names = [r.name for r in decide_promotion(report(arm(2, citing=1), arm(1, citing=1), arm(1))).rules]
    assert "evidence coverage vs few_shot" in names and "evidence coverage vs champion" not in names


def test_the_decision_dict_is_the_report_contract():
    decision = decide_promotion(report(arm(mixed(1, 0.9)), arm(mixed(2, 0.4))))
    out = decision.as_dict()
    assert set(out) == {"promote", "rules", "reasons", "numbers"} and out["promote"] is True
    assert all(set(r) == {"name", "observed", "needs", "passed"} for r in out["rules"])
    assert out["reasons"][0] == "pass: holdout size: 40 examples (needs >= 30)"
    assert decision_from_dict(out) == decision


def test_a_report_without_per_example_scores_is_refused():
    decision = decide_promotion({"fine_tuned": {"n": 60, "evidence_accuracy": 0.9}})
    assert not decision.promote and failing(decision) == ["per-example scores"]


def test_rules_are_configurable_and_validated():
    small = {k: v[:20] for k, v in arm(mixed(1, 0.95)).items()}
    few = {k: v[:20] for k, v in arm(mixed(2, 0.2)).items()}
    assert not decide_promotion(report(small, few)).promote
    assert decide_promotion(report(small, few), PromotionRules(min_examples=20)).promote
    close = report(arm(mixed(1, 0.8)), arm(mixed(1, 0.6)))
    assert decide_promotion(close).promote and not decide_promotion(close, PromotionRules(min_gain=0.5)).promote
    for bad in ({"schema_target": 1.5}, {"min_gain": -0.1}, {"alpha": 0.6}, {"min_examples": 1},
                {"grounding_margin": 1.0}, {"schema_margin": -0.01}, {"coverage_margin": 2}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            PromotionRules(**bad)
    assert PromotionRules().min_examples == DEFAULT_MIN_EXAMPLES


def _score(i: int, passed: bool, n: int, valid: int) -> ExampleScore:
    return ExampleScore(f"e{i}", passed, n if passed else 0, valid if passed else 0, 0.0, 0.0)


def test_per_example_counts_zero_a_schema_failure():
    scores = [_score(0, True, 3, 2), _score(1, False, 4, 4)]
    counts = per_example(scores)
    assert counts["schema_pass"] == [1, 0] and counts["n_insights"] == [3, 0] and counts["n_valid_evidence"] == [2, 0]


def test_the_ratio_guardrails_standard_error_agrees_with_a_bootstrap():
    rng = np.random.default_rng(0)
    k = rng.integers(1, 5, size=(2, 40))
    v = rng.binomial(k, [[0.8], [0.6]])
    out = ratio_difference(v[0], k[0], v[1], k[1])
    assert float(out.value) == pytest.approx(v[0].sum() / k[0].sum() - v[1].sum() / k[1].sum())
    idx = np.random.default_rng(1).integers(0, 40, size=(20000, 40))
    boot = v[0][idx].sum(1) / k[0][idx].sum(1) - v[1][idx].sum(1) / k[1][idx].sum(1)
    assert float(out.se) == pytest.approx(boot.std(), rel=0.1) and float(out.df) == 39
    same = ratio_difference(v[0], k[0], v[0], k[0])
    assert same.value == 0 and same.se == 0 and same.lower_bound(0.05) == 0
    assert np.isnan(ratio_difference(v[0], k[0], v[1], 0 * k[1]).value)


def test_mean_difference_counts_differing_examples_for_its_degrees_of_freedom():
    c, r = np.array([[1.0, 0.5, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0]]), np.array([[0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 0.0, 0.5]])
    out = mean_difference(c, r, ties_reduce_df=True)
    assert out.df.tolist() == [0, 3] and np.isnan(out.lower_bound(0.05)[0])  # one differing example: no bound
    assert mean_difference(c, r).df.tolist() == [3, 3]
