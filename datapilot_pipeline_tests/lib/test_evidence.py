"""The evidence-validity rule of DESIGN.md: columns exist, rows in range, aggregates resolve within 1%, and at least
one checkable claim (an aggregate, or rows the EDA ties to a cited column)."""

from __future__ import annotations

import json

import pytest

from datapilot_pipeline.lib.evidence import (
    _MISSING, aggregate_pointer, check_output, evidence_is_valid, evidence_problems, numbers_match, resolve_pointer,
    validate_output,
)

EDA = {
    "dataset": {"name": "sales_q3.csv", "n_rows": 1200, "n_cols": 6},
    "columns": {
        "revenue": {"dtype": "float", "missing": 3, "unique": 1100,
                    "stats": {"mean": 1520.4, "min": 10.0, "max": 9800.0, "skew": 0, "p50": None},
                    "outliers": {"method": "iqr", "count": 4, "row_indices": [17, 250, 811, 1033]}},
        "region": {"dtype": "category", "missing": 0, "unique": 4, "top_values": {"EMEA": 500, "N/A": 7}},
        "a/b": {"dtype": "int", "stats": {"mean": 2.0}},
        "m~n": {"dtype": "int", "stats": {"mean": 5.0}},
        "flag": {"dtype": "bool", "stats": {"mean": True}},
    },
    "correlations": [{"columns": ["revenue", "units"], "pearson": 0.91}],
    "kpis": {"total_revenue": 1824480.0, "zero_kpi": 0, "a/b": 3.0, "none_kpi": None, "label": "x"},
    "sample_rows": [{"row_index": 0, "values": {"revenue": 1200.5, "region": "EMEA"}},
                    {"row_index": 1, "values": {"region": "N/A"}}],
}


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("", EDA), ("/dataset/n_rows", 1200), ("/columns/revenue/stats/max", 9800.0),
        ("/correlations/0/pearson", 0.91), ("/columns/revenue/outliers/row_indices/3", 1033),
        ("/columns/a~1b/stats/mean", 2.0),          # ~1 is '/'
        ("/columns/m~0n/stats/mean", 5.0),          # ~0 is '~'
        ("/columns/region/top_values/N~1A", 7),
        ("/kpis/none_kpi", None),
    ],
)
def test_resolve_pointer_rfc6901(pointer, expected):
    assert resolve_pointer(EDA, pointer) == expected


@pytest.mark.parametrize(
    "pointer",
    [
        "columns/revenue", "/nope", "/columns/revenue/stats/median", "/correlations/1/pearson",
        "/correlations/01/pearson",   # leading zeros are not array indices
        "/correlations/-/pearson", "/correlations/-1", "/correlations/x", "/dataset/n_rows/deeper",
        "/columns/a/b/stats/mean",    # an unescaped slash splits the key
        "/columns/m~n/stats/mean",    # '~n' is not a valid escape, so no key matches
    ],
)
def test_resolve_pointer_missing(pointer):
    assert resolve_pointer(EDA, pointer) is _MISSING


def test_escape_order_is_tilde_one_before_tilde_zero():
    # RFC 6901: '~01' decodes to '~1' (not '/'), so it names the key '~1'.
    assert resolve_pointer({"~1": 1, "/": 2}, "/~01") == 1


@pytest.mark.parametrize(
    ("key", "pointer"),
    [("total_revenue", "/kpis/total_revenue"), ("/kpis/total_revenue", "/kpis/total_revenue"),
     ("a/b", "/kpis/a~1b"), ("m~n", "/kpis/m~0n")],
)
def test_aggregate_pointer_bare_kpi_names(key, pointer):
    assert aggregate_pointer(key) == pointer


def test_a_bare_kpi_name_with_a_slash_resolves_to_that_kpi():
    assert evidence_problems({"aggregates": {"a/b": 3.0}}, EDA) == []


