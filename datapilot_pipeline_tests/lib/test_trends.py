from __future__ import annotations

import math

import pandas as pd
import pytest

from datapilot_pipeline.lib.agreement import krippendorff_alpha, units_from_ratings
from datapilot_pipeline.lib.trends import (
    category_trends,
    decision_metrics,
    detect_drift,
    markdown_table,
    monthly_trends,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units, values 1-5,
# missing data. Published: nominal 0.743, ordinal 0.815, interval 0.849.
_ = None
TEXTBOOK = [[1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
            [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _]]


def _textbook_units() -> list[list[int]]:
    return [[row[j] for row in TEXTBOOK if row[j] is not None] for j in range(12)]


@pytest.mark.parametrize("metric, expected", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_matches_the_published_example(metric: str, expected: float) -> None:
    assert krippendorff_alpha(_textbook_units(), metric) == pytest.approx(expected, abs=5e-4)


@pytest.mark.parametrize("units, expected", [
    # o = [[2,1],[1,2]], n = 6: 1 - (6-1) * 2 / 18
    ([[1, 1], [2, 2], [1, 2]], 1 - 5 * 2 / 18),
    ([[1, 1], [3, 3], [5, 5, 5]], 1.0),
    # systematic disagreement: o_15 = o_51 = 2, n = 4: 1 - 3 * 64 / 128
    ([[1, 5], [5, 1]], -0.5),
    ([[5, 5], [4, 2]], 0.5),  # worked by hand in the trends test below
])
def test_alpha_hand_computed(units: list[list[int]], expected: float) -> None:
    assert krippendorff_alpha(units, "interval") == pytest.approx(expected)


@pytest.mark.parametrize("units", [[], [[3]], [[3], [4]], [[4, 4], [4, 4]]])
def test_alpha_is_undefined_without_pairs_or_variation(units: list[list[int]]) -> None:
    assert krippendorff_alpha(units) is None


def test_alpha_rejects_an_unknown_metric() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        krippendorff_alpha([[1, 2], [2, 3]], "ratio")


def test_units_from_ratings_keeps_a_raters_last_score() -> None:
    units = units_from_ratings([("u1", "a", 1), ("u1", "b", 2), ("u1", "a", 3), ("u2", "a", 4)])
    assert sorted(map(sorted, units)) == [[2.0, 3.0], [4.0]]


def _decision(month: str, reviewer: str, insight: str, action: str, score: int | None, valid: bool,
              category: str = "outlier", job: str = "j1") -> dict:
    return {"feedback_id": f"f_{reviewer}_{job}", "job_id": job, "reviewer_id": reviewer, "insight_id": insight,
            "category": category, "severity": "high", "action": action, "human_score": score,
            "evidence_valid": valid, "created_at": f"{month}-15T10:00:00Z"}


def _january() -> list[dict]:
    return [_decision("2026-01", "a", "i1", "approve", 5, True), _decision("2026-01", "a", "i2", "edit", 4, False),
            _decision("2026-01", "a", "i3", "skip", None, True, category="trend"),
            _decision("2026-01", "b", "i1", "approve", 5, True), _decision("2026-01", "b", "i2", "reject", 2, False)]


def _frames(decisions: list[dict], feedback: list[tuple[str, int]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.DataFrame(decisions).astype({"human_score": "Int64", "evidence_valid": "bool"})
    fb = pd.DataFrame([{"created_at": f"{m}-15T10:00:00Z", "overall_score": s} for m, s in feedback])
    return frame, fb


def test_decision_metrics_by_hand() -> None:
    decisions, _fb = _frames(_january(), [])
    m = decision_metrics(decisions)
    assert (m["n_decisions"], m["n_reviewed"]) == (5, 4)
    assert (m["approval_rate"], m["edit_rate"], m["reject_rate"]) == (0.5, 0.25, 0.25)
    assert m["mean_human_score"] == 4.0
    assert m["evidence_valid_rate"] == pytest.approx(3 / 5)
    # units (j1,i1) = [5,5] and (j1,i2) = [4,2]: D_o = 8, D_e = 48 / 3 -> alpha 0.5
    assert m["reviewer_alpha"] == pytest.approx(0.5)
    assert m["n_multi_reviewed"] == 2


def test_monthly_and_category_trends() -> None:
    february = [_decision("2026-02", "a", "i1", "reject", 1, False, job="j2"),
                _decision("2026-02", "a", "i2", "approve", 3, True, category="trend", job="j2")]
    decisions, feedback = _frames(_january() + february, [("2026-01", 4), ("2026-01", 2), ("2026-02", 3)])
    monthly = monthly_trends(decisions, feedback)
    assert list(monthly.index) == ["2026-01", "2026-02"]
    assert monthly.loc["2026-01", "n_feedback"] == 2 and monthly.loc["2026-01", "mean_overall_score"] == 3.0
    assert monthly.loc["2026-02", "approval_rate"] == 0.5
    assert math.isnan(monthly.loc["2026-02", "reviewer_alpha"])  # one reviewer: no agreement to measure
    by_category = category_trends(decisions)
    assert by_category.loc[("2026-01", "outlier"), "n_reviewed"] == 4
    assert by_category.loc[("2026-01", "trend"), "n_reviewed"] == 0
    assert by_category.loc[("2026-02", "trend"), "approval_rate"] == 1.0
    table = markdown_table(monthly[["n_reviewed", "approval_rate", "reviewer_alpha"]])
    assert table.splitlines()[0] == "| month | n_reviewed | approval_rate | reviewer_alpha |"
    assert "| 2026-02 | 2 | 0.500 | — |" in table


def _monthly(approval: list[float], reviewed: int = 100, alpha: float | None = 0.6) -> pd.DataFrame:
    months = [f"2026-{i + 1:02d}" for i in range(len(approval))]
    return pd.DataFrame({"n_reviewed": reviewed, "approval_rate": approval, "mean_human_score": 4.0,
                         "reviewer_alpha": alpha}, index=pd.Index(months, name="month"))


def test_a_small_dip_is_not_drift() -> None:
    result = detect_drift(_monthly([0.80, 0.82, 0.79, 0.75]))
    assert result.month == "2026-04" and result.baseline_months == ["2026-01", "2026-02", "2026-03"]
    assert {f.metric for f in result.findings} == {"approval_rate", "mean_human_score", "reviewer_alpha"}
    assert result.drifted == []


def test_a_drop_beyond_the_threshold_is_drift_against_the_last_three_months() -> None:
    result = detect_drift(_monthly([0.20, 0.90, 0.90, 0.90, 0.70]))
    (finding,) = result.drifted
    assert finding.metric == "approval_rate"
    assert finding.baseline == pytest.approx(0.90)  # January's 0.20 is outside the three-month baseline
    assert finding.drop == pytest.approx(0.20) and finding.threshold == 0.10


def test_a_rise_is_not_drift_and_thresholds_are_configurable() -> None:
    assert detect_drift(_monthly([0.5, 0.9])).drifted == []
    strict = detect_drift(_monthly([0.80, 0.78]), thresholds={"approval_rate": 0.01})
    assert [f.metric for f in strict.drifted] == ["approval_rate"]


def test_no_judgement_without_baseline_or_enough_reviews() -> None:
    assert "first month" in detect_drift(_monthly([0.9])).reason
    thin = detect_drift(_monthly([0.9, 0.1], reviewed=5))
    assert thin.findings == [] and "fewer than the 20" in thin.reason
    assert detect_drift(_monthly([])).reason == "no feedback yet"


def test_undefined_alpha_is_skipped_not_treated_as_a_drop() -> None:
    result = detect_drift(_monthly([0.9, 0.9], alpha=None))
    assert "reviewer_alpha" not in {f.metric for f in result.findings}
