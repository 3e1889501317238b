"""Unmasked PII in a dataset, by Presidio entity type and line (`lib.pii`).

Each line is cut into the strings it is made of: every JSON key and string value, and every text
line of the prompt or completion, with their JSON lines (compact EDAs, outputs) cut the same way.
Numbers stay numbers and are never scanned. Strings are found with one regex over the JSON text
rather than by building and walking objects; repeated strings (the shared system prompt and
few-shot block, column names) are analyzed once across the whole file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from datapilot_pipeline.lib.pii import could_contain_pii, scan_texts

# A JSON string literal (key or value), without its quotes.
_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)


@dataclass
class PiiResult:
    by_entity: dict[str, int] = field(default_factory=dict)  # findings per entity type
    lines: list[int] = field(default_factory=list)  # 1-based lines with at least one finding
    by_line: dict[int, dict[str, int]] = field(default_factory=dict)


def _decode(literal: str) -> str:
    if "\\" not in literal:
        return literal
    try:
        return json.loads(f'"{literal}"')
    except json.JSONDecodeError:
        return literal


class _StringCollector:
    """Strings worth scanning, memoized per distinct text line and per distinct string."""

    def __init__(self) -> None:
        self._lines: dict[str, tuple[str, ...]] = {}
        self._candidate: dict[str, bool] = {}

    def _keep(self, value: str, out: list[str]) -> None:
        ok = self._candidate.get(value)
        if ok is None:
            ok = self._candidate[value] = could_contain_pii(value)
        if ok:
            out.append(value)

    def _json_text(self, text: str, out: list[str], nested: bool) -> None:
        for literal in _JSON_STRING.findall(text):
            value = _decode(literal)
            if nested and ("\n" in value or value[:1] in ("{", "[")):
                self._text(value, out)
            else:
                self._keep(value, out)

    def _text(self, text: str, out: list[str]) -> None:
        for line in text.split("\n"):
            cached = self._lines.get(line)
            if cached is None:
                found: list[str] = []
                if line[:1] in ("{", "[") and _is_json(line):
                    self._json_text(line, found, nested=False)
                else:
                    self._keep(line, found)
                cached = self._lines[line] = tuple(found)
            out.extend(cached)

    def strings(self, raw: str, is_json: bool) -> list[str]:
        out: list[str] = []
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


def scan_records(records: list[tuple[int, bool, str]]) -> PiiResult:
    """`records` are (line, whether the raw text parsed as JSON, raw text); others are scanned as text."""
    collector = _StringCollector()
    per_line = [(line, collector.strings(raw, is_json)) for line, is_json, raw in records]
    unique = list(dict.fromkeys(s for _, strings in per_line for s in strings))
    findings = dict(zip(unique, scan_texts(unique)))
    result = PiiResult()
    totals: Counter[str] = Counter()
    for line, strings in per_line:
        counts = Counter(f.entity_type for s in strings for f in findings[s])
        if counts:
            result.lines.append(line)
            result.by_line[line] = dict(sorted(counts.items()))
            totals.update(counts)
    result.by_entity = dict(sorted(totals.items()))
    return result
