"""The clean training file: schema-valid lines, duplicates dropped, PII masked (keys included)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from datapilot_pipeline.lib.atomic import atomic_write_jsonl, dumps_compact
from datapilot_pipeline.lib.hashing import file_sha256
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


def _records(validation) -> Iterator:
    """The validated lines: those held in memory, else the source read again line by line, checked to be the
    bytes the report names (`DatasetChangedError` otherwise, and the clean file is not written)."""
    if validation.records is not None:
        yield from validation.records
        return
    from datapilot_pipeline.lib.validation.records import iter_lines, parse_record
    from datapilot_pipeline.lib.validation.report import DatasetChangedError

    digest = hashlib.sha256()
    for number, raw in iter_lines(validation.source, digest):
        yield parse_record(number, raw)
    if digest.hexdigest() != validation.sha256:
        raise DatasetChangedError(f"{validation.source} changed after validation: sha256 {digest.hexdigest()} "
                                  f"!= {validation.sha256}")


def write_clean(validation, path: str | Path) -> dict:
    """Write the clean JSONL for a `report.Validation`, line by line; returns path, sha256 and counts."""
    drop_dups = set(validation.duplicates.exact) | set(validation.duplicates.near)
    pii_lines = set(validation.pii.lines)
    invalid = set(validation.report["schema"]["invalid_lines"])  # parse and completion-schema problems
    counts = {"n_examples": 0, "dropped_invalid": 0, "masked_lines": 0}

    def rows() -> Iterator:
        for rec in _records(validation):
            if rec.line in invalid:
                counts["dropped_invalid"] += 1
                continue
            if rec.line in drop_dups:
                continue
            counts["n_examples"] += 1
            if rec.line in pii_lines:
                counts["masked_lines"] += 1
                yield mask_record(rec.data)
            else:
                yield rec.data

    path = atomic_write_jsonl(path, rows())
    return {"path": str(path), "sha256": file_sha256(path), "n_examples": counts["n_examples"],
            "dropped_invalid": counts["dropped_invalid"], "dropped_duplicates": len(drop_dups),
            "masked_lines": counts["masked_lines"]}


def clean_dataset(source: str | Path, target: str | Path, **validate_kwargs) -> dict:
    """Validate `source` (without the GX suite) and write its clean lines to `target`."""
    from datapilot_pipeline.lib.validation.report import validate_dataset

    return write_clean(validate_dataset(source, run_gx=False, **validate_kwargs), target)
