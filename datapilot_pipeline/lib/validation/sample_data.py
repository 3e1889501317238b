"""Realistic fine-tuning lines for tests and the validation benchmark: varied compact EDAs built with
`lib.prompts.build_prompt`, completions whose evidence the EDA supports, optional planted PII."""

from __future__ import annotations

import random

from datapilot_pipeline.lib.atomic import dumps_compact
from datapilot_pipeline.lib.prompts import build_prompt

_TABLES = ("sales", "orders", "churn", "web_traffic", "inventory", "payroll", "tickets", "claims")
_NUMERIC = ("revenue", "units", "discount", "latency_ms", "tenure_days", "basket_size", "cost", "margin")
_CATEGORIES = {"region": ("EMEA", "NA", "APAC", "LATAM"), "channel": ("web", "store", "partner"),
               "plan": ("free", "pro", "team", "enterprise"), "status": ("open", "closed", "pending")}


def compact_eda(rng: random.Random, index: int, contact: str | None = None) -> dict:
    """A compact EDA of a made-up table; `contact` (e.g. planted PII) lands in a sample row."""
    n_rows = rng.randint(200, 50_000)
    columns: dict = {}
    for name in rng.sample(_NUMERIC, 3):
        mean = round(rng.uniform(5, 5000), 2)
        std = round(mean * rng.uniform(0.05, 0.6), 2)
        outliers = sorted(rng.sample(range(n_rows), 4))
        columns[name] = {"dtype": "float", "missing": rng.randint(0, 40), "unique": rng.randint(50, n_rows),
                         "stats": {"mean": mean, "std": std, "min": round(mean - 2.5 * std, 2),
                                   "p25": round(mean - 0.7 * std, 2), "median": round(mean + rng.uniform(-1, 1), 2),
                                   "p75": round(mean + 0.7 * std, 2), "max": round(mean + 9 * std, 2)},
                         "outliers": {"method": "iqr", "count": 4, "row_indices": outliers}}
    cat_name = rng.choice(sorted(_CATEGORIES))
    labels = _CATEGORIES[cat_name]
    columns[cat_name] = {"dtype": "category", "missing": 0, "unique": len(labels),
                         "top_values": {label: rng.randint(10, n_rows // 3) for label in labels}}
    numeric = [c for c in columns if columns[c]["dtype"] == "float"]
    values = {numeric[0]: columns[numeric[0]]["stats"]["median"], cat_name: labels[0]}
    if contact is not None:
        values["contact"] = contact
    return {"dataset": {"name": f"{rng.choice(_TABLES)}_{index}.csv", "n_rows": n_rows, "n_cols": len(columns)},
            "columns": columns,
            "correlations": [{"columns": numeric[:2], "pearson": round(rng.uniform(-0.95, 0.95), 3)}],
            "kpis": {f"total_{numeric[0]}": round(columns[numeric[0]]["stats"]["mean"] * n_rows, 2)},
            "sample_rows": [{"row_index": rng.randrange(n_rows), "values": values}]}


def output_for(eda: dict, rng: random.Random, note: str | None = None) -> dict:
    """An insight output whose evidence is valid against `eda`; `note` is appended to the summary."""
    numeric = [c for c, p in eda["columns"].items() if p["dtype"] == "float"]
    col = numeric[0]
    stats = eda["columns"][col]["stats"]
    rows = eda["columns"][col]["outliers"]["row_indices"][:2]
    corr = eda["correlations"][0]
    insights = [
        {"id": "i1", "category": "outlier", "severity": rng.choice(["medium", "high"]),
         "text": f"{len(rows)} rows of {col} exceed {stats['max'] * 0.9:.1f}, far above the median {stats['median']}.",
         "evidence": {"columns": [col], "aggregates": {f"/columns/{col}/stats/max": stats["max"]}, "row_indices": rows},
         "recommendation": {"action": f"Audit rows {rows[0]} and {rows[1]} for entry errors.", "priority": "high"}},
        {"id": "i2", "category": "correlation", "severity": "medium",
         "text": f"{corr['columns'][0]} and {corr['columns'][1]} move together (r = {corr['pearson']}).",
         "evidence": {"columns": corr["columns"], "aggregates": {"/correlations/0/pearson": corr["pearson"]}},
         "recommendation": {"action": f"Model {corr['columns'][1]} jointly with {corr['columns'][0]}.",
                            "priority": "medium"}},
    ]
    summary = f"{eda['dataset']['name']}: {len(insights)} findings on {eda['dataset']['n_rows']} rows."
    return {"insights": insights, "summary": summary + (f" {note}" if note else "")}


def shots(seed: int = 0, n: int = 1) -> list[dict]:
    rng = random.Random(10_000 + seed)
    out = []
    for k in range(n):
        eda = compact_eda(rng, 9000 + k)
        out.append({"compact_eda": eda, "output": output_for(eda, rng)})
    return out


def example_line(index: int, seed: int = 0, shot_list: list[dict] | None = None, contact: str | None = None,
                 note: str | None = None) -> dict:
    """One prompt-completion export line; distinct for every (index, seed)."""
    rng = random.Random(seed * 1_000_003 + index)
    eda = compact_eda(rng, index, contact=contact)
    output = output_for(eda, rng, note=note)
    prompt = build_prompt(eda, shots(seed) if shot_list is None else shot_list)
    completion = dumps_compact(output)
    return {"prompt": prompt, "completion": completion,
            "metadata": {"job_id": f"job_{seed}_{index}", "reviewer_id": "analyst_1", "overall_score": 4,
                         "approved_insight_count": len(output["insights"]), "prompt_length": len(prompt),
                         "completion_length": len(completion)}}


def example_lines(n: int, seed: int = 0, n_shots: int = 1) -> list[dict]:
    """`n` distinct lines sharing one system prompt and few-shot block (about 2.9 KB with no shots)."""
    shot_list = shots(seed, n_shots)
    return [example_line(i, seed, shot_list) for i in range(n)]
