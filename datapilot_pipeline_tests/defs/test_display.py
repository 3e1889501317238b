"""Metadata numbers as the UI shows them: a few significant digits, never a 17-digit float."""

from __future__ import annotations

import math

import dagster as dg
import pytest

from datapilot_pipeline.defs.display import SIGNIFICANT_DIGITS, for_display, rounded


def significant_digits(value: float) -> int:
    """Digits of the shortest repr of `value` without sign, exponent and leading zeros (0.1235 -> 4)."""
    mantissa = repr(abs(value)).split("e")[0].replace(".", "").lstrip("0").rstrip("0")
    return max(len(mantissa), 1)


def assert_readable(metadata) -> None:
    """Every float in `metadata` (plain or a float metadata value) has at most SIGNIFICANT_DIGITS digits."""
    for key, entry in metadata.items():
        value = getattr(entry, "value", entry)
        if isinstance(value, float) and math.isfinite(value):
            assert significant_digits(value) <= SIGNIFICANT_DIGITS, (key, value)


@pytest.mark.parametrize("value, expected", [(0.1 + 0.2, 0.3), (2 / 3, 0.6667), (1234.5678, 1235.0),
                                             (1.23456e-7, 1.235e-7), (-87.34999999999999, -87.35), (0.0, 0.0),
                                             (10.0, 10.0)])
def test_rounded_keeps_four_significant_digits(value: float, expected: float) -> None:
    assert rounded(value) == expected and significant_digits(rounded(value)) <= SIGNIFICANT_DIGITS


def test_for_display_rounds_floats_and_leaves_the_rest() -> None:
    url = dg.MetadataValue.url("http://127.0.0.1:5000/#/runs/abc")
    shown = for_display({"rate": 0.1 + 0.2, "score": dg.MetadataValue.float(2 / 3), "n": 3, "link": url,
                         "nan": float("nan"), "flag": True})
    assert shown["rate"].value == 0.3 and shown["score"].value == 0.6667
    assert shown["n"] == 3 and shown["link"] is url and shown["flag"] is True and math.isnan(shown["nan"].value)
    assert_readable(shown)
    with pytest.raises(AssertionError):
        assert_readable({"raw": 0.1 + 0.2})


def test_mlflow_links_point_at_the_configured_ui(monkeypatch) -> None:
    from datapilot_pipeline.defs.tracking import model_version_link, run_link

    monkeypatch.delenv("DATAPILOT_MLFLOW_UI_URL", raising=False)
    assert run_link("abc123").value == "http://127.0.0.1:5000/#/runs/abc123?workflowType=machine_learning"
    monkeypatch.setenv("DATAPILOT_MLFLOW_UI_URL", "https://mlflow.example.org/")
    link = model_version_link("models:/datapilot-insights/7")
    assert isinstance(link, dg.UrlMetadataValue)
    assert link.value == "https://mlflow.example.org/#/models/datapilot-insights/versions/7?workflowType=machine_learning"
