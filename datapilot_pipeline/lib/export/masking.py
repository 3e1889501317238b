"""PII masking of exported content through `lib.pii`, without touching what evidence refers to.

Masked: every string value of the compact EDA (dataset name, sample-row values, ...), the keys of
`top_values` (category labels can be emails or phone numbers), and the free text of an output
(insight `text`, `recommendation.action`, `summary`). Never masked: numbers, row indices, column
names, JSON structure, evidence columns. Evidence aggregate pointers into `top_values` are rewritten
with the same key mapping so they still resolve to the same number.

All strings of a whole export are collected first and masked in one `lib.pii.mask_texts` call, so a
string repeated across jobs (dtypes, shot contents) is analyzed once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_SKIP_EDA_KEYS = {"correlations"}  # its strings are column names, which evidence cites verbatim


def _eda_strings(obj: Any, sink: list[str], parent: str | None = None) -> None:
    if isinstance(obj, str):
        sink.append(obj)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if parent == "top_values":
                sink.append(key)
            if key not in _SKIP_EDA_KEYS:
                _eda_strings(value, sink, key)
    elif isinstance(obj, list):
        for value in obj:
            _eda_strings(value, sink, parent)


def _output_strings(output: dict, sink: list[str]) -> None:
    for insight in output.get("insights", []):
        sink.append(insight["text"])
        sink.append(insight["recommendation"]["action"])
    if isinstance(output.get("summary"), str):
        sink.append(output["summary"])


def collect_strings(compact_edas: Iterable[dict], outputs: Iterable[dict]) -> list[str]:
    """Every distinct string that masking looks at, in first-seen order."""
    sink: list[str] = []
    for eda in compact_edas:
        _eda_strings(eda, sink)
    for output in outputs:
        _output_strings(output, sink)
    return list(dict.fromkeys(sink))


class Masker:
    """Masks compact EDAs and outputs with a mapping computed once for a batch of strings."""

    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping

    @classmethod
    def for_content(cls, compact_edas: Iterable[dict], outputs: Iterable[dict]) -> "Masker":
        from datapilot_pipeline.lib.pii import mask_texts

        strings = collect_strings(compact_edas, outputs)
        return cls({s: m for s, m in zip(strings, mask_texts(strings)) if m != s})

    def text(self, value: str) -> str:
        return self.mapping.get(value, value)

    def _top_values(self, values: dict) -> tuple[dict, dict[str, str]]:
        out: dict = {}
        renamed: dict[str, str] = {}
        for key, count in values.items():
            new = self.text(key)
            if new != key:
                base, n = new, 1
                while new in out or new in values:  # two labels masked alike stay two entries
                    n += 1
                    new = f"{base} #{n}"
                renamed[key] = new
            out[new] = count
        return out, renamed

    def compact_eda(self, eda: Any, parent: str | None = None,
                    renamed: dict[tuple[str, str], str] | None = None) -> Any:
        """The masked compact EDA. `renamed` collects (column, old label) -> new label for pointers."""
        if isinstance(eda, str):
            return self.text(eda)
        if isinstance(eda, list):
            return [self.compact_eda(v, parent, renamed) for v in eda]
        if not isinstance(eda, dict):
            return eda
        out = {}
        for key, value in eda.items():
            if key in _SKIP_EDA_KEYS:
                out[key] = value
            elif key == "columns" and parent is None and isinstance(value, dict):
                out[key] = {col: self._column(col, profile, renamed) for col, profile in value.items()}
            else:
                out[key] = self.compact_eda(value, key, renamed)
        return out

    def _column(self, column: str, profile: Any, renamed: dict | None) -> Any:
        if not isinstance(profile, dict):
            return self.compact_eda(profile, column, renamed)
        out = {}
        for key, value in profile.items():
            if key == "top_values" and isinstance(value, dict):
                out[key], labels = self._top_values(value)
                if renamed is not None:
                    renamed.update({(column, old): new for old, new in labels.items()})
            else:
                out[key] = self.compact_eda(value, key, renamed)
        return out

    def output(self, output: dict, renamed: dict[tuple[str, str], str] | None = None) -> dict:
        """The masked output: free text masked, evidence pointers follow renamed `top_values` labels."""
        insights = []
        for insight in output["insights"]:
            evidence = dict(insight["evidence"])
            if renamed:
                evidence["aggregates"] = {_repoint(k, renamed): v for k, v in evidence.get("aggregates", {}).items()}
            recommendation = {**insight["recommendation"], "action": self.text(insight["recommendation"]["action"])}
            insights.append({**insight, "text": self.text(insight["text"]), "evidence": evidence,
                             "recommendation": recommendation})
        masked = {**output, "insights": insights}
        if isinstance(output.get("summary"), str):
            masked["summary"] = self.text(output["summary"])
        return masked


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _repoint(pointer: str, renamed: dict[tuple[str, str], str]) -> str:
    parts = pointer.split("/")
    if len(parts) == 5 and parts[0] == "" and parts[1] == "columns" and parts[3] == "top_values":
        new = renamed.get((_unescape(parts[2]), _unescape(parts[4])))
        if new is not None:
            return "/".join(parts[:4] + [_escape(new)])
    return pointer
