from __future__ import annotations

import math

import pytest

from datapilot_pipeline.lib.abtest import (VariantSample, ab_report, assign_variant, mann_whitney,
                                           required_sample_size, samples_from_feedback, two_proportion_ztest,
                                           wilson_interval)


def test_assignment_is_sticky_and_near_the_split():
    ids = [f"job_{n}" for n in range(10_000)]
    first = [assign_variant(i) for i in ids]
    assert first == [assign_variant(i) for i in ids]
    share = first.count("fine_tuned") / len(ids)
    assert abs(share - 0.5) < 0.02  # binomial sd at n=10k is 0.005
    share20 = [assign_variant(i, split=0.2) for i in ids].count("fine_tuned") / len(ids)
    assert abs(share20 - 0.2) < 0.02
    # monotone in the split: a job in the treatment at 20% stays there at 50%
    assert all(assign_variant(i, 0.5) == "fine_tuned" for i in ids[:500] if assign_variant(i, 0.2) == "fine_tuned")
    assert {assign_variant(i, 0.0) for i in ids[:100]} == {"few_shot"}
    assert {assign_variant(i, 1.0) for i in ids[:100]} == {"fine_tuned"}
    other_salt = [assign_variant(i, salt="exp-2") for i in ids[:1000]]
    assert other_salt != first[:1000]
    with pytest.raises(ValueError):
        assign_variant("x", split=1.5)


def test_two_proportion_ztest_matches_hand_computation():
    # p1 = 0.60, p2 = 0.45, pooled 0.525, se = sqrt(0.525 * 0.475 * (1/100 + 1/100)) = 0.0706222
    result = two_proportion_ztest(60, 100, 45, 100)
    assert result["difference"] == pytest.approx(0.15)
    assert result["z"] == pytest.approx(0.15 / 0.0706222, rel=1e-5)  # 2.12397
    assert result["p_value"] == pytest.approx(0.033672, abs=2e-5)
    assert two_proportion_ztest(0, 0, 3, 10) is None


def test_mann_whitney_matches_hand_examples():
    # no ties: U counts pairs where the treatment wins; exact two-sided p = 2 / C(6, 3) = 0.1
    assert mann_whitney([4, 5, 6], [1, 2, 3]) == {"u": 9.0, "p_value": pytest.approx(0.1)}
    # ties: x = [5, 4, 4, 3], y = [4, 3, 2, 2]; pairs won by x (a tie counts 1/2): 4 + 3.5 + 3.5 + 2.5
    x, y = [5, 4, 4, 3], [4, 3, 2, 2]
    u = 13.5
    # normal approximation with tie correction (tie groups: one 5, three 4s, two 3s, two 2s) and continuity correction
    n1, n2, n = 4, 4, 8
    ties = [1, 3, 2, 2]
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - sum(t**3 - t for t in ties) / (n * (n - 1))))
    z = (abs(u - n1 * n2 / 2) - 0.5) / sigma
    expected_p = math.erfc(z / math.sqrt(2))
    result = mann_whitney(x, y)
    assert result["u"] == 13.5
    assert result["p_value"] == pytest.approx(expected_p, rel=1e-6)


def test_required_sample_size_matches_the_formula_by_hand():
    # (1.959964 * sqrt(2 * 0.525 * 0.475) + 0.841621 * sqrt(0.24 + 0.2475))^2 / 0.15^2 = 172.80
    assert required_sample_size(0.60, 0.45) == 173
    assert required_sample_size(0.5, 0.5) is None
    assert required_sample_size(0.60, 0.45, power=0.9) > 173


def test_wilson_interval_by_hand():
    lo, hi = wilson_interval(60, 100)
    assert lo == pytest.approx(0.502002, abs=1e-5) and hi == pytest.approx(0.690599, abs=1e-5)
    assert wilson_interval(0, 0) is None


def _feedback(variant: str, score: int, actions: list[str]) -> dict:
    return {"variant": variant, "overall_score": score,
            "items": [{"insight_id": f"i{n}", "action": a} for n, a in enumerate(actions)]}


def test_samples_from_feedback_counts_approvals_over_reviewed_insights():
    samples = samples_from_feedback([_feedback("fine_tuned", 5, ["approve", "edit", "skip"]),
                                     _feedback("fine_tuned", 3, ["reject", "approve"]),
                                     _feedback("few_shot", 2, ["skip"])])
    assert (samples["fine_tuned"].approved, samples["fine_tuned"].reviewed, samples["fine_tuned"].scores) == (2, 4, [5, 3])
    assert (samples["few_shot"].approved, samples["few_shot"].reviewed, samples["few_shot"].scores) == (0, 0, [2])


def _sample(approved: int, reviewed: int, scores: list[int]) -> VariantSample:
    return VariantSample(approved=approved, reviewed=reviewed, scores=scores)


def test_verdicts():
    few = [3] * 20 + [4] * 20
    better = [4] * 20 + [5] * 20
    promote = ab_report({"fine_tuned": _sample(300, 400, better), "few_shot": _sample(240, 400, few)})
    assert promote["verdict"] == "promote"
    assert promote["variants"]["fine_tuned"]["approval_rate"] == 0.75
    assert promote["approval_z_test"]["p_value"] < 0.05 and promote["score_mann_whitney"]["p_value"] < 0.05
    keep = ab_report({"fine_tuned": _sample(240, 400, few), "few_shot": _sample(300, 400, better)})
    assert keep["verdict"] == "keep"
    small = ab_report({"fine_tuned": _sample(30, 40, better[:10]), "few_shot": _sample(20, 40, few[:10])})
    assert small["verdict"] == "keep collecting"
    # 0.62 vs 0.60 on 400 insights each: not significant, and about 9,000 per variant would be needed
    unsure = ab_report({"fine_tuned": _sample(248, 400, few), "few_shot": _sample(240, 400, few)})
    assert unsure["verdict"] == "keep collecting" and unsure["required_reviewed_insights_per_variant"] > 5000
    no_diff = ab_report({"fine_tuned": _sample(240, 400, few), "few_shot": _sample(240, 400, few)})
    assert no_diff["verdict"] == "keep"
    worse_scores = ab_report({"fine_tuned": _sample(300, 400, [1] * 40), "few_shot": _sample(240, 400, better)})
    assert worse_scores["verdict"] == "keep"
