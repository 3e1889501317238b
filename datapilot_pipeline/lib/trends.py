"""Feedback quality over time: what reviewers thought of the model's insights, month by month and per category,
and a drift rule that flags a month whose quality fell well below the months before it.

Inputs are the ingested tables (DESIGN.md): `decisions` has one row per insight decision (feedback_id, job_id,
reviewer_id, insight_id, category, action, human_score, evidence_valid, created_at) and `feedback` one row per
feedback file (overall_score, created_at). Rates are over reviewed decisions (action other than `skip`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from datapilot_pipeline.lib.agreement import krippendorff_alpha, units_from_ratings

# A drop larger than this below the baseline is drift; units are those of the metric (rates in [0, 1],
# scores in points on the 1-5 scale, alpha in alpha units).
DEFAULT_DROP_THRESHOLDS: dict[str, float] = {
    "approval_rate": 0.10,
    "mean_human_score": 0.5,
    "mean_overall_score": 0.5,
    "evidence_valid_rate": 0.10,
    "reviewer_alpha": 0.20,
}
METRIC_COLUMNS = ("n_feedback", "n_decisions", "n_reviewed", "approval_rate", "edit_rate", "reject_rate",
                  "mean_human_score", "mean_overall_score", "evidence_valid_rate", "reviewer_alpha",
                  "n_multi_reviewed")


def _month(created_at: pd.Series) -> pd.Series:
    return pd.to_datetime(created_at, utc=True, format="ISO8601").dt.strftime("%Y-%m")


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _mean(series: pd.Series) -> float | None:
    values = pd.to_numeric(series, errors="raise").dropna()
    return float(values.mean()) if len(values) else None


def decision_metrics(decisions: pd.DataFrame) -> dict[str, float | int | None]:
    """Approval, edit and reject rates, mean human score, evidence-valid rate and reviewer agreement of a slice."""
    reviewed = decisions[decisions["action"] != "skip"]
    n = len(reviewed)
    actions = reviewed["action"].value_counts()
    scored = reviewed.dropna(subset=["human_score"])
    ratings = zip(zip(scored["job_id"], scored["insight_id"]), scored["reviewer_id"], scored["human_score"])
    units = units_from_ratings(ratings)
    return {
        "n_decisions": int(len(decisions)),
        "n_reviewed": int(n),
        "approval_rate": _rate(int(actions.get("approve", 0)), n),
        "edit_rate": _rate(int(actions.get("edit", 0)), n),
        "reject_rate": _rate(int(actions.get("reject", 0)), n),
        "mean_human_score": _mean(scored["human_score"]),
        "evidence_valid_rate": _mean(decisions["evidence_valid"].astype("float64")),
        "reviewer_alpha": krippendorff_alpha(units, metric="interval"),
        "n_multi_reviewed": sum(1 for u in units if len(u) >= 2),
    }


def monthly_trends(decisions: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """One row per month (UTC, `YYYY-MM`, ascending) with every metric of METRIC_COLUMNS."""
    decisions = decisions.assign(month=_month(decisions["created_at"]))
    feedback = feedback.assign(month=_month(feedback["created_at"]))
    rows = []
    for month in sorted(set(decisions["month"]) | set(feedback["month"])):
        in_month = feedback[feedback["month"] == month]
        row = {"month": month, "n_feedback": int(len(in_month)), "mean_overall_score": _mean(in_month["overall_score"])}
        row.update(decision_metrics(decisions[decisions["month"] == month]))
        rows.append(row)
    return pd.DataFrame(rows, columns=["month", *METRIC_COLUMNS]).set_index("month")


def category_trends(decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per (month, category) with the decision metrics."""
    decisions = decisions.assign(month=_month(decisions["created_at"]))
    rows = [{"month": month, "category": category, **decision_metrics(group)}
            for (month, category), group in decisions.groupby(["month", "category"], sort=True)]
    columns = ["month", "category", *(c for c in METRIC_COLUMNS if c not in ("n_feedback", "mean_overall_score"))]
    return pd.DataFrame(rows, columns=columns).set_index(["month", "category"])


@dataclass(frozen=True)
class DriftFinding:
    scope: str  # "all" or a category
    metric: str
    latest: float
    baseline: float
    drop: float
    threshold: float

    @property
    def drifted(self) -> bool:
        return self.drop > self.threshold


@dataclass(frozen=True)
class DriftResult:
    month: str | None
    baseline_months: list[str]
    findings: list[DriftFinding] = field(default_factory=list)
    reason: str = ""

    @property
    def drifted(self) -> list[DriftFinding]:
        return [f for f in self.findings if f.drifted]


