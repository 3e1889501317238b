"""Masking with the column a value sits in: tabular places (sample-row values, `top_values` labels).

A value under a column whose name means names or street addresses (`columns.column_entity`) is masked
whole when the recognizers find nothing more specific in it (`Maria Gonzalez` under `customer_name`);
a value under a column named for an identifier (`mobile`, `bsn`) is scanned with the column name
before it as context. Other values are scanned as free text. `mask_json` finds the column of a value
as the nearest enclosing key that is not structure (`columns`, `top_values`, `sample_rows`, ...).
"""

from __future__ import annotations

import re
from typing import Any

from datapilot_pipeline.lib.pii.columns import column_entity, is_context_column
from datapilot_pipeline.lib.pii.config import DEFAULT_CONFIG, PiiConfig
from datapilot_pipeline.lib.pii.engine import PiiFinding, apply_findings, is_plain_number, scan_texts

Cell = tuple[str | None, str]  # (column, value)
_SCALARS = frozenset({int, float, bool, type(None)})
STRUCTURAL_KEYS = frozenset({"columns", "top_values", "sample_rows", "values", "rows", "data", "records"})


def column_hint(column: str | None) -> str | None:
    """The column when its name matters to masking, else None (so equal values share one analysis)."""
    return column if column and (column_entity(column) or is_context_column(column)) else None


def _scanned(cell: Cell) -> tuple[str, int]:
    column, value = cell
    if column and is_context_column(column):
        prefix = f"{column}: "
        return prefix + value, len(prefix)
    return value, 0


_NOT_A_NAME = re.compile(r"[\d@/\\_|<>{}=]|\.(?:csv|json|xlsx?|parquet|txt)$", re.IGNORECASE)


def _looks_like(entity: str, value: str) -> bool:
    """A value the column's meaning applies to: a name has letters and no digits, paths or placeholders
    (`leads.csv` under a `name` key is a file); an address has a letter; neither is a plain number."""
    if not value or is_plain_number(value) or not any(c.isalpha() for c in value) or value.startswith("<"):
        return False
    if entity == "PERSON":
        return len(value) <= 80 and len(value.split()) <= 6 and not _NOT_A_NAME.search(value)
    return len(value) <= 160


def scan_cells(cells: list[Cell], config: PiiConfig = DEFAULT_CONFIG) -> list[list[PiiFinding]]:
    """Findings per (column, value), spans relative to the value."""
    scanned = [_scanned(c) if c[0] else (c[1], 0) for c in cells]  # most cells have no column: no call
    results = scan_texts([text for text, _ in scanned], config)
    out = []
    for (column, value), (_, offset), findings in zip(cells, scanned, results):
        if findings and (offset or any(f.end <= 0 for f in findings)):
            findings = [PiiFinding(f.entity_type, max(f.start - offset, 0), f.end - offset, f.score, f.locale)
                        for f in findings if f.end > offset]
        entity = column_entity(column) if column else None
        if entity and config.wants(entity):
            whole = value.strip()
            if _looks_like(entity, whole) and not any(f.end - f.start >= len(whole) for f in findings):
                findings = [PiiFinding(entity, 0, len(value), 0.9)]
        out.append(findings)
    return out


def mask_cells(cells: list[Cell], config: PiiConfig = DEFAULT_CONFIG) -> list[str]:
    """Each value masked with its column in mind."""
    unique = list(dict.fromkeys((column_hint(c), v) for c, v in cells))
    masked = {cell: apply_findings(cell[1], fs) if fs else cell[1]
              for cell, fs in zip(unique, scan_cells(unique, config))}
    return [masked[(column_hint(c), v)] for c, v in cells]


def walk_strings(obj: Any, fn, keys: bool, column: str | None = None, role: str | None = None) -> Any:
    """`obj` with `fn(column, string)` applied to every string value (and key when `keys`). The column is passed for
    sample-row values (`sample_rows[*].values[col]` or `sample_rows[*][col]`) and `top_values` keys
    (`columns[col].top_values`); every other string gets None (a dataset `name` is not a person).
    A dict or list is copied only when something in it changes (`fn` returns another object): unchanged parts are
    `obj`'s own, so collecting strings or masking a clean EDA builds nothing. String and scalar leaves are handled
    where they are met, without a call of their own (most nodes are leaves)."""
    if isinstance(obj, str):
        return fn(column if role == "value" else None, obj)
    if isinstance(obj, dict):
        out = None  # the copy, from the first change on
        for k, v in obj.items():
            cls = v.__class__
            if k.__class__ is not str:
                new_key, new = k, walk_strings(v, fn, keys, column, None)
            elif cls in _SCALARS and not keys:  # numbers: nothing to walk
                new_key, new = k, v
            else:
                child_column, child_role = column, None
                if role == "columns":
                    child_column, child_role = k, "profile"
                elif role == "profile" and k == "top_values":
                    child_role = "top"
                elif role == "row":
                    child_column, child_role = (column, "row") if k == "values" else (k, "value")
                elif k == "columns" and isinstance(v, dict):
                    child_role = "columns"
                elif k == "sample_rows":
                    child_role = "rows"
                new_key = fn(column if role == "top" else None, k) if keys else k
                if cls is str:
                    new = fn(child_column if child_role == "value" else None, v)
                elif cls in _SCALARS:
                    new = v
                else:
                    new = walk_strings(v, fn, keys, child_column, child_role)
            if out is None:
                if new_key is k and new is v:
                    continue
                out = {}
                for earlier, value in obj.items():  # the unchanged entries before this one
                    if earlier is k:
                        break
                    out[earlier] = value
            base, n = new_key, 1
            while new_key in out:  # two labels masked alike stay two entries
                n += 1
                new_key = f"{base} #{n}"
            out[new_key] = new
        return obj if out is None else out
    if isinstance(obj, (list, tuple)):
        inner = "row" if role == "rows" else role
        leaf_column = column if inner == "value" else None
        items = None
        for i, v in enumerate(obj):
            new = v if v.__class__ in _SCALARS else fn(leaf_column, v) if v.__class__ is str \
                else walk_strings(v, fn, keys, column, inner)
            if items is None:
                if new is v:
                    continue
                items = list(obj[:i])
            items.append(new)
        if items is None:
            return obj
        return items if isinstance(obj, list) else tuple(items)
    return obj


def mask_json(obj: Any, keys: bool = False, config: PiiConfig = DEFAULT_CONFIG) -> Any:
    """A copy of `obj` with every string value masked; numbers, bools, None and shape unchanged. Keys stay as
    they are unless `keys` (a file that will be trained on must not carry PII even in a key)."""
    cells: list[Cell] = []
    walk_strings(obj, lambda c, s: cells.append((column_hint(c), s)) or s, keys)
    unique = list(dict.fromkeys(cells))
    masked = {cell: m for cell, m in zip(unique, mask_cells(unique, config)) if m != cell[1]}
    return walk_strings(obj, lambda c, s: masked.get((column_hint(c), s), s), keys)
