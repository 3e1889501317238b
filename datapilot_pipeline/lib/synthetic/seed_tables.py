"""Small tables (4-7 columns, under 150 rows) for the shipped seed and holdout examples.

Each builder returns `(df, kpis, facts)` in the `shapes.py` facts format, plus per-category
`action` wording that a domain analyst would use. No PII: these examples go into every prompt.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from datapilot_pipeline.lib.synthetic.tables import (half_growth_pct, pick_rows, rate_pct, segment_kpis, slug,
                                                     sorted_times, with_missing)


def _seg(column: str, metric: str, unit: str, prefix: str, labels: list[str], action: str) -> dict:
    return {"column": column, "metric": metric, "unit": unit, "action": action,
            "kpis": {lab: f"{prefix}_{slug(lab)}" for lab in labels}}


def _spikes(rng, values: np.ndarray, k: int, lo: float, hi: float, decimals: int = 2) -> np.ndarray:
    rows = pick_rows(rng, len(values), k)
    values[rows] = np.round(values[rows] * rng.uniform(lo, hi, len(rows)), decimals)
    return rows


def store_sales(rng: np.random.Generator, n: int):
    when = sorted_times(rng, n, "2026-07-01", 90, growth=0.5)
    store = rng.choice(["Downtown", "Airport", "Mall"], size=n, p=[0.45, 0.2, 0.35])
    units = rng.poisson(3, n) + 1
    revenue = np.round(units * rng.normal(24, 3, n), 2)
    rev_rows = _spikes(rng, revenue, 3, 10, 14)
    bad = pick_rows(rng, n, 2, set(rev_rows.tolist()))
    units[bad] = -units[bad]
    revenue[pick_rows(rng, n, max(3, n // 12), set(rev_rows.tolist()) | set(bad.tolist()))] = np.nan
    df = pd.DataFrame({"sold_at": when.dt.floor("D"), "store": store, "units": units, "revenue": revenue})
    labels = ["Airport", "Downtown"]
    kpis = {"revenue_growth_pct": half_growth_pct(df["sold_at"], df["revenue"].fillna(0)),
            "negative_unit_rows": int((df["units"] < 0).sum()), **segment_kpis(df, "store", labels, "revenue", "avg_ticket")}
    facts = {"outlier": {"column": "revenue", "rows": rev_rows.tolist(), "unit": "$",
                         "action": "Pull the till receipts for these tickets before they enter the weekly average."},
             "correlation": {"columns": ["units", "revenue"], "action": "Forecast revenue from unit volume."},
             "missing": {"column": "revenue", "why": "voided tickets are exported without an amount",
                         "action": "Export voids with a status flag instead of a blank revenue."},
             "trend": {"kpi": "revenue_growth_pct", "metric": "revenue",
                       "action": "Reset the Q4 revenue forecast to the current run rate."},
             "segment": _seg("store", "average ticket", "$", "avg_ticket", labels,
                             "Benchmark each store on its own average ticket, not the chain's."),
             "quality": {"column": "units", "kpi": "negative_unit_rows", "what": "sales with negative units",
                         "rows": bad.tolist(), "action": "Book returns as refund rows; reject negative units at load."}}
    return df, kpis, facts


def saas_accounts(rng: np.random.Generator, n: int):
    plan = rng.choice(["Starter", "Growth", "Scale"], size=n, p=[0.5, 0.35, 0.15])
    seats = np.maximum(1, (rng.lognormal(1.2, 0.6, n) * pd.Series(plan).map({"Starter": 1, "Growth": 3, "Scale": 8})
                           .to_numpy()).round().astype(int))
    t_rows = pick_rows(rng, n, 3)
    seats[t_rows] = rng.integers(120, 200, 3)
    mrr = np.round(seats * rng.normal(18, 2, n), 2)
    churned = rng.random(n) < np.where(plan == "Starter", 0.3, np.where(plan == "Growth", 0.14, 0.05))
    df = pd.DataFrame({"plan": plan, "seats": seats, "mrr": mrr, "churned": churned,
                       "nps": with_missing(rng, rng.integers(0, 11, n), 0.25)})
    labels = ["Starter", "Scale"]
    kpis = {"churn_rate_pct": rate_pct(df["churned"]), **segment_kpis(df, "plan", labels, "churned", "churn_rate_pct", rate=True)}
    facts = {"outlier": {"column": "seats", "rows": t_rows.tolist(), "unit": "",
                         "action": "Confirm these seat counts with sales; move real ones to the enterprise plan."},
             "correlation": {"columns": ["seats", "mrr"], "action": "Price expansion deals per seat."},
             "missing": {"column": "nps", "why": "a quarter of accounts never answered the NPS survey",
                         "action": "Ask for NPS in-app and always report it with its response rate."},
             "segment": _seg("plan", "churn rate", "%", "churn_rate_pct", labels,
                             "Give Starter accounts guided onboarding and an annual-plan offer.")}
    return df, kpis, facts


def campaign_spend(rng: np.random.Generator, n: int):
    channel = rng.choice(["search", "social", "display", "email"], size=n, p=[0.35, 0.3, 0.2, 0.15])
    spend = np.round(rng.gamma(2.0, 400, n), 2)
    clicks = np.round(spend * pd.Series(channel).map({"search": 1.6, "social": 1.1, "display": 0.5, "email": 2.4})
                      .to_numpy() * rng.lognormal(0, 0.25, n)).astype(int)
    conv = rng.binomial(clicks, pd.Series(channel).map({"search": 0.05, "social": 0.02, "display": 0.01, "email": 0.06})
                        .to_numpy())
    cpa = np.round(spend / np.maximum(conv, 1), 2)
    df = pd.DataFrame({"channel": channel, "spend": spend, "clicks": clicks, "cost_per_acq": cpa})
    labels = ["email", "display"]
    kpis = {"total_conversions": int(conv.sum()), **segment_kpis(df, "channel", labels, "cost_per_acq", "avg_cpa")}
    facts = {"correlation": {"columns": ["spend", "clicks"], "action": "Plan clicks from budget per channel."},
             "segment": _seg("channel", "average cost per acquisition", "$", "avg_cpa", labels,
                             "Move 20% of display budget to email for a month; compare CPA."),
             "distribution": {"action": "Judge campaigns on median CPA and cap bids on the tail."}}
    return df, kpis, facts


def shipments(rng: np.random.Generator, n: int):
    carrier = rng.choice(["FastFreight", "BlueLine", "Northway"], size=n, p=[0.4, 0.35, 0.25])
    distance = np.round(rng.uniform(40, 2400, n), 0)
    weight = np.round(rng.gamma(2.5, 6, n), 1)
    w_rows = _spikes(rng, weight, 3, 15, 25, 1)
    cost = np.round(12 + 0.045 * distance + 0.6 * weight + rng.normal(0, 6, n), 2)
    late = rng.random(n) < pd.Series(carrier).map({"FastFreight": 0.08, "BlueLine": 0.22, "Northway": 0.12}).to_numpy()
    bad = pick_rows(rng, n, 2, set(w_rows.tolist()))
    weight[bad] = 0.0
    # distance drives cost but is not exported, so weight explains only part of the cost
    df = pd.DataFrame({"carrier": carrier, "weight_kg": weight, "cost": cost, "late": late})
    labels = ["BlueLine", "FastFreight"]
    kpis = {"late_rate_pct": rate_pct(df["late"]), "zero_weight_rows": int((df["weight_kg"] == 0).sum()),
            **segment_kpis(df, "carrier", labels, "late", "late_rate_pct", rate=True)}
    facts = {"outlier": {"column": "weight_kg", "rows": w_rows.tolist(), "unit": " kg",
                         "action": "Check for pallet weights keyed as parcels before billing."},
             "correlation": {"columns": ["weight_kg", "cost"], "action": "Quote freight by weight band."},
             "segment": _seg("carrier", "late-delivery rate", "%", "late_rate_pct", labels,
                             "Move urgent lanes to FastFreight; raise BlueLine's on-time rate at QBR."),
             "quality": {"column": "weight_kg", "kpi": "zero_weight_rows", "what": "shipments with zero weight",
                         "rows": bad.tolist(), "action": "Make weight mandatory at booking; re-weigh these."}}
    return df, kpis, facts


def support_queue(rng: np.random.Generator, n: int):
    opened = sorted_times(rng, n, "2026-08-01", 60, growth=0.8)
    priority = rng.choice(["P1", "P2", "P3"], size=n, p=[0.1, 0.3, 0.6])
    first = np.round(rng.gamma(2, 12, n) * pd.Series(priority).map({"P1": 0.3, "P2": 0.8, "P3": 1.5}).to_numpy(), 1)
    resolution = np.round(first / 6 + rng.gamma(2, 3, n), 1)
    bad = pick_rows(rng, n, 2)
    resolution[bad] = -resolution[bad]
    # priority shapes response times but is left out of the export to keep the example small
    df = pd.DataFrame({"opened_at": opened.dt.floor("h"), "first_response_min": first,
                       "resolution_hours": resolution, "csat": with_missing(rng, rng.choice([1, 2, 3, 4, 5], size=n,
                                                                                              p=[.05, .1, .2, .35, .3]), 0.35)})
    kpis = {"ticket_volume_growth_pct": half_growth_pct(df["opened_at"]),
            "negative_resolution_rows": int((df["resolution_hours"] < 0).sum())}
    facts = {"correlation": {"columns": ["first_response_min", "resolution_hours"],
                             "action": "Cut first-response time to shorten resolution."},
             "missing": {"column": "csat", "why": "customers answer the satisfaction survey only about two times in three",
                         "action": "Report CSAT with its response rate; send one survey reminder."},
             "trend": {"kpi": "ticket_volume_growth_pct", "metric": "ticket volume",
                       "action": "Add an agent to the queue before the backlog builds."},
             "quality": {"column": "resolution_hours", "kpi": "negative_resolution_rows",
                         "what": "tickets resolved before they were opened", "rows": bad.tolist(),
                         "action": "Fix the reopen flow that overwrites opened_at, then recompute."},
             "distribution": {"action": "Set SLAs on the median and p75, not the mean."}}
    return df, kpis, facts


def energy_meters(rng: np.random.Generator, n: int):
    read = sorted_times(rng, n, "2026-06-01", 120)
    t = ((read - read.min()) / (read.max() - read.min())).to_numpy()
    site = rng.choice(["Plant A", "Plant B", "Office"], size=n, p=[0.4, 0.4, 0.2])
    temp = np.round(18 + 10 * np.sin(np.pi * t) + rng.normal(0, 2, n), 1)
    kwh = np.round((800 + 25 * temp) * pd.Series(site).map({"Plant A": 1.4, "Plant B": 1.0, "Office": 0.3})
                   .to_numpy() * (1 + 0.15 * t) * rng.normal(1, 0.05, n), 1)
    peak_rows = _spikes(rng, kwh, 3, 3, 4, 1)
    df = pd.DataFrame({"read_on": read.dt.floor("D"), "site": site, "temperature_c": temp,
                       "kwh": with_missing(rng, kwh, 0.08)})
    labels = ["Plant A", "Office"]
    kpis = {"consumption_growth_pct": half_growth_pct(df["read_on"], df["kwh"].fillna(0)),
            **segment_kpis(df, "site", labels, "kwh", "avg_kwh")}
    facts = {"outlier": {"column": "kwh", "rows": peak_rows.tolist(), "unit": " kWh",
                         "action": "Check these reads against the utility's interval data."},
             "missing": {"column": "kwh", "why": "meters drop readings during network outages",
                         "action": "Interpolate single-day gaps; flag longer ones, never zero-fill."},
             "trend": {"kpi": "consumption_growth_pct", "metric": "consumption",
                       "action": "Re-price the supply contract on the current run rate."},
             "segment": _seg("site", "average daily consumption", " kWh", "avg_kwh", labels,
                             "Track kWh per site against its output, not as one total.")}
    return df, kpis, facts


def loan_book(rng: np.random.Generator, n: int):
    product = rng.choice(["personal", "auto", "home"], size=n, p=[0.5, 0.3, 0.2])
    income = np.round(rng.lognormal(np.log(62000), 0.45, n), -3)
    amount = np.round(income * pd.Series(product).map({"personal": 0.2, "auto": 0.45, "home": 3.2}).to_numpy()
                      * rng.lognormal(0, 0.2, n), -3)
    score = np.round(rng.normal(690, 55, n)).clip(450, 850)
    approved = rng.random(n) < 1 / (1 + np.exp(-(score - 640) / 30))
    df = pd.DataFrame({"product": product, "income": income, "loan_amount": amount,
                       "credit_score": with_missing(rng, score, 0.1), "approved": approved})
    labels = ["personal", "home"]
    kpis = {"approval_rate_pct": rate_pct(df["approved"]),
            **segment_kpis(df, "product", labels, "approved", "approval_rate_pct", rate=True)}
    facts = {"correlation": {"columns": ["income", "loan_amount"], "action": "Cap loan size as a multiple of income."},
             "missing": {"column": "credit_score", "why": "thin-file applicants have no bureau score",
                         "action": "Route thin-file applicants to the alternative-data scorecard."},
             "segment": _seg("product", "approval rate", "%", "approval_rate_pct", labels,
                             "Review the personal-loan cut-off score with the risk team."),
             "distribution": {"action": "Set limits by income quantile, not the mean."}}
    return df, kpis, facts


DOMAINS = {
    "store_sales": (store_sales, ("pos_daily_sales_q3", "store_receipts_aug", "outlet_sales_2026")),
    "saas_accounts": (saas_accounts, ("saas_accounts_oct", "subscription_health", "workspace_billing")),
    "campaign_spend": (campaign_spend, ("ad_campaigns_sep", "paid_media_q3", "acquisition_spend")),
    "shipments": (shipments, ("carrier_shipments_q3", "freight_bookings", "outbound_parcels")),
    "support_queue": (support_queue, ("helpdesk_tickets_aug", "support_queue_export", "service_desk_sla")),
    "energy_meters": (energy_meters, ("site_energy_readings", "meter_reads_summer", "utility_consumption")),
    "loan_book": (loan_book, ("loan_applications_q3", "credit_decisions", "lending_pipeline")),
}
