"""Operations table shapes: inventory snapshots, HR rosters, support tickets (same planted effects
as `shapes.py`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from datapilot_pipeline.lib.synthetic import pii
from datapilot_pipeline.lib.synthetic.tables import (SyntheticTable, half_growth_pct, pick_rows, rate_pct, rngs,
                                                     segment_kpis, slug, sorted_times, table_name, with_missing)


def inventory(seed: int) -> SyntheticTable:
    rng, _ = rngs(seed)
    n = int(rng.integers(250, 700))
    restock = sorted_times(rng, n, "2026-07-01", 120)
    t = ((restock - restock.min()) / (restock.max() - restock.min())).to_numpy()
    warehouse = rng.choice(["RNO", "ATL", "CMH", "DFW"], size=n, p=[0.3, 0.3, 0.25, 0.15])
    demand = np.round(rng.gamma(2.0, 6.0, n) * (1 + 0.5 * t), 2)
    lead = rng.integers(2, 21, n)
    reorder = np.round(demand * lead * rng.normal(1.2, 0.08, n)).astype(int)
    short = pd.Series(warehouse).map({"RNO": 0.9, "ATL": 1.3, "CMH": 1.0, "DFW": 0.6}).to_numpy()
    stock = np.round(reorder * rng.uniform(0.2, 2.5, n) * short).astype(int)
    cost = np.round(rng.lognormal(np.log(18), 0.35, n), 2)
    spikes = pick_rows(rng, n, int(rng.integers(3, 7)))
    cost[spikes] = np.round(cost[spikes] * rng.uniform(12, 30, len(spikes)), 2)
    bad = pick_rows(rng, n, int(rng.integers(2, 6)), set(spikes.tolist()))
    stock[bad] = -rng.integers(1, 40, len(bad))
    df = pd.DataFrame({
        "sku": [f"SKU-{v}" for v in rng.choice(np.arange(10000, 99999), size=n, replace=False)],
        "warehouse": warehouse, "last_restock": restock, "daily_demand": demand,
        "lead_time_days": with_missing(rng, lead, float(rng.uniform(0.05, 0.12))),
        "reorder_point": reorder, "stock_on_hand": stock, "unit_cost": cost})
    late = df["last_restock"] > restock.min() + (restock.max() - restock.min()) / 2
    labels = ["ATL", "DFW"]
    kpis = {"demand_growth_pct": round(100.0 * (df.loc[late, "daily_demand"].mean()
                                                / df.loc[~late, "daily_demand"].mean() - 1), 2),
            "negative_stock_skus": int((df["stock_on_hand"] < 0).sum()),
            "inventory_value": round(float((df["stock_on_hand"].clip(lower=0) * df["unit_cost"]).sum()), 2),
            **segment_kpis(df, "warehouse", labels, "stock_on_hand", "avg_stock")}
    facts = {"outlier": {"column": "unit_cost", "rows": spikes.tolist(), "unit": "$"},
             "correlation": {"columns": ["daily_demand", "reorder_point"]},
             "missing": {"column": "lead_time_days", "why": "new suppliers have no lead time on file"},
             "trend": {"kpi": "demand_growth_pct", "metric": "average daily demand"},
             "segment": {"column": "warehouse", "metric": "average stock on hand", "unit": " units",
                         "kpis": {lab: f"avg_stock_{slug(lab)}" for lab in labels}},
             "quality": {"column": "stock_on_hand", "kpi": "negative_stock_skus", "what": "SKUs with negative stock",
                         "rows": bad.tolist()},
             "pii_columns": []}
    return SyntheticTable("inventory", table_name(("inventory_snapshot", "warehouse_stock", "sku_levels"), rng),
                          df, kpis, facts)


def hr(seed: int) -> SyntheticTable:
    rng, prng = rngs(seed)
    n = int(rng.integers(200, 600))
    hired = sorted_times(rng, n, "2019-01-01", 2700, growth=float(rng.uniform(0.5, 1.2)))
    dept = rng.choice(["Engineering", "Sales", "Support", "Finance", "Operations"], size=n,
                      p=[0.32, 0.22, 0.2, 0.1, 0.16])
    level = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.3, 0.3, 0.22, 0.13, 0.05])
    tenure = np.round(((pd.Timestamp("2026-11-01") - hired).dt.days / 365.25).to_numpy(), 1)
    salary = np.round(52000 * (1 + 0.32 * (level - 1)) * (1 + 0.025 * tenure) * rng.normal(1, 0.06, n), -2)
    execs = pick_rows(rng, n, int(rng.integers(3, 6)))
    salary[execs] = np.round(salary[execs] * rng.uniform(3.2, 4.5, len(execs)), -2)
    overtime = np.round(rng.gamma(2.0, 3.0, n) * pd.Series(dept).map(
        {"Engineering": 1.0, "Sales": 1.2, "Support": 1.8, "Finance": 0.8, "Operations": 1.3}).to_numpy(), 1)
    left = rng.random(n) < 1 / (1 + np.exp(-(-2.6 + 0.12 * overtime)))
    bad = pick_rows(rng, n, int(rng.integers(2, 5)), set(execs.tolist()))
    tenure[bad] = -np.round(rng.uniform(0.1, 1.5, len(bad)), 1)
    df = pd.DataFrame({
        "employee_id": [f"E{v}" for v in rng.choice(np.arange(10000, 99999), size=n, replace=False)],
        "department": dept, "level": level, "hire_date": hired, "tenure_years": tenure, "salary": salary,
        "performance_score": with_missing(rng, rng.choice([1, 2, 3, 4, 5], size=n, p=[.05, .15, .4, .3, .1]),
                                          float(rng.uniform(0.08, 0.18))),
        "overtime_hours": overtime, "left_company": left,
        "work_email": [pii.email(prng) for _ in range(n)], "ssn": [pii.ssn(prng) for _ in range(n)]})
    labels = ["Support", "Finance"]
    kpis = {"hiring_growth_pct": half_growth_pct(df["hire_date"]),
            "attrition_rate_pct": rate_pct(df["left_company"]),
            "negative_tenure_rows": int((df["tenure_years"] < 0).sum()),
            **segment_kpis(df, "department", labels, "left_company", "attrition_rate_pct", rate=True)}
    facts = {"outlier": {"column": "salary", "rows": execs.tolist(), "unit": "$"},
             "correlation": {"columns": ["level", "salary"]},
             "missing": {"column": "performance_score", "why": "employees hired after the last cycle have no score"},
             "trend": {"kpi": "hiring_growth_pct", "metric": "hiring"},
             "segment": {"column": "department", "metric": "attrition rate", "unit": "%",
                         "kpis": {lab: f"attrition_rate_pct_{slug(lab)}" for lab in labels}},
             "quality": {"column": "tenure_years", "kpi": "negative_tenure_rows",
                         "what": "employees with a negative tenure", "rows": bad.tolist()},
             "pii_columns": ["work_email", "ssn"]}
    return SyntheticTable("hr", table_name(("employee_roster", "hr_headcount", "people_analytics"), rng),
                          df, kpis, facts)


BUILDERS = {"inventory": inventory, "hr": hr}
