"""Grounded insight drafts: what a careful analyst says about a table, one per category.

A `Draft` keeps the cited numbers (JSON Pointer or KPI name -> value read from the compact EDA) apart
from the wording, so a failure mode can change a number and the sentence that quotes it together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Text = Callable[[dict[str, float]], str]


@dataclass(frozen=True)
class Draft:
    category: str
    severity: str
    columns: tuple[str, ...]
    aggregates: dict[str, float]
    rows: tuple[int, ...]
    texts: tuple[Text, ...]
    action: str
    priority: str

    def evidence(self, aggregates: dict[str, float] | None = None, rows: tuple[int, ...] | None = None) -> dict:
        """The evidence object; `row_indices` is left out when no row is cited (as models usually do)."""
        rows = self.rows if rows is None else rows
        out = {"columns": list(self.columns), "aggregates": dict(self.aggregates if aggregates is None else aggregates)}
        return {**out, "row_indices": list(rows)} if rows else out


def fmt(value: float, unit: str = "") -> str:
    """A number as an analyst writes it: thousands separators, at most 2 decimals, unit attached."""
    if abs(value) >= 1000:
        body = f"{value:,.0f}"
    elif float(value).is_integer():
        body = f"{int(value)}"
    else:
        body = f"{value:,.2f}".rstrip("0").rstrip(".")
    if unit == "$":
        return f"-${body[1:]}" if body.startswith("-") else f"${body}"
    return f"{body}{unit}"


def rows_text(rows: tuple[int, ...] | list[int]) -> str:
    rows = list(rows)
    return ", ".join(str(r) for r in rows[:-1]) + f" and {rows[-1]}" if len(rows) > 1 else str(rows[0])


def _stat(col: str, name: str) -> str:
    return f"/columns/{col}/stats/{name}"


def outlier(eda: dict, facts: dict) -> Draft | None:
    spec = facts.get("outlier")
    profile = eda["columns"].get(spec["column"]) if spec else None
    if not profile or not profile.get("stats") or not profile.get("outliers", {}).get("count"):
        return None
    col, unit, rows = spec["column"], spec.get("unit", ""), tuple(sorted(spec["rows"][:4]))
    mx, med, cnt = _stat(col, "max"), _stat(col, "median"), f"/columns/{col}/outliers/count"
    aggs = {mx: profile["stats"]["max"], med: profile["stats"]["median"], cnt: profile["outliers"]["count"]}
    ratio = aggs[mx] / aggs[med] if aggs[med] else 0.0
    texts = (
        lambda a: (f"{fmt(a[cnt])} rows fall outside the IQR fence on {col}; the largest is {fmt(a[mx], unit)} "
                   f"against a median of {fmt(a[med], unit)}, led by rows {rows_text(rows)}."),
        lambda a: (f"Rows {rows_text(rows)} carry extreme {col} values (max {fmt(a[mx], unit)}, "
                   f"{a[mx] / a[med]:.0f}x the median of {fmt(a[med], unit)}); {fmt(a[cnt])} rows are IQR outliers."
                   if a[med] else f"Rows {rows_text(rows)} carry extreme {col} values (max {fmt(a[mx], unit)})."),
    )
    return Draft("outlier", "high" if ratio >= 8 else "medium", (col,), aggs, rows, texts,
                 f"Audit rows {rows_text(rows)} for entry or unit errors and exclude confirmed errors before "
                 f"reporting {col} totals.", "high" if ratio >= 8 else "medium")


def correlation(eda: dict, facts: dict) -> Draft | None:
    pairs = eda.get("correlations") or []
    if not pairs:
        return None
    wanted = (facts.get("correlation") or {}).get("columns")
    idx = next((i for i, p in enumerate(pairs) if p["columns"] == wanted), 0)
    a, b = pairs[idx]["columns"]
    key = f"/correlations/{idx}/pearson"
    r = pairs[idx]["pearson"]
    texts = (
        lambda v: f"{a} and {b} move together (Pearson r = {v[key]:.2f}), so much of the variation in {b} tracks {a}.",
        lambda v: f"{b} is {'strongly' if abs(v[key]) >= 0.6 else 'moderately'} correlated with {a} (r = {v[key]:.2f}).",
    )
    return Draft("correlation", "medium" if abs(r) >= 0.6 else "low", (a, b), {key: r}, (), texts,
                 f"Use {a} as a leading indicator for {b} in forecasts, and avoid putting both in one regression "
                 "without checking collinearity.", "medium" if abs(r) >= 0.6 else "low")


def trend(eda: dict, facts: dict) -> Draft | None:
    spec = facts.get("trend")
    if not spec or eda["kpis"].get(spec["kpi"]) is None:
        return None
    kpi, metric, base = spec["kpi"], spec["metric"], spec.get("baseline")
    aggs = {kpi: eda["kpis"][kpi]}
    if base:
        aggs[base] = eda["kpis"][base]
        texts = (lambda a: (f"Recent signups churn at {fmt(a[kpi], '%')} versus {fmt(a[base], '%')} for older "
                            f"cohorts, so the {metric} is rising as the customer base turns over."),)
        gap = aggs[kpi] - aggs[base]
        severity = "high" if gap >= 10 else "medium"
        action = "Review onboarding for accounts in their first year and track churn by signup cohort monthly."
    else:
        direction = "grew" if aggs[kpi] >= 0 else "fell"
        texts = (
            lambda a: f"{metric.capitalize()} {direction} {fmt(abs(a[kpi]), '%')} from the first half of the period to the second.",
            lambda a: (f"The second half of the period runs {fmt(abs(a[kpi]), '%')} {'above' if a[kpi] >= 0 else 'below'}"
                       f" the first on {metric}, a sustained {'up' if a[kpi] >= 0 else 'down'}ward trend."),
        )
        gap = abs(aggs[kpi])
        severity = "high" if gap >= 40 else "medium" if gap >= 10 else "low"
        action = f"Plan capacity and targets on the current {metric} run rate rather than the period average."
    return Draft("trend", severity, (), aggs, (), texts, action, "high" if severity == "high" else "medium")


def missing(eda: dict, facts: dict) -> Draft | None:
    spec = facts.get("missing")
    profile = eda["columns"].get(spec["column"]) if spec else None
    if not profile or not profile.get("missing"):
        return None
    col, n = spec["column"], eda["dataset"]["n_rows"]
    key = f"/columns/{col}/missing"
    share = 100.0 * profile["missing"] / n
    texts = (
        lambda a: f"{col} is blank in {fmt(a[key])} of {fmt(n)} rows ({100.0 * a[key] / n:.1f}%): {spec['why']}.",
        lambda a: f"{fmt(a[key])} rows ({100.0 * a[key] / n:.1f}%) have no {col}, most likely because {spec['why']}.",
    )
    severity = "high" if share >= 20 else "medium" if share >= 5 else "low"
    return Draft("missing_data", severity, (col,), {key: profile["missing"]}, (), texts,
                 f"Backfill {col} from the source system where possible and report {col} metrics on complete "
                 "rows only, stating the excluded count.", "medium" if share >= 5 else "low")


def distribution(eda: dict, facts: dict) -> Draft | None:
    best, best_gap = None, 0.15
    for col, profile in eda["columns"].items():
        stats = profile.get("stats") or {}
        mean, med = stats.get("mean"), stats.get("median")
        if mean is not None and med and med > 0 and (mean - med) / med > best_gap:
            best, best_gap = col, (mean - med) / med
    if best is None:
        return None
    mean_k, med_k = _stat(best, "mean"), _stat(best, "median")
    aggs = {mean_k: eda["columns"][best]["stats"]["mean"], med_k: eda["columns"][best]["stats"]["median"]}
    texts = (lambda a: (f"{best} is right-skewed: the mean ({fmt(a[mean_k])}) sits "
                        f"{100 * (a[mean_k] / a[med_k] - 1):.0f}% above the median ({fmt(a[med_k])})."),)
    return Draft("distribution", "medium" if best_gap >= 0.5 else "low", (best,), aggs, (), texts,
                 f"Report the median and p75 of {best} next to the mean, and chart it on a log scale.",
                 "low")


def segment(eda: dict, facts: dict) -> Draft | None:
    spec = facts.get("segment")
    if not spec or any(eda["kpis"].get(k) is None for k in spec["kpis"].values()):
        return None
    (la, ka), (lb, kb) = list(spec["kpis"].items())[:2]
    aggs = {ka: eda["kpis"][ka], kb: eda["kpis"][kb]}
    unit, col, metric = spec.get("unit", ""), spec["column"], spec["metric"]
    hi, lo = max(aggs.values()), min(aggs.values())
    ratio = hi / lo if lo else 0.0
    texts = (lambda a: (f"{metric.capitalize()} differs sharply by {col}: {la} at {fmt(a[ka], unit)} versus {lb} "
                        f"at {fmt(a[kb], unit)}."),
             lambda a: (f"{metric.capitalize()} is {fmt(a[ka], unit)} for {la} against {fmt(a[kb], unit)} for {lb}, "
                        f"so the blended figure hides a real gap between {col} groups."))
    return Draft("segment", "high" if ratio >= 2 else "medium", (col,), aggs, (), texts,
                 f"Report {metric} per {col} rather than blended, and set targets separately for {la} and {lb}.",
                 "medium")


def quality(eda: dict, facts: dict) -> Draft | None:
    spec = facts.get("quality")
    profile = eda["columns"].get(spec["column"]) if spec else None
    if not profile or not eda["kpis"].get(spec["kpi"]) or not profile.get("stats"):
        return None
    col, kpi, rows = spec["column"], spec["kpi"], tuple(sorted(spec["rows"][:4]))
    mn = _stat(col, "min")
    aggs = {kpi: eda["kpis"][kpi], mn: profile["stats"]["min"]}
    texts = (lambda a: (f"{fmt(a[kpi])} {spec['what']} (minimum {col} {fmt(a[mn])}), e.g. rows {rows_text(rows)}; "
                        "these are recording errors, not real activity."),)
    return Draft("quality", "high", (col,), aggs, rows, texts,
                 f"Correct rows {rows_text(rows)} at the source and add a load-time rule that rejects invalid {col} "
                 "values.", "high")


BUILDERS: tuple[Callable[[dict, dict], Draft | None], ...] = (
    outlier, correlation, trend, missing, distribution, segment, quality)


def drafts_for(eda: dict[str, Any], facts: dict[str, Any]) -> list[Draft]:
    """Every grounded draft the table supports (at most one per category)."""
    return [d for d in (build(eda, facts) for build in BUILDERS) if d is not None]
