"""The prompt's compact EDA as one `"JSON Pointer":value` line per value (prompt version v2): every number evidence can
cite appears verbatim, keyed exactly as evidence cites it, and the nested EDA reads back from the prompt."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from datapilot_pipeline.lib.eda import compact_eda
from datapilot_pipeline.lib.evidence import resolve_pointer
from datapilot_pipeline.lib.grounding import numeric_pointers
from datapilot_pipeline.lib.prompts import (PROMPT_VERSION, build_prompt, extract_task_eda, flatten_eda, render_eda,
                                            unflatten_eda, without_nulls)

EDA = {"dataset": {"name": "q3 sales.csv", "n_rows": 1200, "n_cols": 3},
       "columns": {"revenue": {"dtype": "float", "missing": 3, "stats": {"mean": 1520.4, "max": 9800.0},
                               "outliers": {"method": "iqr", "count": 2, "row_indices": [17, 250]}},
                   "a/b~c": {"dtype": "int", "stats": {"mean": 2.5, "skew": None}},
                   "region": {"dtype": "category", "top_values": {"EMEA": 500, "N/A": 7}}},
       "correlations": [{"columns": ["revenue", "a/b~c"], "pearson": 0.91}],
       "kpis": {"total_revenue": 1824480.0},
       "sample_rows": [{"row_index": 0, "values": {"revenue": 1200.5, "region": "EMEA"}}]}


def test_every_line_is_a_pointer_that_resolves_to_its_value():
    flat = json.loads(render_eda(EDA))
    assert flat == flatten_eda(without_nulls(EDA))
    for pointer, value in flat.items():
        assert resolve_pointer(EDA, pointer) == value, pointer
    assert flat["/columns/a~1b~0c/stats/mean"] == 2.5  # RFC 6901 escapes, as evidence writes them
    assert flat["/correlations/0/pearson"] == 0.91 and flat["/columns/revenue/outliers/row_indices"] == [17, 250]
    assert flat["/sample_rows/0/values"] == {"region": "EMEA", "revenue": 1200.5}  # one line per sample row
    assert "/columns/a~1b~0c/stats/skew" not in flat  # nulls are left out


def test_every_number_evidence_can_cite_is_a_line_of_the_prompt():
    prompt = build_prompt(EDA, [])
    checked = 0
    for pointer in numeric_pointers(EDA):
        parent = pointer.rsplit("/", 1)[0]
        if not pointer.startswith("/") or pointer.startswith("/sample_rows/") \
                or isinstance(resolve_pointer(EDA, parent), list):
            continue  # bare KPI names; a sample row's cells and an array's items sit inside one line
        line = f"{json.dumps(pointer)}:{json.dumps(resolve_pointer(EDA, pointer))}"
        assert line in prompt, line
        checked += 1
    assert checked >= 8


@pytest.mark.parametrize("name", ["iris", "wine"])
def test_a_real_tables_eda_reads_back_from_the_prompt(name):
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    eda = compact_eda(pd.DataFrame(frame), f"{name}.csv")
    assert extract_task_eda(build_prompt(eda, [])) == without_nulls(eda)


def test_unflatten_inverts_flatten_and_the_version_says_so():
    assert unflatten_eda(flatten_eda(without_nulls(EDA))) == without_nulls(EDA)
    assert PROMPT_VERSION == "v2"
    assert extract_task_eda("### Task\nCompact EDA:\n{\"a\": 1}\nInsights:\n") is None  # not pointer-keyed
