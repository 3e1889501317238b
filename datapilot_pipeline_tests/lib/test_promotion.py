"""The champion/challenger promotion rule: every rule on its own, the paired statistic, and its calibration."""

from __future__ import annotations

import numpy as np
import pytest

from datapilot_pipeline.lib.evaluation.calibration import promotion_rate
from datapilot_pipeline.lib.evaluation.metrics import ExampleScore
from datapilot_pipeline.lib.evaluation.noninferiority import paired_evidence_difference, ratio_difference
from datapilot_pipeline.lib.evaluation.promotion import (DEFAULT_MIN_EXAMPLES, PromotionRules, decide_promotion,
                                                         rules_table)


def _report(n=60, schema=0.97, acc=0.8, fs_acc=0.75, fs_diff=(0.05, 0.02), champion=None) -> dict:
    """A report as the runner writes it; `*_diff` is (value, se) of (candidate - reference) evidence accuracy."""
    report = {"fine_tuned": {"n": n, "schema_pass_rate": schema, "evidence_accuracy": acc},
              "few_shot": {"n": n, "schema_pass_rate": 0.7, "evidence_accuracy": fs_acc},
              "noninferiority": {"few_shot": {"value": fs_diff[0], "se": fs_diff[1], "n": n}}}
    if champion is not None:
        champion_acc, value, se = champion
        report["champion"] = {"n": n, "schema_pass_rate": 0.97, "evidence_accuracy": champion_acc}
        report["noninferiority"]["champion"] = {"value": value, "se": se, "n": n}
    return report


def _verdicts(decision) -> dict[str, bool]:
    return {r.name: r.passed for r in decision.rules}


def test_a_good_candidate_passes_every_rule_and_the_table_shows_the_numbers():
    decision = decide_promotion(_report(champion=(0.78, 0.02, 0.02)))
    assert decision.promote and all(_verdicts(decision).values()) and len(decision.rules) == 5
    table = rules_table(decision)
    assert "| non-inferior to champion | 80.0% vs 78.0%: difference +2.0%, lower bound -1.3% |" in table
    assert "| holdout size | 60 examples | >= 30 | pass |" in table
    assert decision.numbers["diff_vs_few_shot_lower_bound"] == pytest.approx(0.05 - 1.6711 * 0.02, abs=1e-4)


@pytest.mark.parametrize("changes, failing", [
    ({"n": 20}, "holdout size"),
    ({"schema": 0.94}, "schema pass rate"),
    ({"schema": None}, "schema pass rate"),
    ({"acc": 0.0, "fs_acc": 0.0, "fs_diff": (0.0, 0.0)}, "evidence accuracy defined"),  # 0% in both arms
    ({"acc": None, "fs_diff": (None, None)}, "evidence accuracy defined"),
    ({"fs_diff": (-0.02, 0.03)}, "non-inferior to few_shot"),  # lower bound -7.0% < -5%
    ({"fs_diff": (0.01, None)}, "non-inferior to few_shot"),  # no standard error: cannot rule out a regression
    ({"champion": (0.9, -0.10, 0.02)}, "non-inferior to champion"),  # champion clearly better
])
def test_each_rule_blocks_promotion_on_its_own(changes, failing):
    decision = decide_promotion(_report(**changes))
    verdicts = _verdicts(decision)
    assert not decision.promote and verdicts[failing] is False
    assert [name for name, ok in verdicts.items() if not ok] in ([failing], [failing, "non-inferior to few_shot"])
    assert f"| {failing} |" in rules_table(decision) and "| FAIL |" in rules_table(decision)


def test_no_champion_yet_and_a_reference_without_output():
    decision = decide_promotion(_report(fs_acc=None, fs_diff=(None, None)))
    assert decision.promote
    assert {r.name: r.observed for r in decision.rules}["non-inferior to champion"] == "no champion to compare with"


def test_rules_are_configurable_and_validated():
    assert decide_promotion(_report(n=20), PromotionRules(min_examples=20)).promote
    assert not decide_promotion(_report(fs_diff=(0.0, 0.02)), PromotionRules(margin=0.01)).promote
    for bad in ({"schema_target": 1.5}, {"margin": -0.1}, {"alpha": 0.6}, {"min_examples": 1}):
        with pytest.raises(ValueError):
            PromotionRules(**bad)


def _score(i: int, passed: bool, n: int, valid: int) -> ExampleScore:
    return ExampleScore(f"e{i}", passed, n if passed else 0, valid if passed else 0, 0.0, 0.0)


def test_paired_difference_is_the_ratio_difference_with_a_paired_standard_error():
    rng = np.random.default_rng(0)
    k = rng.integers(1, 5, size=(2, 40))
    v = rng.binomial(k, [[0.8], [0.6]])
    cand = [_score(i, True, int(k[0, i]), int(v[0, i])) for i in range(40)]
    ref = [_score(i, i % 10 != 0, int(k[1, i]), int(v[1, i])) for i in range(40)]
    out = paired_evidence_difference(cand, ref)
    kr, vr = k[1] * (np.arange(40) % 10 != 0), v[1] * (np.arange(40) % 10 != 0)
    assert out["value"] == pytest.approx(v[0].sum() / k[0].sum() - vr.sum() / kr.sum())
    # the delta-method standard error agrees with a bootstrap of the same paired examples
    idx = np.random.default_rng(1).integers(0, 40, size=(20000, 40))
    boot = v[0][idx].sum(1) / k[0][idx].sum(1) - vr[idx].sum(1) / kr[idx].sum(1)
    assert out["se"] == pytest.approx(boot.std(), rel=0.1)
    same, se = ratio_difference(v[0], k[0], v[0], k[0])
    assert same == 0 and se == 0
    with pytest.raises(ValueError, match="same examples"):
        paired_evidence_difference(cand, ref[::-1])


def test_calibration_worse_candidates_rarely_promoted_better_ones_usually():
    """The issue's figures, by simulation (4,000 evaluations each; README has the full table)."""
    assert promotion_rate(-0.10, DEFAULT_MIN_EXAMPLES, runs=4000, seed=11) <= 0.05
    assert promotion_rate(-0.05, 100, runs=4000, seed=12) <= 0.07  # at the margin: about alpha
    assert promotion_rate(+0.10, 200, runs=4000, seed=13) >= 0.80
    assert promotion_rate(+0.10, DEFAULT_MIN_EXAMPLES - 1, runs=100, seed=14) == 0.0  # below the minimum n
