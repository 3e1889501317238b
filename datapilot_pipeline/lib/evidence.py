"""The evidence-validity rule and the schema check, shared by validation and evaluation.

Evidence is valid when it makes at least one checkable claim about the table and none of its claims is false:
- every cited column exists in the compact EDA and every row index is an int in [0, n_rows);
- every aggregate key is a JSON Pointer (RFC 6901) into the compact EDA, or a bare KPI name meaning
  `/kpis/<name>`, resolving to a number equal to the claimed value within 1% relative (1e-9 absolute when the
  true value is zero);
- a checkable claim is an aggregate, or a row index the EDA ties to a cited column (one of that column's
  outlier rows, or a sample row that shows that column). Row indices tied to nothing prove nothing: in range,
  they are not false, but on their own they do not make evidence valid.

`cites_number` says whether evidence cites at least one aggregate: the evidence coverage metric.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from datapilot_pipeline.lib.contracts import LLMOutput, first_error
from datapilot_pipeline.lib.normalize import normalize_output, parse_output_text

REL_TOLERANCE = 0.01
ABS_TOLERANCE_AT_ZERO = 1e-9
_MISSING = object()
_BAD_ESCAPE = re.compile(r"~(?![01])")


def resolve_pointer(doc: Any, pointer: str) -> Any:
    """Resolve an RFC 6901 JSON Pointer; returns `_MISSING` when any step does not exist."""
    if pointer == "":
        return doc
    if not pointer.startswith("/"):
        return _MISSING
    node = doc
    for token in pointer[1:].split("/"):
        if "~" in token:  # most tokens have no escape: no search, no replacing
            if _BAD_ESCAPE.search(token):
                return _MISSING  # RFC 6901: '~' must be followed by '0' or '1'
            token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            if token not in node:
                return _MISSING
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or (token.startswith("0") and token != "0") or int(token) >= len(node):
                return _MISSING
            node = node[int(token)]
        else:
            return _MISSING
    return node


def aggregate_pointer(key: str) -> str:
    """An aggregate key as a JSON Pointer: pointers stay, bare names are KPIs (`/kpis/<name>`)."""
    if key.startswith("/"):
        return key
    return "/kpis/" + key.replace("~", "~0").replace("/", "~1")


def numbers_match(claimed: float, actual: float) -> bool:
    if not (math.isfinite(claimed) and math.isfinite(actual)):
        return False
    if actual == 0:
        return abs(claimed) <= ABS_TOLERANCE_AT_ZERO
    return abs(claimed - actual) <= REL_TOLERANCE * abs(actual)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def evidence_problems(evidence: dict, compact_eda: dict) -> list[str]:
    """Every reason this evidence is not valid against the compact EDA; empty when valid."""
    problems: list[str] = []
    # A malformed EDA makes evidence invalid, never a crash: every level is checked before use.
    eda = compact_eda if isinstance(compact_eda, dict) else {}
    columns = eda.get("columns") if isinstance(eda.get("columns"), dict) else {}
    dataset = eda.get("dataset") if isinstance(eda.get("dataset"), dict) else {}
    n_rows = dataset.get("n_rows")
    for col in evidence.get("columns") or []:
        if col not in columns and not (isinstance(col, str) and col.strip() in columns):
            problems.append(f"column {col!r} is not in the compact EDA")
    rows = evidence.get("row_indices") or []
    for idx in rows:
        if not isinstance(idx, int) or isinstance(idx, bool) or not isinstance(n_rows, int) or not 0 <= idx < n_rows:
            problems.append(f"row index {idx!r} is outside [0, {n_rows})")
    aggregates = evidence.get("aggregates") or {}
    for key, claimed in aggregates.items():
        actual = resolve_pointer(eda, aggregate_pointer(key))
        if actual is _MISSING and isinstance(key, str) and key != key.strip():  # the exact name first, then without padding
            actual = resolve_pointer(eda, aggregate_pointer(key.strip()))
        if actual is _MISSING:
            problems.append(f"aggregate {key!r} does not resolve in the compact EDA")
        elif not _is_number(actual):
            problems.append(f"aggregate {key!r} resolves to a non-number")
        elif not _is_number(claimed) or not numbers_match(float(claimed), float(actual)):
            problems.append(f"aggregate {key!r} claims {claimed!r} but the compact EDA has {actual!r}")
    if not aggregates:
        if not rows:
            problems.append("evidence cites no aggregate and no row index")
        elif not problems and not _tied_rows(rows, evidence.get("columns") or [], eda, columns):
            problems.append("evidence cites no aggregate, and its row indices are not tied to a cited column "
                            "(its outliers or sample rows)")
    return problems


def _tied_rows(rows: list, cited: list, eda: dict, columns: dict) -> set[int]:
    """The cited row indices the compact EDA ties to a cited column: its outlier rows or sample rows showing it."""
    cited_names = {c.strip() for c in cited if isinstance(c, str)}
    tied: set[int] = set()
    for name in cited_names:
        outliers = (columns.get(name) or {}).get("outliers") if isinstance(columns.get(name), dict) else None
        indices = outliers.get("row_indices") if isinstance(outliers, dict) else None
        tied.update(i for i in indices or [] if isinstance(i, int))
    for sample in eda.get("sample_rows") or []:
        values = sample.get("values") if isinstance(sample, dict) else None
        if isinstance(values, dict) and cited_names & set(values) and isinstance(sample.get("row_index"), int):
            tied.add(sample["row_index"])
    return tied & {r for r in rows if isinstance(r, int)}


def cites_number(evidence: dict) -> bool:
    """Whether evidence cites at least one aggregate (a number a reader can check): evidence coverage."""
    return bool(evidence.get("aggregates"))


def evidence_is_valid(evidence: dict, compact_eda: dict) -> bool:
    return not evidence_problems(evidence, compact_eda)


@dataclass
class OutputCheck:
    """The result of checking one model output against its compact EDA."""

    schema_pass: bool
    error: str | None = None
    output: LLMOutput | None = None
    n_insights: int = 0
    n_valid_evidence: int = 0
    n_citing_number: int = 0  # insights whose evidence cites at least one aggregate
    insight_problems: dict[str, list[str]] = field(default_factory=dict)


def validate_output(output: Any) -> LLMOutput:
    """Normalize and validate an already-parsed output; raises `ValueError` with one readable line."""
    try:
        return LLMOutput.model_validate(normalize_output(output))
    except ValidationError as exc:
        raise ValueError(first_error(exc)) from None


def check_output(raw: str | dict, compact_eda: dict) -> OutputCheck:
    """Schema pass (parse, normalize, every insight validates) and per-insight evidence validity."""
    try:
        parsed = parse_output_text(raw) if isinstance(raw, str) else raw
        output = validate_output(parsed)
    except ValueError as exc:
        return OutputCheck(schema_pass=False, error=str(exc))
    check = OutputCheck(schema_pass=True, output=output, n_insights=len(output.insights))
    for insight in output.insights:
        evidence = vars(insight.evidence)  # its fields as validated (`model_dump` copies them: nothing here writes)
        check.n_citing_number += cites_number(evidence)
        problems = evidence_problems(evidence, compact_eda)
        if problems:
            check.insight_problems[insight.id] = problems
        else:
            check.n_valid_evidence += 1
    return check
