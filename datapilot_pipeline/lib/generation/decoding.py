"""Schema-constrained decoding: the llm_output contract as a bounded JSON Schema, and greedy generation whose
every token is allowed by it (llguidance computes the allowed-token mask from the schema at each step).

Why bounded: an unconstrained string or number can grow forever, so an answer cut by `max_new_tokens` is not
JSON at all. Here every string is printable ASCII without quote or backslash (so one character is one byte and
every token adds at least one byte), numbers carry at most 4 decimals in [-1e9, 1e9], lists and aggregate maps
have item caps, and insight ids are `i1`, `i2`, ... by position (the contract wants them unique). Properties
are listed in sorted order, the order of the training completions (`dumps_compact` sorts keys): engines emit
properties in schema order, so any other order would force the model off what it learnt.
`max_output_bytes(schema)` is then an upper bound on the answer's length in tokens: with at least that many new
tokens a constrained answer always completes and validates against `LLMOutput`.

Why llguidance (measured in docs/decoding.md): a single wheel with no dependencies (xgrammar pulls in triton,
lm-format-enforcer is pure Python), mask computation well under a millisecond per token on CPU, and it
supports everything the schema uses (prefixItems, patterns, multipleOf, maxProperties).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from datapilot_pipeline.lib.contracts import CATEGORIES, PRIORITIES, SEVERITIES

# printable ASCII except '"' and '\': one byte per character, never an escape sequence
_PLAIN = r"[ !#-\[\]-~]"
NUMBER_BOUND = 1e9
NUMBER_STEP = 0.0001  # 4 decimals: the compact EDA rounds to 4, the evidence rule allows 1%
_NUMBER_BYTES = len("-1000000000.0001")
_INDEX_BYTES = len(str(10 ** 7))
JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}


@dataclass(frozen=True)
class OutputBounds:
    """Caps on an answer: counts of items and characters per string."""

    max_insights: int = 4  # the reviewed examples carry 2-4
    text_chars: int = 150  # longest reviewed text: 145
    action_chars: int = 90  # longest reviewed action: 78
    summary_chars: int = 140
    max_columns: int = 3
    column_chars: int = 32
    max_aggregates: int = 3
    aggregate_key_chars: int = 48  # longest reviewed key: 40
    max_row_indices: int = 4


def _text(max_chars: int, min_chars: int = 1) -> dict:
    # the pattern carries the length too: some engines treat maxLength and pattern separately
    return {"type": "string", "minLength": min_chars, "maxLength": max_chars,
            "pattern": f"^{_PLAIN}{{{min_chars},{max_chars}}}$"}


def _number() -> dict:
    return {"type": "number", "minimum": -NUMBER_BOUND, "maximum": NUMBER_BOUND, "multipleOf": NUMBER_STEP}


def _insight(number: int, bounds: OutputBounds, columns: Sequence[str] | None, n_rows: int | None,
             aggregate_keys: Sequence[str] | None) -> dict:
    column = {"type": "string", "enum": list(columns)} if columns else _text(bounds.column_chars)
    index = {"type": "integer", "minimum": 0, "maximum": (n_rows - 1) if n_rows else 10 ** 7 - 1}
    if aggregate_keys:  # one pattern of the EDA's pointers: llguidance bounds patternProperties, not optional properties
        keys = "|".join(re.escape(k) for k in sorted(aggregate_keys, key=len, reverse=True))
        aggregates = {"type": "object", "patternProperties": {f"^(?:{keys})$": _number()},
                      "additionalProperties": False, "maxProperties": bounds.max_aggregates,
                      "x-max-key-chars": max(len(k) for k in aggregate_keys)}
    else:
        key = _text(bounds.aggregate_key_chars)["pattern"]
        aggregates = {"type": "object", "patternProperties": {key: _number()}, "additionalProperties": False,
                      "maxProperties": bounds.max_aggregates}
    if n_rows == 0:
        index_list: dict = {"type": "array", "maxItems": 0}
    else:
        index_list = {"type": "array", "items": index, "maxItems": bounds.max_row_indices}
    evidence = {"type": "object", "additionalProperties": False,
                "properties": {"aggregates": aggregates,
                               "columns": {"type": "array", "items": column, "maxItems": bounds.max_columns},
                               "row_indices": index_list}}
    return {
        "type": "object", "additionalProperties": False,
        "required": ["category", "evidence", "id", "recommendation", "severity", "text"],
        "properties": {
            "category": {"type": "string", "enum": list(CATEGORIES)},
            "evidence": evidence,
            "id": {"type": "string", "const": f"i{number}"},
            "recommendation": {"type": "object", "additionalProperties": False, "required": ["action", "priority"],
                               "properties": {"action": _text(bounds.action_chars),
                                              "priority": {"type": "string", "enum": list(PRIORITIES)}}},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "text": _text(bounds.text_chars),
        },
    }


def output_schema(bounds: OutputBounds = OutputBounds(), compact_eda: dict | None = None) -> dict:
    """The llm_output contract as a bounded JSON Schema (draft 2020-12). With `compact_eda`, the grounded
    variant: columns limited to the EDA's, row indices to [0, n_rows), aggregate keys to its numeric pointers."""
    columns = n_rows = keys = None
    if compact_eda is not None:
        from datapilot_pipeline.lib.grounding import numeric_pointers

        columns = sorted((compact_eda.get("columns") or {}).keys()) or None
        n_rows = (compact_eda.get("dataset") or {}).get("n_rows")
        keys = numeric_pointers(compact_eda) or None
    items = [_insight(n, bounds, columns, n_rows, keys) for n in range(1, bounds.max_insights + 1)]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "LLMOutput", "type": "object",
        "additionalProperties": False, "required": ["insights"],
        "properties": {"insights": {"type": "array", "prefixItems": items, "items": False, "minItems": 1,
                                    "maxItems": bounds.max_insights},
                       "summary": _text(bounds.summary_chars, min_chars=0)},
    }


