"""Normalization before validation: synonyms, case and spaces, numeric strings, row indices, fences."""

from __future__ import annotations

import copy

import pytest

from datapilot_pipeline.lib.normalize import (
    normalize_evidence, normalize_insight, normalize_output, parse_output_text, to_number,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("17", 17), ("-3", -3), ("+4", 4), ("1,234", 1234), ("1,234.5", 1234.5), ("0.5", 0.5), (".5", 0.5),
        ("1e3", 1000.0), ("2.5E-2", 0.025), ("  42  ", 42), ("1,234,567", 1234567),
        (12, 12), (1.5, 1.5), (None, None),
        # not numbers: returned unchanged
        ("", ""), ("abc", "abc"), ("12abc", "12abc"), ("1,23", "1,23"), ("1,2345", "1,2345"), ("--1", "--1"),
        ("1.2.3", "1.2.3"), (".", "."), ("e5", "e5"), ("nan", "nan"), ("inf", "inf"), ("12%", "12%"),
        ("$12", "$12"),
    ],
)
def test_to_number(raw, expected):
    result = to_number(raw)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("value", [True, False])
def test_to_number_leaves_bools_alone(value):
    assert to_number(value) is value


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("Anomaly", "outlier"), ("anomalies", "outlier"), (" OUTLIERS ", "outlier"), ("outlier", "outlier"),
        ("Data Quality", "quality"), ("data_quality", "quality"), ("data-quality", "quality"), ("DQ", "quality"),
        ("Missing Data", "missing_data"), ("missing", "missing_data"), ("missing  values", "missing_data"),
        ("nulls", "missing_data"), ("Seasonality", "trend"), ("Trends", "trend"), ("skew", "distribution"),
        ("Segmentation", "segment"), ("cohort", "segment"), ("relationship", "correlation"),
        ("Missing_Data", "missing_data"),
        ("forecast", "forecast"),  # unknown: lower-cased, left for validation to reject
        ("Some Thing", "some_thing"),
    ],
)
def test_category_synonyms(category, expected):
    assert normalize_insight({"category": category})["category"] == expected


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        ("severity", "Moderate", "medium"), ("severity", "MED", "medium"), ("severity", "minor", "low"),
        ("severity", "info", "low"), ("severity", "Major", "high"), ("severity", "severe", "critical"),
        ("severity", "blocker", "critical"), ("severity", " High ", "high"), ("severity", "CRITICAL", "critical"),
    ],
)
def test_severity_synonyms(field, raw, expected):
    assert normalize_insight({field: raw})[field] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("urgent", "high"), ("Critical", "high"), ("med", "medium"), ("moderate", "medium"), ("minor", "low"),
     (" LOW ", "low"), ("high", "high")],
)
def test_priority_synonyms(raw, expected):
    out = normalize_insight({"recommendation": {"action": "  Fix it.  ", "priority": raw}})
    assert out["recommendation"] == {"action": "Fix it.", "priority": expected}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([3, 1, 2], [1, 2, 3]),
        ([5, 5, "5", 5.0], [5]),
        (["17", "250", 17], [17, 250]),
        (["1,000", 2], [2, 1000]),
        ([], []),
        ([1.5, 2], [1.5, 2]),          # a fraction is not an index: left for validation
        (["x", 2], ["x", 2]),
        ([True, 1], [True, 1]),        # bools are not indices, and must not merge with 1
        ([None, 1], [None, 1]),
        ([float("nan"), 1], None),
    ],
)
def test_row_indices_sorted_unique_when_all_ints(rows, expected):
    out = normalize_evidence({"row_indices": rows})["row_indices"]
    if expected is None:
        assert out[1] == 1 and out[0] != out[0]  # NaN kept as is
    else:
        assert out == expected and [type(v) for v in out] == [type(v) for v in expected]


def test_row_indices_that_are_not_a_list_are_left_for_validation():
    assert normalize_evidence({"row_indices": "3"})["row_indices"] == "3"


def test_evidence_names_kept_exactly_deduplicated_in_order_aggregates_numeric():
    """Names are not trimmed: a column may really be called " revenue" (the evidence check tolerates padding)."""
    out = normalize_evidence({"columns": [" revenue", "units ", "revenue", " revenue", 7],
                              "aggregates": {" /kpis/total ": "1,824,480.0", "x": "n/a", "y": 3}})
    assert out["columns"] == [" revenue", "units ", "revenue", 7]
    assert out["aggregates"] == {" /kpis/total ": 1824480.0, "x": "n/a", "y": 3}


def test_normalize_output_does_not_mutate_its_input():
    raw = {"summary": "  s  ", "insights": [{"id": 1, "category": "Anomaly", "text": "  t ",
                                              "evidence": {"row_indices": ["2", 1]}}]}
    before = copy.deepcopy(raw)
    out = normalize_output(raw)
    assert raw == before
    assert out == {"summary": "s", "insights": [{"id": "1", "category": "outlier", "text": "t",
                                                 "evidence": {"row_indices": [1, 2]}}]}


@pytest.mark.parametrize("value", [None, [], "text", 3])
def test_non_objects_pass_through(value):
    assert normalize_output(value) == value and normalize_insight(value) == value
    assert normalize_evidence(value) == value


def test_bool_ids_are_not_stringified():
    assert normalize_insight({"id": True})["id"] is True


@pytest.mark.parametrize(
    "text",
    ['{"insights": []}', '  {"insights": []}\n', '```json\n{"insights": []}\n```', '```\n{"insights": []}\n```'],
)
def test_parse_output_text_accepts_json_and_one_fence(text):
    assert parse_output_text(text) == {"insights": []}


@pytest.mark.parametrize("text", ["", "not json", '{"insights": [}', "```json\n{oops}\n```", "Here it is: {}"])
def test_parse_output_text_rejects_non_json(text):
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_output_text(text)
