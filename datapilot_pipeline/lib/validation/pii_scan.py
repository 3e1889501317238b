"""Unmasked PII in a dataset, by entity type, locale and line (`lib.pii`, with `DEFAULT_CONFIG`).

Each line is cut into the strings it is made of: every JSON key and string value, and every text
line of the prompt or completion, with their JSON lines (compact EDAs, outputs) cut the same way.
A string value is scanned with its key as the column (`"customer_name": "Maria Gonzalez"` is a name,
`"mobile": "4155552671"` a phone), as export masking does. Numbers stay numbers and are never scanned.
Strings are found with one regex over the JSON text rather than by building and walking objects;
repeated strings (the shared system prompt and few-shot block, column names) are analyzed once across
the whole file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from datapilot_pipeline.lib.pii import scan_cells
from datapilot_pipeline.lib.pii.cells import Cell, column_hint

# A JSON string literal (key or value) without its quotes, and the string value after it when it is a key. The
# literal is written as an unrolled loop (runs of plain characters between escapes): it matches what
# `"((?:[^"\\]|\\.)*)"` matches, about 5 times faster, since the engine no longer tries an alternation per character.
_LITERAL = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_JSON_STRING = re.compile(_LITERAL + r'(?:\s*:\s*' + _LITERAL + ')?', re.DOTALL)
UNKNOWN_LOCALE = "any"  # emails, cards, IBANs, IPs, names and addresses belong to no one locale


@dataclass
class PiiResult:
    by_entity: dict[str, int] = field(default_factory=dict)  # findings per entity type
    lines: list[int] = field(default_factory=list)  # 1-based lines with at least one finding
    by_line: dict[int, dict[str, int]] = field(default_factory=dict)
    by_locale: dict[str, dict[str, int]] = field(default_factory=dict)  # locale -> entity -> findings
    locales_by_line: dict[int, dict[str, dict[str, int]]] = field(default_factory=dict)


def _decode(literal: str) -> str:
    if "\\" not in literal:
        return literal
    try:
        return json.loads(f'"{literal}"')
    except json.JSONDecodeError:
        return literal


class _CellCollector:
    """(column, string) cells worth scanning, memoized per distinct text line."""

    def __init__(self) -> None:
        self._lines: dict[str, tuple[Cell, ...]] = {}

    def _json_text(self, text: str, out: list[Cell], nested: bool) -> None:
        for key_literal, value_literal in _JSON_STRING.findall(text):
            first = _decode(key_literal)
            cells = [(None, first)] if not value_literal else [(None, first), (column_hint(first), _decode(value_literal))]
            for column, value in cells:
                if nested and ("\n" in value or value[:1] in ("{", "[")):
                    self._text(value, out)
                else:
                    out.append((column, value))

    def _text(self, text: str, out: list[Cell]) -> None:
        for line in text.split("\n"):
            cached = self._lines.get(line)
            if cached is None:
                found: list[Cell] = []
                if line[:1] in ("{", "[") and _is_json(line):
                    self._json_text(line, found, nested=False)
                else:
                    found.append((None, line))
                cached = self._lines[line] = tuple(found)
            out.extend(cached)

    def cells(self, raw: str, is_json: bool) -> list[Cell]:
        out: list[Cell] = []
        if is_json:
            self._json_text(raw, out, nested=True)
        else:
            self._text(raw, out)
        return out


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


class ScanCache:
    """What `scan_records` learned, kept across the chunks of one file: the cells of each distinct text line and
    the findings of each distinct cell (the shared system prompt and worked examples are scanned once per file,
    not once per chunk). Findings depend on the cell alone, so a cache changes no result; it is emptied when it
    holds `limit` cells or text lines, so memory stays bounded on a file of a million distinct values (each line's
    compact EDA is a distinct text line of about 1 KB: 50,000 of them with their cells are some 100 MB; after a trim
    the shared lines are scanned once again)."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self.collector = _CellCollector()
        self.findings: dict[Cell, list] = {}

    def trim(self) -> None:
        if len(self.findings) > self.limit or len(self.collector._lines) > self.limit:
            self.collector, self.findings = _CellCollector(), {}


def scan_records(records: list[tuple[int, bool, str]], cache: ScanCache | None = None) -> PiiResult:
    """`records` are (line, whether the raw text parsed as JSON, raw text); others are scanned as text."""
    cache = cache or ScanCache()
    cache.trim()
    collector, findings = cache.collector, cache.findings
    per_line = [(line, collector.cells(raw, is_json)) for line, is_json, raw in records]
    unique = [c for c in dict.fromkeys(c for _, cells in per_line for c in cells if c[1]) if c not in findings]
    findings.update(zip(unique, scan_cells(unique)))
    result = PiiResult()
    totals: Counter[str] = Counter()
    locale_totals: Counter[tuple[str, str]] = Counter()
    for line, cells in per_line:
        found = [f for c in cells if c[1] for f in findings[c]]
        if found:
            counts = Counter(f.entity_type for f in found)
            by_locale = Counter((f.locale or UNKNOWN_LOCALE, f.entity_type) for f in found)
            result.lines.append(line)
            result.by_line[line] = dict(sorted(counts.items()))
            result.locales_by_line[line] = _nest(by_locale)
            totals.update(counts)
            locale_totals.update(by_locale)
    result.by_entity = dict(sorted(totals.items()))
    result.by_locale = _nest(locale_totals)
    return result


def _nest(counts: Counter) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (locale, entity), n in sorted(counts.items()):
        out.setdefault(locale, {})[entity] = n
    return out