def detect_drift(monthly: pd.DataFrame, scope: str = "all", thresholds: dict[str, float] | None = None,
                 baseline_months: int = 3, min_reviewed: int = 20) -> DriftResult:
    """Compare the latest month with the mean of up to `baseline_months` months before it.

    A metric drifts when it fell by more than its threshold. A latest month with fewer than `min_reviewed`
    reviewed decisions, or no earlier month, gives no findings and says why in `reason`."""
    thresholds = DEFAULT_DROP_THRESHOLDS if thresholds is None else thresholds
    months = list(monthly.index)
    if not months:
        return DriftResult(None, [], reason="no feedback yet")
    latest, previous = months[-1], months[-1 - baseline_months:-1] if baseline_months else []
    if not previous:
        return DriftResult(latest, [], reason=f"{latest} is the first month: no baseline yet")
    if int(monthly.at[latest, "n_reviewed"]) < min_reviewed:
        return DriftResult(latest, previous, reason=f"{latest} has {int(monthly.at[latest, 'n_reviewed'])} reviewed "
                           f"decisions, fewer than the {min_reviewed} needed to judge drift")
    findings = []
    for metric, threshold in thresholds.items():
        if metric not in monthly.columns:
            continue
        now = monthly.at[latest, metric]
        before = [v for v in monthly.loc[previous, metric] if v is not None and not _isnan(v)]
        if now is None or _isnan(now) or not before:
            continue
        baseline = sum(before) / len(before)
        findings.append(DriftFinding(scope, metric, float(now), float(baseline), float(baseline - now), threshold))
    return DriftResult(latest, previous, findings)


def _isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A Markdown table of `frame` (index included); missing values as an em dash."""
    frame = frame.reset_index()
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join(" --- " for _ in frame.columns) + "|"

    def cell(value) -> str:
        if value is None or _isnan(value):
            return "—"
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *lines])


@dataclass(frozen=True)
class TrendReport:
    """Everything the monitoring asset shows: the monthly series, the per-category series and the drift verdicts
    (overall, and per category for categories with enough reviews in the latest month)."""

    monthly: pd.DataFrame
    by_category: pd.DataFrame
    drift: list[DriftResult]

    @property
    def drifted(self) -> list[DriftFinding]:
        return [f for result in self.drift for f in result.drifted]

    def to_dict(self) -> dict:
        def records(frame: pd.DataFrame) -> list[dict]:
            rows = frame.reset_index().to_dict(orient="records")
            return [{k: (None if _isnan(v) else v) for k, v in row.items()} for row in rows]

        return {
            "monthly": records(self.monthly),
            "by_category": records(self.by_category),
            "drift": [{"month": r.month, "baseline_months": r.baseline_months, "reason": r.reason,
                       "findings": [{**f.__dict__, "drifted": f.drifted} for f in r.findings]} for r in self.drift],
        }


def trend_report(decisions: pd.DataFrame, feedback: pd.DataFrame, thresholds: dict[str, float] | None = None,
                 baseline_months: int = 3, min_reviewed: int = 20) -> TrendReport:
    """Monthly and per-category trends of the ingested tables, with the drift rule applied to both."""
    monthly = monthly_trends(decisions, feedback)
    by_category = category_trends(decisions)
    drift = [detect_drift(monthly, "all", thresholds, baseline_months, min_reviewed)]
    for category in sorted(by_category.index.get_level_values("category").unique()):
        series = by_category.xs(category, level="category")
        if len(series) and series.index[-1] == (monthly.index[-1] if len(monthly) else None):
            drift.append(detect_drift(series, category, thresholds, baseline_months, min_reviewed))
    return TrendReport(monthly, by_category, drift)


def month_summary(decisions: pd.DataFrame, feedback: pd.DataFrame, month: str) -> dict:
    """One month's figures (the rows of `monthly_trends` and `category_trends` for `month`, `YYYY-MM` UTC) from that
    month's decisions and reviews; None for a metric that is undefined (no reviews, a single reviewer)."""
    monthly = monthly_trends(decisions, feedback)
    metrics = {name: None for name in METRIC_COLUMNS}
    metrics.update(n_feedback=0, n_decisions=0, n_reviewed=0, n_multi_reviewed=0)
    if month in monthly.index:
        metrics.update({name: _plain(monthly.loc[month, name]) for name in METRIC_COLUMNS})
    categories = {}
    by_category = category_trends(decisions)
    if len(by_category) and month in by_category.index.get_level_values("month"):
        for category, row in by_category.xs(month, level="month").iterrows():
            categories[category] = {name: _plain(row[name]) for name in by_category.columns}
    return {"month": month, **metrics, "by_category": categories}


def _plain(value):
    """A JSON value: ints stay ints, floats floats, NaN and missing None."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool,)):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
