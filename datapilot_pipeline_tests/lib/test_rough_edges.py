"""Inputs a new user meets on day one: real tables with nested cells and repeated names, NaN in a compact EDA,
a UTF-8 byte order mark, names with spaces, an inbox that is a file, preference and plain TRL datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datapilot_pipeline import FeedbackCollector
from datapilot_pipeline.lib.contracts import CompactEDA
from datapilot_pipeline.lib.eda import compact_eda
from datapilot_pipeline.lib.evidence import evidence_problems
from datapilot_pipeline.lib.jsonl import iter_jsonl
from datapilot_pipeline.lib.validation.records import read_records
from datapilot_pipeline.lib.validation.report import validate_dataset
from datapilot_pipeline_tests.feedback_fixtures import feedback_kwargs, sales_eda, sales_output


def _sklearn_tables() -> list[tuple[str, pd.DataFrame]]:
    datasets = pytest.importorskip("sklearn.datasets")  # bundled CSVs, no download
    return [(name, getattr(datasets, f"load_{name}")(as_frame=True).frame)
            for name in ("iris", "wine", "diabetes", "breast_cancer", "linnerud")]


def _with_awkward_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The real table plus list, dict and set cells derived from its rows, and a repeated column name."""
    first, second = df.columns[0], df.columns[1]
    out = df.copy()
    out["as_list"] = [[round(float(a), 2), round(float(b), 2)] for a, b in zip(df[first], df[second])]
    out["as_dict"] = [{"bucket": int(float(a) > float(df[first].median()))} for a in df[first]]
    out["as_set"] = [{int(float(a)) % 3, int(float(b)) % 2} for a, b in zip(df[first], df[second])]
    out.loc[0, "as_list"] = None
    return pd.concat([out, df[[first]]], axis=1)  # `first` twice


@pytest.mark.parametrize("name", ["iris", "wine", "diabetes", "breast_cancer", "linnerud"])
def test_compact_eda_profiles_real_tables_with_nested_cells_and_repeated_names(name):
    df = _with_awkward_columns(dict(_sklearn_tables())[name])
    first = str(df.columns[0])
    eda = compact_eda(df, f"{name}.csv")
    CompactEDA.model_validate(eda)
    json.dumps(eda, allow_nan=False)  # plain JSON, no NaN
    assert eda["dataset"]["n_cols"] == df.shape[1] == len(eda["columns"])
    assert eda["columns"][f"{first}.1"]["stats"] == eda["columns"][first]["stats"]
    nested = eda["columns"]["as_list"]
    assert nested["missing"] == 1 and nested["unique"] >= 2
    assert eda["columns"]["as_dict"]["top_values"].keys() <= {'{"bucket": 0}', '{"bucket": 1}'}
    assert all(json.loads(k) == sorted(json.loads(k)) for k in eda["columns"]["as_set"]["top_values"])
    # what the EDA reports about a nested column can be cited as evidence
    label, count = next(iter(eda["columns"]["as_dict"]["top_values"].items()))
    pointer = "/columns/as_dict/top_values/" + label.replace("~", "~0").replace("/", "~1")
    assert evidence_problems({"columns": ["as_dict", f"{first}.1"], "aggregates": {pointer: count}}, eda) == []