def max_output_bytes(schema: dict) -> int:
    """Upper bound on the compact JSON length of any value the schema admits (and so on its token count)."""
    if "const" in schema:
        return len(json.dumps(schema["const"]))
    if "enum" in schema:
        return max(len(json.dumps(v)) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return schema["maxLength"] + 2
    if kind == "number":
        return _NUMBER_BYTES
    if kind == "integer":
        return max(len(str(schema["minimum"])), len(str(schema["maximum"])))
    if kind == "array":
        items = schema.get("prefixItems") or [schema.get("items")] * schema["maxItems"]
        items = items[:schema["maxItems"]]
        return 2 + sum(max_output_bytes(i) for i in items) + max(0, len(items) - 1)
    if kind == "object":
        fields = [len(json.dumps(k)) + 1 + max_output_bytes(v) for k, v in schema.get("properties", {}).items()]
        for pattern, value in schema.get("patternProperties", {}).items():
            # the EDA's longest pointer (grounded), else the {min,max} of `_text`'s pattern
            key_chars = schema.get("x-max-key-chars") or int(pattern.rsplit(",", 1)[1].split("}")[0])
            fields += [key_chars + 3 + max_output_bytes(value)] * (schema["maxProperties"] - len(fields))
        if "maxProperties" in schema:
            fields = sorted(fields, reverse=True)[:schema["maxProperties"]]
        return 2 + sum(fields) + max(0, len(fields) - 1)
    raise ValueError(f"no length bound for schema {schema!r}")


def fit_bounds(max_new_tokens: int, bounds: OutputBounds = OutputBounds()) -> OutputBounds:
    """The largest bounds whose worst-case answer plus the end token fits in `max_new_tokens`. Cuts, in order, for
    each number of insights from the most: shorter prose (text, action, summary), then two citations of each kind
    instead of three; then fewer insights. Past one insight: shorter prose and fewer citations, then everything.
    At the default 2,048 tokens an answer may hold 3 insights (reviewed answers carry 2-4)."""
    from dataclasses import replace

    prose = ("text_chars", "action_chars", "summary_chars")
    evidence = {"max_columns": min(2, bounds.max_columns), "max_aggregates": min(2, bounds.max_aggregates),
                "max_row_indices": min(3, bounds.max_row_indices)}

    def shorter(b: OutputBounds, factor: float, names=prose) -> OutputBounds:
        return replace(b, **{n: max(1, int(getattr(bounds, n) * factor)) for n in names})

    tries = []
    for n in range(bounds.max_insights, 0, -1):  # an insight more before longer prose or a third citation
        tries += [shorter(replace(bounds, max_insights=n), f) for f in (1.0, 0.8, 0.6)]
        tries += [shorter(replace(bounds, max_insights=n, **evidence), f) for f in (1.0, 0.8)]
    tries += [shorter(replace(bounds, max_insights=n, **evidence), f)
              for n in range(bounds.max_insights, 0, -1) for f in (0.6, 0.4, 0.3)]
    everything = (*prose, "column_chars", "aggregate_key_chars", "max_columns", "max_aggregates", "max_row_indices")
    tries += [shorter(replace(bounds, max_insights=1), f / 10, everything) for f in range(5, 0, -1)]
    for candidate in tries:
        if max_output_bytes(output_schema(candidate)) < max_new_tokens:
            return candidate
    raise ValueError(f"max_new_tokens={max_new_tokens} cannot hold even a minimal constrained answer; "
                     f"raise it to at least {max_output_bytes(output_schema(tries[-1])) + 1}")


def response_format(schema: dict) -> dict:
    """The schema as an OpenAI structured-outputs `response_format`."""
    return {"type": "json_schema", "json_schema": {"name": "llm_output", "schema": schema, "strict": False}}


def describe(bounds: OutputBounds, grounded: bool) -> dict[str, Any]:
    """What the evaluation report records about constrained decoding."""
    return {"library": "llguidance", "grounded": grounded, **asdict(bounds),
            "max_output_bytes": max_output_bytes(output_schema(bounds))}