@pytest.mark.parametrize(
    ("claimed", "actual", "ok"),
    [
        (100.0, 100.0, True), (101.0, 100.0, True), (99.0, 100.0, True),     # exactly 1% either way
        (101.01, 100.0, False), (98.99, 100.0, False),
        (-101.0, -100.0, True), (-102.0, -100.0, False), (100.0, -100.0, False),
        (0.0, 0.0, True), (1e-9, 0.0, True), (-1e-9, 0.0, True), (1.1e-9, 0.0, False), (0.001, 0.0, False),
        (0.0, 1e-12, False),          # relative rule when the truth is not zero
        (float("nan"), 1.0, False), (float("inf"), float("inf"), False), (1.0, float("nan"), False),
    ],
)
def test_numbers_match_tolerance_boundaries(claimed, actual, ok):
    assert numbers_match(claimed, actual) is ok


@pytest.mark.parametrize(
    "evidence",
    [
        {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 9800.0}, "row_indices": [17]},
        {"aggregates": {"total_revenue": 1824480}},
        {"aggregates": {"total_revenue": 1824480.0 * 1.0099}},
        {"aggregates": {"/kpis/zero_kpi": 0}},
        {"aggregates": {"zero_kpi": 5e-10}},
        {"aggregates": {"/columns/revenue/stats/skew": 0.0}},
        {"columns": ["revenue"], "row_indices": [17, 250]},        # the column's own outlier rows
        {"columns": ["revenue"], "row_indices": [0]},              # a sample row that shows the column
        {"columns": ["revenue"], "row_indices": [17, 1199]},       # one tied row is a claim; 1199 is in range
        {"aggregates": {"/correlations/0/pearson": 0.91}, "row_indices": [5]},
        {"aggregates": {"/correlations/0/pearson": 0.91}},
        {"aggregates": {"/columns/region/top_values/N~1A": 7}},
        {"columns": [], "aggregates": {"/dataset/n_rows": 1200}},
    ],
)
def test_valid_evidence(evidence):
    assert evidence_problems(evidence, EDA) == [] and evidence_is_valid(evidence, EDA)


@pytest.mark.parametrize(
    ("evidence", "phrase"),
    [
        ({"columns": ["profit"], "row_indices": [1]}, "column 'profit' is not in the compact EDA"),
        ({"row_indices": [1200]}, "row index 1200 is outside [0, 1200)"),
        ({"row_indices": [-1]}, "row index -1 is outside"),
        ({"row_indices": [True]}, "row index True is outside"),   # a bool is not a row index
        ({"row_indices": ["3"]}, "row index '3' is outside"),
        ({"row_indices": [2.0]}, "row index 2.0 is outside"),
        ({"aggregates": {"total_revenue": 1824480.0 * 1.0101}}, "claims"),
        ({"aggregates": {"zero_kpi": 2e-9}}, "claims"),
        ({"aggregates": {"revenue_max": 9800.0}}, "'revenue_max' does not resolve"),
        ({"aggregates": {"/columns/revenue/stats/median": 1500}}, "does not resolve"),
        ({"aggregates": {"columns/revenue/stats/max": 9800.0}}, "does not resolve"),  # read as a KPI name
        ({"aggregates": {"/kpis/none_kpi": 0}}, "resolves to a non-number"),
        ({"aggregates": {"/kpis/label": 1}}, "resolves to a non-number"),
        ({"aggregates": {"/columns/flag/stats/mean": 1}}, "resolves to a non-number"),  # bool truth
        ({"aggregates": {"/columns/revenue/stats": 1}}, "resolves to a non-number"),
        ({"aggregates": {"/dataset/n_rows": True}}, "claims True"),                     # bool claim
        ({"aggregates": {"/dataset/n_rows": "1200"}}, "claims '1200'"),
        ({"columns": ["revenue"]}, "evidence cites no aggregate and no row index"),
        ({}, "evidence cites no aggregate and no row index"),
        # rows alone, tied to nothing, prove nothing (in range, but no checkable claim)
        ({"columns": [], "row_indices": [3], "aggregates": {}}, "not tied to a cited column"),
        ({"row_indices": [0, 1199]}, "not tied to a cited column"),
        ({"columns": ["region"], "row_indices": [17]}, "not tied"),   # another column's outlier row
        ({"columns": ["revenue"], "row_indices": [1]}, "not tied"),    # a sample row that does not show it
        ({"columns": ["revenue"], "row_indices": [17, 1200]}, "row index 1200 is outside"),  # a false claim
        ({"columns": ["revenue"], "aggregates": {}, "row_indices": []}, "cites no aggregate"),
    ],
)
def test_invalid_evidence_names_the_problem(evidence, phrase):
    problems = evidence_problems(evidence, EDA)
    assert any(phrase in p for p in problems), problems
    assert not evidence_is_valid(evidence, EDA)