def test_names_and_labels_with_spaces_can_be_cited(tmp_path: Path):
    df = pd.DataFrame({" revenue": [10.0, 20.0, 30.0, 400.0], "region ": ["EMEA ", "NA", "EMEA ", " APAC"]})
    eda = compact_eda(df, "padded.csv")
    output = {"insights": [{
        "id": "i1", "category": "segment", "severity": "low", "text": "EMEA has two orders.",
        "evidence": {"columns": [" revenue", "region "],
                     "aggregates": {"/columns/region /top_values/EMEA ": 2, "/columns/ revenue/stats/max": 400.0}},
        "recommendation": {"action": "Compare regions.", "priority": "low"}}]}
    path = FeedbackCollector(inbox=tmp_path).collect_feedback(
        **feedback_kwargs(compact_eda=eda, llm_output=output,
                          feedback_items=[{"insight_id": "i1", "action": "approve", "human_score": 5}]))
    saved = json.loads(path.read_text())["llm_output"]["insights"][0]["evidence"]
    assert saved["columns"] == [" revenue", "region "]  # the names as the table spells them
    assert evidence_problems(saved, eda) == []
    # padding an LLM adds around a plain name is still tolerated
    plain = sales_eda()
    assert evidence_problems({"columns": [" revenue "], "aggregates": {" /columns/revenue/stats/max ": 9800}}, plain) == []
    assert evidence_problems({"columns": ["revenue"], "row_indices": [0]}, eda) == ["column 'revenue' is not in the compact EDA"]


def test_nan_in_a_compact_eda_becomes_null_and_never_reaches_the_file(tmp_path: Path):
    eda = sales_eda()
    eda["kpis"]["margin"] = float("nan")
    eda["columns"]["revenue"]["stats"]["std"] = float("inf")
    path = FeedbackCollector(inbox=tmp_path).collect_feedback(**feedback_kwargs(compact_eda=eda))
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    saved = json.loads(text)["compact_eda"]
    assert saved["kpis"]["margin"] is None and saved["columns"]["revenue"]["stats"]["std"] is None


def test_nan_in_a_claimed_aggregate_is_rejected(tmp_path: Path):
    output = sales_output()
    output["insights"][0]["evidence"]["aggregates"]["/columns/revenue/stats/max"] = float("nan")
    with pytest.raises(ValueError, match=r"llm_output\.insights\.0\.evidence\.aggregates.*not a JSON number"):
        FeedbackCollector(inbox=tmp_path).collect_feedback(**feedback_kwargs(llm_output=output))
    assert list(tmp_path.iterdir()) == []


def test_an_inbox_that_is_a_file_is_a_clear_value_error(tmp_path: Path):
    a_file = tmp_path / "a_file.json"
    a_file.write_text("{}")
    with pytest.raises(ValueError, match="is a file; give the folder"):
        FeedbackCollector(inbox=a_file)


def test_a_byte_order_mark_on_line_1_is_accepted(tmp_path: Path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"a": 1}\n{"a": 2}\n')
    assert [v for _, v in iter_jsonl(path)] == [{"a": 1}, {"a": 2}]
    line = {"prompt": "p", "completion": json.dumps(sales_output())}
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(line).encode() + b"\n")
    assert read_records(path)[0].problems == []


def _completion() -> str:
    return json.dumps(sales_output())


def test_preference_and_plain_trl_files_validate_like_prompt_completion(tmp_path: Path):
    rejected = dict(sales_output(), summary="other")
    lines = {"preference": [{"prompt": f"task {n}", "chosen": _completion(), "rejected": json.dumps(rejected)}
                            for n in range(60)],
             "trl": [{"prompt": f"task {n}", "completion": _completion()} for n in range(60)]}
    for fmt, rows in lines.items():
        path = tmp_path / f"{fmt}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        report = validate_dataset(path, run_gx=False).report
        assert report["schema"]["invalid_count"] == 0, (fmt, report["schema"]["errors"][:2])
        assert report["quality_score"] >= 70, (fmt, report["issues"])
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"prompt": "p", "chosen": _completion(), "rejected": ""}) + "\n"
                      + json.dumps({"prompt": "p", "completion": _completion(), "metadata": "x"}) + "\n")
    problems = [r.problems for r in read_records(broken)]
    assert problems == [["rejected must be a non-empty string"], ["metadata must be an object when present"]]


def test_preference_format_is_named_in_the_report(tmp_path: Path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": _completion(), "rejected": "{}"}) + "\n")
    assert validate_dataset(path, run_gx=False).report["schema"]["formats"] == {"preference": 1}
    assert np.isfinite(validate_dataset(path, run_gx=False).report["quality_score"])
