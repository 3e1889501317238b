"""`compact_eda`: the contract shape, correct statistics, and JSON-safe values on awkward tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from datapilot_pipeline.lib.contracts import CompactEDA
from datapilot_pipeline.lib.eda import MAX_OUTLIER_ROWS, SAMPLE_ROWS, compact_eda
from datapilot_pipeline.lib.evidence import evidence_problems


@pytest.fixture
def orders() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    units = rng.integers(1, 10, 200)
    revenue = units * 20.0 + rng.normal(0, 2, 200)
    revenue[[17, 150]] = [600.0, 900.0]
    region = np.where(np.arange(200) % 4 == 0, "EMEA", "NA")
    discount = np.where(np.arange(200) % 10 == 0, np.nan, 5.0)
    return pd.DataFrame({"units": units, "revenue": revenue, "region": region, "discount": discount,
                         "day": pd.date_range("2026-01-01", periods=200, freq="D")})


def test_contract_shape_and_statistics(orders: pd.DataFrame) -> None:
    eda = compact_eda(orders, "orders.csv", kpis={"margin_pct": 31.25})
    CompactEDA.model_validate(eda)
    json.dumps(eda, allow_nan=False)
    assert eda["dataset"] == {"name": "orders.csv", "n_rows": 200, "n_cols": 5}
    rev = eda["columns"]["revenue"]
    assert rev["dtype"] == "float" and rev["stats"]["max"] == 900.0
    assert rev["stats"]["median"] == pytest.approx(orders["revenue"].median(), abs=1e-4)
    assert {17, 150} <= set(rev["outliers"]["row_indices"]) and rev["outliers"]["method"] == "iqr"
    assert eda["columns"]["units"]["dtype"] == "int"
    assert eda["columns"]["region"] == {"dtype": "category", "missing": 0, "unique": 2,
                                        "top_values": {"NA": 150, "EMEA": 50}}
    assert eda["columns"]["discount"]["missing"] == 20
    assert eda["columns"]["day"]["range"] == {"min": "2026-01-01T00:00:00", "max": "2026-07-19T00:00:00"}
    assert eda["kpis"]["row_count"] == 200 and eda["kpis"]["margin_pct"] == 31.25
    assert eda["kpis"]["total_revenue"] == pytest.approx(orders["revenue"].sum(), rel=1e-6)
    assert eda["kpis"]["missing_cell_pct"] == pytest.approx(100 * 20 / 1000)


def test_evidence_can_cite_what_the_eda_reports(orders: pd.DataFrame) -> None:
    eda = compact_eda(orders, "orders.csv")
    pair = eda["correlations"][0]
    assert pair["columns"] == ["units", "revenue"] and 0.3 <= abs(pair["pearson"]) <= 1
    evidence = {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 900.0,
                                                       "/correlations/0/pearson": pair["pearson"],
                                                       "total_revenue": eda["kpis"]["total_revenue"]},
                "row_indices": [17, 150]}
    assert evidence_problems(evidence, eda) == []


def test_sample_rows_keep_native_types() -> None:
    df = pd.DataFrame({"units": [1, 2, 3, 4], "price": [1.5, 2.5, 3.5, 4.5]})  # all numeric: iterrows upcasts
    rows = compact_eda(df, "t")["sample_rows"]
    assert len(rows) == SAMPLE_ROWS and [r["row_index"] for r in rows] == [0, 1, 2]
    assert rows[0]["values"] == {"units": 1, "price": 1.5} and isinstance(rows[0]["values"]["units"], int)


def test_missing_markers_and_infinities_become_null() -> None:
    df = pd.DataFrame({"n": pd.array([1, None, 3, 4], dtype="Int64"), "s": ["x", None, "y", "z"],
                       "f": [1.0, np.nan, np.inf, 2.0], "t": pd.to_datetime(["2026-01-01", None, "2026-01-03", None])})
    eda = compact_eda(df, "awkward")
    json.dumps(eda, allow_nan=False)  # strict JSON: no NaN/Infinity anywhere
    assert eda["sample_rows"][1]["values"] == {"n": None, "s": None, "f": None, "t": None}
    assert eda["sample_rows"][2]["values"]["f"] is None
    f = eda["columns"]["f"]
    assert f["infinite"] == 1 and f["stats"]["max"] == 2.0 and f["stats"]["mean"] == 1.5
    assert f["outliers"]["row_indices"] == [2]  # an infinite value is an outlier, not a hole in the stats
    assert eda["columns"]["n"]["missing"] == 1 and eda["columns"]["n"]["stats"]["max"] == 4


def test_non_string_column_names_match_between_columns_and_correlations() -> None:
    eda = compact_eda(pd.DataFrame({0: [1, 2, 3, 4, 5], 1: [2, 4, 6, 8, 11]}), "ints")
    assert list(eda["columns"]) == ["0", "1"] and eda["correlations"][0]["columns"] == ["0", "1"]
    assert evidence_problems({"columns": eda["correlations"][0]["columns"],
                              "aggregates": {"/correlations/0/pearson": eda["correlations"][0]["pearson"]}}, eda) == []


def test_edge_tables() -> None:
    empty = compact_eda(pd.DataFrame(), "empty.csv")
    assert empty["dataset"] == {"name": "empty.csv", "n_rows": 0, "n_cols": 0} and empty["sample_rows"] == []
    blank = compact_eda(pd.DataFrame({"revenue": [np.nan, np.nan]}), "blank.csv")
    assert blank["kpis"]["total_revenue"] is None and blank["kpis"]["missing_cell_pct"] == 100.0
    assert "stats" not in blank["columns"]["revenue"]
    flags = compact_eda(pd.DataFrame({"ok": [True, False, True], "a": [1, 2, 3], "b": [3, 2, 1]}), "flags.csv")
    assert flags["columns"]["ok"]["top_values"] == {"True": 2, "False": 1}
    assert all("ok" not in p["columns"] for p in flags["correlations"])
    shifted = compact_eda(pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=[10, 20, 30]), "idx.csv")
    assert [r["row_index"] for r in shifted["sample_rows"]] == [0, 1, 2]  # positions, not labels


def test_outlier_rows_are_capped_but_counted() -> None:
    values = np.r_[np.full(100, 10.0), np.linspace(1000, 2000, 30)]
    eda = compact_eda(pd.DataFrame({"v": values}), "many.csv")
    out = eda["columns"]["v"]["outliers"]
    assert out["count"] == 30 and len(out["row_indices"]) == MAX_OUTLIER_ROWS and out["row_indices"][0] == 100
