"""A/B statistics at the unit of randomization, the job: assignment, job outcomes, Welch's t, the design and the
fixed-horizon verdict with guardrails."""

from __future__ import annotations

import numpy as np
import pytest

from datapilot_pipeline.lib.ab.assignment import assign_variant
from datapilot_pipeline.lib.ab.design import InsightSums, anova_icc, jobs_per_variant, plan
from datapilot_pipeline.lib.ab.experiments import ExperimentStore
from datapilot_pipeline.lib.ab.jobs import job_table
from datapilot_pipeline.lib.ab.report import ab_report
from datapilot_pipeline.lib.ab.welch import welch
from datapilot_pipeline_tests.ab_fixtures import arm, parsed, review


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


def test_welch_matches_statsmodels_on_a_real_dataset():
    from scipy.stats import ttest_ind
    from statsmodels.datasets import fair
    from statsmodels.stats.weightstats import ttest_ind as sm_ttest

    data = fair.load_pandas().data  # 6,366 survey answers shipped with statsmodels
    x = data.loc[data["children"] > 0, "rate_marriage"].to_numpy()
    y = data.loc[data["children"] == 0, "rate_marriage"].to_numpy()
    ours = welch(x, y)
    t, p, df = sm_ttest(x, y, usevar="unequal")
    assert float(ours["t"]) == pytest.approx(t, rel=1e-9) and float(ours["p_value"]) == pytest.approx(p, rel=1e-6)
    assert float(ours["p_value"]) == pytest.approx(ttest_ind(x, y, equal_var=False).pvalue, rel=1e-6)
    # vectorized rows and the first-n mask give the same as slicing
    rows = welch(np.stack([x[:300], x[300:600]]), np.stack([y[:300], y[300:600]]))
    assert rows["p_value"][1] == pytest.approx(float(welch(x[300:600], y[300:600])["p_value"]))
    mask = np.arange(300) < 120
    masked = welch(x[None, :300], y[None, :300], mask=mask[None, :])
    assert float(masked["p_value"][0]) == pytest.approx(float(welch(x[:120], y[:120])["p_value"]))


def test_sample_size_by_hand():
    # independent insights, p = 0.6: (1.959964 + 0.841621)^2 * 2 * 0.24 / 0.05^2 = 1506.98 -> 1507
    jobs, independent, de = jobs_per_variant(0.05, 0.05, 0.8, 0.24, 0.0, 1.0)
    assert (int(jobs), int(independent), float(de)) == (1507, 1507, 1.0)
    # ICC 0.3, 5 insights a job: design effect 2.2, 1507 * 2.2 / 5 = 663.07 -> 664 jobs
    jobs, independent, de = jobs_per_variant(0.05, 0.05, 0.8, 0.24, 0.3, 5.0)
    assert int(jobs) == 664 and float(de) == pytest.approx(2.2)
    assert int(jobs_per_variant(0.05, 0.05, 0.9, 0.24, 0.3, 5.0)[0]) > 664
    assert int(jobs_per_variant(0.5, 0.05, 0.8, 0.24, 0.3, 5.0)[0]) == 30  # the floor for Welch's t


def test_anova_icc_by_hand_and_on_known_correlation():
    assert float(anova_icc(InsightSums.of([[1, 1, 1], [0, 0, 0], [1, 1, 1], [0, 0, 0]]))[0]) == 1.0
    assert float(anova_icc(InsightSums.of([[1, 0], [1, 0], [0, 1], [1, 0]]))[0]) == 0.0  # clipped at 0
    rng = np.random.default_rng(3)  # normal random intercepts: ICC = 0.3 / (0.3 + 0.7)
    groups = [rng.normal(rng.normal(0, np.sqrt(0.3)), np.sqrt(0.7), size=rng.integers(3, 8)) for _ in range(4000)]
    icc, variance, _, m_h = anova_icc(InsightSums.of(groups))
    assert float(icc) == pytest.approx(0.3, abs=0.03) and float(variance) == pytest.approx(1.0, abs=0.05)
    assert 3 < float(m_h) < 7


def test_one_row_per_job_superseded_and_unlabelled_reviews():
    table = job_table(parsed(
        review("j1", "fine_tuned", "aaaa", reviewer="ann", created_at="2026-11-01T10:00:00Z"),
        review("j1", "fine_tuned", "rrrr", reviewer="ann", created_at="2026-11-02T10:00:00Z"),  # supersedes ann's
        review("j1", "fine_tuned", "aars", reviewer="bob", created_at="2026-11-01T11:00:00Z"),
        review("j2", None, "aaaa"), review("j3", None, "aaaa"),  # no variant: counted, never control
        review("j4", "few_shot", "ssss"),  # nothing reviewed
        review("j5", "few_shot", "aaaa", reviewer="ann"), review("j5", "fine_tuned", "aaaa", reviewer="bob"),
    ))
    assert [j.job_id for j in table.jobs] == ["j1"]
    (j1,) = table.jobs
    # per insight, share of the two latest reviewers approving: i1 1/2, i2 1/2, i3 0 (both reject), i4 0 (ann only)
    assert j1.insight_approvals == (0.5, 0.5, 0.0, 0.0) and j1.approval_rate == 0.25 and j1.n_reviewers == 2
    assert j1.hallucination_rate == pytest.approx((0.5 + 0.5 + 1 + 1) / 4)
    assert j1.overall_score == 4 and j1.first_reviewed_at.day == 1
    assert table.excluded == {"reviews_without_variant": 2, "superseded_reviews": 1,
                              "jobs_without_reviewed_insights": 1, "jobs_with_conflicting_variants": 1}
    # a rejection that is not about hallucination does not count as one
    plain = job_table(parsed(review("j9", "few_shot", "rraa", note="Too vague")))
    assert plain.jobs[0].hallucination_rate == 0.0


