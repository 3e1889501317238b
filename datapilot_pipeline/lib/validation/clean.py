"""The clean training file: schema-valid lines, duplicates dropped, PII masked (keys included)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from datapilot_pipeline.lib.atomic import atomic_write_jsonl, dumps_compact
from datapilot_pipeline.lib.pii import mask_json, mask_texts


def _mask_text_block(text: str) -> str:
    """Mask a prompt or completion line by line; JSON lines are parsed so masking never breaks them."""
    out = []
    for line in text.split("\n"):
        parsed = None
        if line[:1] in ("{", "["):
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                parsed = None
        out.append(dumps_compact(mask_json(parsed, keys=True)) if isinstance(parsed, (dict, list))
                   else mask_texts([line])[0])
    return "\n".join(out)


def mask_record(obj: Any, parse_text: bool = True) -> Any:
    """A copy of an export line with every PII finding masked in keys, values and embedded JSON."""
    if isinstance(obj, str):
        if parse_text and ("\n" in obj or obj[:1] in ("{", "[")):
            return _mask_text_block(obj)
        return mask_texts([obj])[0]
    if isinstance(obj, dict):
        return {mask_texts([k])[0]: mask_record(v, parse_text) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask_record(v, parse_text) for v in obj]
    return obj


def write_clean(validation, path: str | Path) -> dict:
    """Write the clean JSONL for a `report.Validation`; returns path, sha256 and counts."""
    drop_dups = set(validation.duplicates.exact) | set(validation.duplicates.near)
    pii_lines = set(validation.pii.lines)
    rows, dropped_invalid, masked = [], 0, 0
    for rec in validation.records:
        if rec.problems:
            dropped_invalid += 1
            continue
        if rec.line in drop_dups:
            continue
        if rec.line in pii_lines:
            rows.append(mask_record(rec.data))
            masked += 1
        else:
            rows.append(rec.data)
    path = atomic_write_jsonl(path, rows)
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "n_examples": len(rows),
            "dropped_invalid": dropped_invalid, "dropped_duplicates": len(drop_dups), "masked_lines": masked}


def clean_dataset(source: str | Path, target: str | Path, **validate_kwargs) -> dict:
    """Validate `source` (without the GX suite) and write its clean lines to `target`."""
    from datapilot_pipeline.lib.validation.report import validate_dataset

    return write_clean(validate_dataset(source, run_gx=False, **validate_kwargs), target)