def test_every_problem_is_reported():
    problems = evidence_problems({"columns": ["x", "y"], "row_indices": [5000], "aggregates": {"k": 1}}, EDA)
    assert len(problems) == 4


def test_evidence_coverage_counts_insights_that_cite_a_number():
    from datapilot_pipeline.lib.evidence import cites_number

    rows_only = {"id": "i1", "category": "outlier", "severity": "high", "text": "Orders 17 and 250 stand out.",
                 "evidence": {"columns": ["revenue"], "row_indices": [17, 250]},
                 "recommendation": {"action": "Audit them.", "priority": "high"}}
    with_number = {**rows_only, "id": "i2", "evidence": {"columns": ["revenue"],
                                                          "aggregates": {"/columns/revenue/stats/max": 9800.0}}}
    check = check_output({"insights": [rows_only, with_number]}, EDA)
    assert (check.n_insights, check.n_valid_evidence, check.n_citing_number) == (2, 2, 1)
    assert cites_number(with_number["evidence"]) and not cites_number(rows_only["evidence"])


def test_an_eda_without_n_rows_rejects_every_row_index():
    assert evidence_problems({"row_indices": [0]}, {"dataset": {}, "columns": {}}) == ["row index 0 is outside [0, None)"]


def _insight(iid, **evidence):
    return {"id": iid, "category": "outlier", "severity": "high", "text": "t",
            "evidence": evidence, "recommendation": {"action": "a", "priority": "high"}}


def test_check_output_counts_valid_evidence_per_insight():
    output = {"insights": [_insight("i1", aggregates={"total_revenue": 1824480.0}),
                           _insight("i2", row_indices=[99999]),
                           _insight("i3", columns=["revenue"], row_indices=["250", "17", "17"]),
                           _insight("i4", row_indices=["5", "5"])]}  # in range, normalized, but tied to nothing
    check = check_output(json.dumps(output), EDA)
    assert (check.schema_pass, check.n_insights, check.n_valid_evidence) == (True, 4, 2)
    assert list(check.insight_problems) == ["i2", "i4"]


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("not json", "not valid JSON"),
        ({"insights": []}, "insights"),
        ({"insights": [_insight("i1", row_indices=[1]), _insight("i1", row_indices=[2])]}, "repeated: i1"),
        ({"insights": [{**_insight("i1", row_indices=[1]), "category": "forecast"}]}, "category"),
        ({"insights": [{**_insight("i1", row_indices=[1]), "confidence": 0.9}]}, "confidence"),
        ({"insights": [_insight("i1", row_indices=[1.5])]}, "row_indices"),
        ({"insights": [_insight("i1", row_indices=[True])]}, "row_indices"),
        ({"insights": [_insight("i1", aggregates={"k": True})]}, "aggregates"),
        ({"insights": [{**_insight("i1", row_indices=[1]), "text": "   "}]}, "text"),
    ],
)
def test_schema_failures(raw, phrase):
    check = check_output(raw, EDA)
    assert not check.schema_pass and phrase in check.error and check.n_insights == 0


def test_validate_output_normalizes_before_validating():
    output = validate_output({"insights": [{**_insight("i1", row_indices=["3", 1]), "category": "Anomaly",
                                            "severity": "Severe"}]})
    insight = output.insights[0]
    assert (insight.category, insight.severity, insight.evidence.row_indices) == ("outlier", "critical", [1, 3])