def _report(reviews: list[dict], mde: float | None = 0.3, store: ExperimentStore | None = None) -> dict:
    return ab_report(job_table(parsed(*reviews)), mde=mde, store=store)


def test_keep_collecting_until_the_horizon_then_a_fixed_verdict(tmp_path):
    control = arm("few_shot", 60, ["aarr", "arrr", "aaar"], [3, 4])
    better = arm("fine_tuned", 60, ["aaaa", "aaar", "aaaa"], [4, 4])
    store = ExperimentStore(tmp_path / "ab")
    early = _report(control[:20] + better[:20], store=store)
    assert early["verdict"] == "keep collecting" and early["p_value"] is None and early["unit"] == "job"
    n = early["jobs_needed_per_variant"]
    assert early["jobs_still_needed"] == {"few_shot": n - 20, "fine_tuned": n - 20} and n >= 30
    done = _report(control + better, mde=None, store=store)  # the plan fixed at the first read
    assert done["jobs_needed_per_variant"] == early["jobs_needed_per_variant"]
    n = done["jobs_needed_per_variant"]
    assert done["verdict"] == "promote" and done["p_value"] < 0.05 and done["analysed_jobs_per_variant"] == n
    assert done["variants"]["fine_tuned"]["jobs"] == 60 and done["variants"]["fine_tuned"]["approval_rate"] == pytest.approx(11 / 12)
    # later jobs of the opposite sign do not move a verdict taken on the first n jobs of each variant
    later = _report(control + better + arm("fine_tuned", 40, ["rrrr"], [4], day0=25, prefix="late_"), store=store)
    assert later["verdict"] == "promote" and later["p_value"] == done["p_value"]
    assert [d["jobs"]["fine_tuned"] for d in done["daily"]] == sorted(d["jobs"]["fine_tuned"] for d in done["daily"])
    assert done["daily"][-1]["jobs"] == {"few_shot": 60, "fine_tuned": 60}


def test_keep_when_worse_or_no_different_and_guardrails_block_a_promotion():
    control = arm("few_shot", 60, ["aarr", "arrr", "aaar"], [3, 4])
    worse = _report(control + arm("fine_tuned", 60, ["rrrr", "arrr"], [3, 4]))
    assert worse["verdict"] == "keep" and "lower" in worse["reasons"][0]
    same = _report(control + arm("fine_tuned", 60, ["aarr", "arrr", "aaar"], [3, 4]))
    assert same["verdict"] == "keep" and same["p_value"] > 0.05 and "no significant" in same["reasons"][0]
    low_scores = _report(control + arm("fine_tuned", 60, ["aaaa", "aaar", "aaaa"], [1, 2]))
    rails = {g["name"]: g["passed"] for g in low_scores["guardrails"]}
    assert low_scores["verdict"] == "keep" and rails == {"mean_overall_score": False, "hallucination_rejection_rate": True}
    assert "guardrails fail: mean_overall_score" in low_scores["reasons"][0]


def test_hallucination_guardrail_blocks_a_promotion():
    control = arm("few_shot", 60, ["aaar"], [4])
    for r in control:  # control's rejections are about wording, not invented numbers
        r["items"][3]["notes"] = "Too vague"
    treated = arm("fine_tuned", 60, ["aaaa", "aaaa", "aaar"], [4])
    report = _report(control + treated)
    rails = {g["name"]: g["passed"] for g in report["guardrails"]}
    assert report["verdict"] == "keep" and rails["hallucination_rejection_rate"] is False


def test_design_uses_the_observed_correlation_once_there_are_enough_jobs():
    few = plan([[1.0, 0.0]] * 10)
    assert few.source.startswith("planning assumptions") and few.icc == 0.3
    rng = np.random.default_rng(0)
    clustered = [list(rng.random() < np.full(5, rng.random())) for _ in range(400)]  # strongly clustered jobs
    independent = [list(rng.random(5) < 0.5) for _ in range(400)]
    a, b = plan(clustered), plan(independent)
    assert a.source.startswith("observed") and a.icc > 0.2 and b.icc < 0.05
    assert a.design_effect > 1.8 and a.jobs_needed_per_variant > 1.8 * b.jobs_needed_per_variant


def test_daily_statistic_matches_welch_on_each_days_jobs():
    from datapilot_pipeline.lib.ab.report import daily_series

    reviews = arm("few_shot", 30, ["aarr", "arrr", "aaar", "aaaa"], [3]) + arm("fine_tuned", 24, ["aaar", "aaaa", "arrr"], [4])
    jobs = job_table(parsed(*reviews)).jobs
    series = daily_series(jobs, 0.05)
    assert [d["date"] for d in series] == [f"2026-11-{k:02d}" for k in range(1, 11)]
    assert series[0]["jobs"] == {"few_shot": 3, "fine_tuned": 3}
    for day in (series[0], series[4], series[-1]):
        seen = [j for j in jobs if j.first_reviewed_at.date().isoformat() <= day["date"]]
        rates = {v: [j.approval_rate for j in seen if j.variant == v] for v in ("few_shot", "fine_tuned")}
        direct = welch(np.array(rates["fine_tuned"]), np.array(rates["few_shot"]))
        assert day["p_value"] == pytest.approx(float(direct["p_value"]), abs=1e-6)
        assert day["approval_rate"]["fine_tuned"] == pytest.approx(np.mean(rates["fine_tuned"]), abs=1e-6)
    assert series[-1]["jobs"] == {"few_shot": 30, "fine_tuned": 24}
