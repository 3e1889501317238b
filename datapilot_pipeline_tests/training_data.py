"""Prompt/completion lines for training tests, built the way export builds them (real compact EDAs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datapilot_pipeline.lib.atomic import atomic_write_jsonl, dumps_compact
from datapilot_pipeline.lib.eda import compact_eda
from datapilot_pipeline.lib.prompts import build_prompt


def example(i: int, n_rows: int = 12) -> dict:
    rng = np.random.default_rng(i)
    df = pd.DataFrame({"revenue": rng.normal(100, 10, n_rows).round(1),
                       "region": rng.choice(["EMEA", "NA"], n_rows)})
    eda = compact_eda(df, f"t{i}.csv")
    top = float(eda["columns"]["revenue"]["stats"]["max"])
    output = {"insights": [{"id": "i1", "category": "outlier", "severity": "medium",
                            "text": f"Revenue peaks at {top}.",
                            "evidence": {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": top},
                                         "row_indices": []},
                            "recommendation": {"action": "Check the largest order.", "priority": "low"}}]}
    return {"prompt": build_prompt(eda, []), "completion": dumps_compact(output),
            "metadata": {"job_id": f"job_{i}", "split": "validation" if i % 8 == 0 else "train"}}


def write_dataset(path: Path, n: int, start: int = 0) -> Path:
    return atomic_write_jsonl(path, [example(i) for i in range(start, start + n)])
