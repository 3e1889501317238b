"""Unmasked PII in a dataset, by Presidio entity type and line (`lib.pii`).

Each line is cut into the strings it is made of: every JSON key and string value, and every text
line of the prompt, with the prompt's JSON lines (compact EDAs, example outputs) parsed and walked
too. Numbers stay numbers and are never scanned. Repeated strings (the shared system prompt and
few-shot block, column names) are analyzed once across the whole file.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from datapilot_pipeline.lib.pii import could_contain_pii, scan_texts


@dataclass
class PiiResult:
    by_entity: dict[str, int] = field(default_factory=dict)  # findings per entity type
    lines: list[int] = field(default_factory=list)  # 1-based lines with at least one finding
    by_line: dict[int, dict[str, int]] = field(default_factory=dict)


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

    def _walk(self, obj: Any, out: list[str], parse_text: bool) -> None:
        if isinstance(obj, str):
            if parse_text and ("\n" in obj or obj[:1] in ("{", "[")):
                self._text(obj, out)
            else:
                self._keep(obj, out)
        elif isinstance(obj, dict):
            for key, value in obj.items():
                self._keep(key, out)
                self._walk(value, out, parse_text)
        elif isinstance(obj, list):
            for value in obj:
                self._walk(value, out, parse_text)

    def _text(self, text: str, out: list[str]) -> None:
        for line in text.split("\n"):
            cached = self._lines.get(line)
            if cached is None:
                found: list[str] = []
                parsed: Any = None
                if line[:1] in ("{", "["):
                    try:
                        parsed = json.loads(line)
                    except json.JSONDecodeError:
                        parsed = None
                if isinstance(parsed, (dict, list)):
                    self._walk(parsed, found, parse_text=False)
                else:
                    self._keep(line, found)
                cached = self._lines[line] = tuple(found)
            out.extend(cached)

    def strings(self, data: Any, raw: str) -> list[str]:
        out: list[str] = []
        if isinstance(data, (dict, list)):
            self._walk(data, out, parse_text=True)
        else:
            self._text(raw, out)
        return out


def scan_records(records: list[tuple[int, Any, str]]) -> PiiResult:
    """`records` are (line, parsed JSON or None, raw text); unparsable lines are scanned as text."""
    collector = _StringCollector()
    per_line = [(line, collector.strings(data, raw)) for line, data, raw in records]
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
