"""Normalization of LLM insight output before validation (DESIGN.md: lower-case, trim, synonyms,
numeric strings -> numbers, sorted unique row indices). Pure: returns a new object, never mutates."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

from datapilot_pipeline.lib import json_codec

CATEGORY_SYNONYMS = {
    "anomaly": "outlier", "anomalies": "outlier", "outliers": "outlier", "anomalous": "outlier",
    "data quality": "quality", "data_quality": "quality", "data-quality": "quality", "dq": "quality",
    "missing": "missing_data", "missing data": "missing_data", "missing-data": "missing_data",
    "missing values": "missing_data", "missing_values": "missing_data", "nulls": "missing_data",
    "null values": "missing_data", "correlations": "correlation", "relationship": "correlation",
    "trends": "trend", "time trend": "trend", "seasonality": "trend", "distributions": "distribution",
    "skew": "distribution", "segments": "segment", "segmentation": "segment", "cohort": "segment",
}
SEVERITY_SYNONYMS = {"med": "medium", "moderate": "medium", "minor": "low", "info": "low",
                     "major": "high", "severe": "critical", "blocker": "critical"}
PRIORITY_SYNONYMS = {"med": "medium", "moderate": "medium", "urgent": "high", "critical": "high", "minor": "low"}

_NUMBER_RE = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][+-]?\d+)?$")
_FENCE_RE = re.compile(r"^```[a-zA-Z]*\s*\n(.*)\n```$", re.DOTALL)


def to_number(value: Any) -> Any:
    """'1,234.5' -> 1234.5, '17' -> 17; numbers pass through; anything else is returned unchanged."""
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    text = value.strip()
    if not text or not _NUMBER_RE.match(text) or not any(ch.isdigit() for ch in text):
        return value
    plain = text.replace(",", "")
    try:
        return int(plain) if re.fullmatch(r"[+-]?\d+", plain) else float(plain)
    except ValueError:
        return value


@lru_cache(maxsize=4096)
def _enum_key(value: str) -> str:
    """An enum value's words, lower case, one space apart (outputs repeat a few values: each is worked out once)."""
    return " ".join(value.strip().lower().replace("_", " ").split())


def _enum(value: Any, synonyms: dict[str, str]) -> Any:
    if not isinstance(value, str):
        return value
    key = _enum_key(value)
    if key in synonyms:
        return synonyms[key]
    underscored = key.replace(" ", "_")
    return synonyms.get(underscored, underscored)


def _row_indices(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for raw in value:
        num = to_number(raw)
        if isinstance(num, float) and math.isfinite(num) and num.is_integer():
            num = int(num)
        out.append(num)
    if all(isinstance(n, int) and not isinstance(n, bool) for n in out):
        return sorted(set(out))
    return out  # leave mixed junk for validation to reject


def normalize_evidence(evidence: Any) -> Any:
    """Column names and aggregate keys are kept exactly as written: a table's names may begin or end with
    spaces (`" revenue"`), and only the compact EDA can say whether a space is part of a name, so the
    evidence check (`lib.evidence`) is the one that tolerates padding."""
    if not isinstance(evidence, dict):
        return evidence
    out = dict(evidence)
    if isinstance(out.get("columns"), list):
        out["columns"] = list(dict.fromkeys(out["columns"]))
    if isinstance(out.get("aggregates"), dict):
        out["aggregates"] = {k: to_number(v) for k, v in out["aggregates"].items()}
    if "row_indices" in out:
        out["row_indices"] = _row_indices(out["row_indices"])
    return out


def normalize_recommendation(rec: Any) -> Any:
    if not isinstance(rec, dict):
        return rec
    out = dict(rec)
    if isinstance(out.get("action"), str):
        out["action"] = out["action"].strip()
    if "priority" in out:
        out["priority"] = _enum(out["priority"], PRIORITY_SYNONYMS)
    return out


def normalize_insight(insight: Any) -> Any:
    if not isinstance(insight, dict):
        return insight
    out = dict(insight)
    if isinstance(out.get("id"), (int, str)) and not isinstance(out.get("id"), bool):
        out["id"] = str(out["id"]).strip()
    for key in ("text",):
        if isinstance(out.get(key), str):
            out[key] = out[key].strip()
    if "category" in out:
        out["category"] = _enum(out["category"], CATEGORY_SYNONYMS)
    if "severity" in out:
        out["severity"] = _enum(out["severity"], SEVERITY_SYNONYMS)
    if "evidence" in out:
        out["evidence"] = normalize_evidence(out["evidence"])
    if "recommendation" in out:
        out["recommendation"] = normalize_recommendation(out["recommendation"])
    return out


def normalize_output(output: Any) -> Any:
    """Normalize an `llm_output` object (`{"insights": [...], "summary"?}`)."""
    if not isinstance(output, dict):
        return output
    out = dict(output)
    if isinstance(out.get("insights"), list):
        out["insights"] = [normalize_insight(i) for i in out["insights"]]
    if isinstance(out.get("summary"), str):
        out["summary"] = out["summary"].strip()
    return out


def parse_output_text(text: str) -> Any:
    """Parse raw model text as JSON. One surrounding Markdown code fence is tolerated.

    Raises `ValueError` when the text is not JSON.
    """
    stripped = text.strip()
    fenced = _FENCE_RE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json_codec.loads(stripped)  # `json.loads`' value, through orjson where certainly the same
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
