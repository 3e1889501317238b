"""Small hand-checkable holdout examples and canned model replies for the evaluation tests."""

from __future__ import annotations

import json

N_ROWS = 100


def compact_eda(name: str) -> dict:
    return {"dataset": {"name": name, "n_rows": N_ROWS, "n_cols": 2},
            "columns": {"revenue": {"dtype": "float", "missing": 0, "unique": 90,
                                    "stats": {"mean": 50.0, "std": 5.0, "min": 1.0, "p25": 45.0, "median": 50.0,
                                              "p75": 55.0, "max": 980.0},
                                    "outliers": {"method": "iqr", "count": 2, "row_indices": [17, 42]}},
                        "region": {"dtype": "category", "missing": 3, "unique": 2, "top_values": {"EMEA": 60, "NA": 37}}},
            "correlations": [], "kpis": {"total_revenue": 5000.0}, "sample_rows": []}


def insight(iid: str, category: str = "outlier", rows: list | None = None, aggregates: dict | None = None) -> dict:
    return {"id": iid, "category": category, "severity": "high", "text": f"Insight {iid} about revenue.",
            "evidence": {"columns": ["revenue"], "aggregates": aggregates if aggregates is not None else {},
                         "row_indices": rows if rows is not None else []},
            "recommendation": {"action": "Check the rows.", "priority": "high"}}


def valid_output() -> dict:
    return {"insights": [insight("i1", rows=[17, 42]),
                         insight("i2", "quality", aggregates={"/columns/revenue/stats/max": 980.0})],
            "summary": "Two outliers."}


def text(obj: dict) -> str:
    return json.dumps(obj)


# Replies by kind; the comments give (schema pass, insights counted, valid evidence).
def reply(kind: str) -> str:
    if kind == "valid":  # (1, 2, 2)
        return text(valid_output())
    if kind == "fenced":  # (1, 2, 2): one Markdown fence is tolerated
        return "```json\n" + text(valid_output()) + "\n```"
    if kind == "truncated":  # (0, 0, 0)
        return text(valid_output())[:-40]
    if kind == "wrong_enum":  # (0, 0, 0)
        out = valid_output()
        out["insights"][0]["category"] = "banana"
        return text(out)
    if kind == "missing_field":  # (0, 0, 0)
        out = valid_output()
        del out["insights"][1]["recommendation"]
        return text(out)
    if kind == "prose":  # (0, 0, 0)
        return "Revenue has two outliers at rows 17 and 42; consider checking them."
    if kind == "wrong_row":  # (1, 2, 1): row 5000 is outside [0, 100)
        out = valid_output()
        out["insights"][0]["evidence"]["row_indices"] = [17, 5000]
        return text(out)
    if kind == "hallucinated":  # (1, 2, 1): the EDA says max 980, not 99999
        out = valid_output()
        out["insights"][1]["evidence"]["aggregates"] = {"/columns/revenue/stats/max": 99999.0}
        return text(out)
    raise KeyError(kind)


def holdout(n: int) -> list[dict]:
    return [{"example_id": f"h{k}", "compact_eda": compact_eda(f"holdout_{k}.csv"), "output": valid_output()}
            for k in range(1, n + 1)]


def seeds(n: int = 4) -> list[dict]:
    cats = ["outlier", "quality", "trend", "segment", "distribution"]
    return [{"example_id": f"seed{k}", "compact_eda": compact_eda(f"seed_{k}.csv"),
             "output": {"insights": [insight("i1", cats[k % len(cats)], rows=[1])]}} for k in range(n)]
