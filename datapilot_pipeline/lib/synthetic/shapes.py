"""Customer-facing table shapes: sales orders, subscription churn, web sessions.

Each builder plants: IQR outliers in one money/volume column, a strong correlation, a trend over time
(a growth or cohort KPI), blanks in one column, segments that differ on a KPI, and one data-quality
defect counted by a KPI. `facts` names them so insight generation can talk about them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from datapilot_pipeline.lib.synthetic import pii
from datapilot_pipeline.lib.synthetic.tables import (SyntheticTable, half_growth_pct, pick_rows, rate_pct, rngs,
                                                     segment_kpis, slug, sorted_times, table_name, with_missing)


def sales(seed: int) -> SyntheticTable:
    rng, prng = rngs(seed)
    n = int(rng.integers(300, 900))
    when = sorted_times(rng, n, "2026-04-01", 180)
    t = ((when - when.min()) / (when.max() - when.min())).to_numpy()
    segment = rng.choice(["Enterprise", "SMB", "Consumer"], size=n, p=[0.2, 0.35, 0.45])
    mult = pd.Series(segment).map({"Enterprise": 3.0, "SMB": 1.5, "Consumer": 1.0}).to_numpy()
    units = rng.poisson(2.5 * mult * (1 + 0.6 * t)) + 1
    price = np.round(rng.lognormal(np.log(42), 0.2, n), 2)
    revenue = np.round(units * price * rng.normal(1, 0.04, n), 2)
    spikes = pick_rows(rng, n, int(rng.integers(3, 7)))
    revenue[spikes] = np.round(revenue[spikes] * rng.uniform(9, 16, len(spikes)), 2)
    bad = pick_rows(rng, n, int(rng.integers(2, 6)), set(spikes.tolist()))
    units[bad] = -units[bad]
    df = pd.DataFrame({
        "order_date": when, "region": rng.choice(["NA", "EMEA", "APAC", "LATAM"], size=n, p=[0.4, 0.3, 0.2, 0.1]),
        "segment": segment, "units": units, "unit_price": price, "revenue": revenue,
        "discount_pct": with_missing(rng, rng.choice([0, 5, 10, 15, 20], size=n), float(rng.uniform(0.06, 0.14))),
        "customer_email": [pii.email(prng) for _ in range(n)]})
    pii_cols = ["customer_email"]
    if rng.random() < 0.5:
        df["card_number"] = [pii.card_number(prng) for _ in range(n)]
        pii_cols.append("card_number")
    labels = ["Enterprise", "Consumer"]
    kpis = {"revenue_growth_pct": half_growth_pct(df["order_date"], df["revenue"]),
            "negative_unit_rows": int((df["units"] < 0).sum()),
            **segment_kpis(df, "segment", labels, "revenue", "avg_revenue")}
    facts = {"outlier": {"column": "revenue", "rows": spikes.tolist(), "unit": "$"},
             "correlation": {"columns": ["units", "revenue"]},
             "missing": {"column": "discount_pct", "why": "discounts are not captured for every order"},
             "trend": {"kpi": "revenue_growth_pct", "metric": "revenue"},
             "segment": {"column": "segment", "metric": "average order revenue", "unit": "$",
                         "kpis": {lab: f"avg_revenue_{slug(lab)}" for lab in labels}},
             "quality": {"column": "units", "kpi": "negative_unit_rows", "what": "orders with negative units",
                         "rows": bad.tolist()},
             "pii_columns": pii_cols}
    name = table_name(("sales_orders", "ecommerce_orders", "b2b_invoices", "pos_transactions"), rng)
    return SyntheticTable("sales", name, df, kpis, facts)


def churn(seed: int) -> SyntheticTable:
    rng, prng = rngs(seed)
    n = int(rng.integers(300, 900))
    plan = rng.choice(["Basic", "Pro", "Enterprise"], size=n, p=[0.5, 0.35, 0.15])
    tenure = rng.integers(1, 72, n)
    monthly = np.round(pd.Series(plan).map({"Basic": 29.0, "Pro": 59.0, "Enterprise": 149.0}).to_numpy()
                       + rng.normal(0, 4, n), 2)
    total = np.round(tenure * monthly * rng.normal(1, 0.03, n), 2)
    tickets = rng.poisson(1.2, n)
    heavy = pick_rows(rng, n, int(rng.integers(3, 7)))
    tickets[heavy] = rng.integers(18, 40, len(heavy))
    logit = -1.2 + 0.9 * (plan == "Basic") - 0.03 * tenure + 0.35 * tickets - 0.6 * (plan == "Enterprise")
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    signup = pd.Timestamp("2026-10-31") - pd.to_timedelta(tenure * 30, unit="D")
    bad = pick_rows(rng, n, int(rng.integers(2, 5)), set(heavy.tolist()))
    total[bad] = 0.0
    df = pd.DataFrame({
        "signup_date": signup, "plan": plan, "tenure_months": tenure, "monthly_charges": monthly,
        "total_charges": total, "support_tickets": tickets, "churned": churned,
        "last_login_days": with_missing(rng, np.round(rng.exponential(12, n), 1), float(rng.uniform(0.08, 0.2))),
        "email": [pii.email(prng) for _ in range(n)], "phone": [pii.phone(prng) for _ in range(n)]})
    recent = df["signup_date"] >= pd.Timestamp("2025-11-01")
    labels = ["Basic", "Enterprise"]
    kpis = {"churn_rate_pct": rate_pct(df["churned"]),
            "churn_rate_pct_recent_signups": rate_pct(df.loc[recent, "churned"]),
            "churn_rate_pct_older_signups": rate_pct(df.loc[~recent, "churned"]),
            "zero_total_charge_rows": int((df["total_charges"] == 0).sum()),
            **segment_kpis(df, "plan", labels, "churned", "churn_rate_pct", rate=True)}
    facts = {"outlier": {"column": "support_tickets", "rows": heavy.tolist(), "unit": ""},
             "correlation": {"columns": ["tenure_months", "total_charges"]},
             "missing": {"column": "last_login_days", "why": "accounts that never used the app have no login"},
             "trend": {"kpi": "churn_rate_pct_recent_signups", "baseline": "churn_rate_pct_older_signups",
                       "metric": "churn rate"},
             "segment": {"column": "plan", "metric": "churn rate", "unit": "%",
                         "kpis": {lab: f"churn_rate_pct_{slug(lab)}" for lab in labels}},
             "quality": {"column": "total_charges", "kpi": "zero_total_charge_rows",
                         "what": "active accounts with zero lifetime charges", "rows": bad.tolist()},
             "pii_columns": ["email", "phone"]}
    return SyntheticTable("churn", table_name(("subscriber_churn", "customer_accounts", "saas_retention"), rng),
                          df, kpis, facts)


def web_traffic(seed: int) -> SyntheticTable:
    rng, prng = rngs(seed)
    n = int(rng.integers(400, 1000))
    when = sorted_times(rng, n, "2026-06-01", 120, growth=float(rng.uniform(0.4, 0.9)))
    device = rng.choice(["desktop", "mobile", "tablet"], size=n, p=[0.45, 0.45, 0.1])
    pages = rng.poisson(3.5, n) + 1
    seconds = np.round(pages * 40 * rng.lognormal(0, 0.35, n), 1)
    bots = pick_rows(rng, n, int(rng.integers(3, 7)))
    seconds[bots] = np.round(rng.uniform(9000, 30000, len(bots)), 1)
    bad = pick_rows(rng, n, int(rng.integers(2, 5)), set(bots.tolist()))
    seconds[bad] = -np.round(rng.uniform(5, 300, len(bad)), 1)
    p_conv = pd.Series(device).map({"desktop": 0.07, "mobile": 0.025, "tablet": 0.045}).to_numpy()
    converted = rng.random(n) < p_conv * (0.6 + 0.15 * pages)
    order_value = np.where(converted, np.round(rng.lognormal(np.log(85), 0.5, n), 2), np.nan)
    df = pd.DataFrame({
        "session_start": when, "channel": rng.choice(["organic", "paid_search", "email", "social", "referral"],
                                                     size=n, p=[0.38, 0.27, 0.12, 0.15, 0.08]),
        "device": device, "pages_viewed": pages, "session_sec": seconds, "converted": converted,
        "order_value": order_value, "client_ip": [pii.ipv4(prng) for _ in range(n)]})
    labels = ["desktop", "mobile"]
    kpis = {"sessions_growth_pct": half_growth_pct(df["session_start"]),
            "conversion_rate_pct": rate_pct(df["converted"]),
            "negative_duration_sessions": int((df["session_sec"] < 0).sum()),
            **segment_kpis(df, "device", labels, "converted", "conversion_rate_pct", rate=True)}
    facts = {"outlier": {"column": "session_sec", "rows": bots.tolist(), "unit": "s"},
             "correlation": {"columns": ["pages_viewed", "session_sec"]},
             "missing": {"column": "order_value", "why": "only converting sessions carry an order value"},
             "trend": {"kpi": "sessions_growth_pct", "metric": "sessions"},
             "segment": {"column": "device", "metric": "conversion rate", "unit": "%",
                         "kpis": {lab: f"conversion_rate_pct_{slug(lab)}" for lab in labels}},
             "quality": {"column": "session_sec", "kpi": "negative_duration_sessions",
                         "what": "sessions with a negative duration", "rows": bad.tolist()},
             "pii_columns": ["client_ip"]}
    return SyntheticTable("web_traffic", table_name(("web_sessions", "site_analytics", "landing_page_visits"), rng),
                          df, kpis, facts)


BUILDERS = {"sales": sales, "churn": churn, "web_traffic": web_traffic}
