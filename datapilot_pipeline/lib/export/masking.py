"""PII masking of exported content through `lib.pii`, without touching what evidence refers to.

Masked: every string value of the compact EDA (dataset name, sample-row values, ...), the keys of
`top_values` (category labels can be emails, phone numbers or customer names), and the free text of an
output (insight `text`, `recommendation.action`, `summary`). Sample-row values and `top_values` labels
are masked with their column in mind (`lib.pii.cells`): a value under `customer_name` or `address` is
masked whole. Never masked: numbers, row indices, column names, JSON structure, evidence columns.
Evidence aggregate pointers into `top_values` are rewritten with the same key mapping so they still
resolve to the same number.

All strings of a whole export are collected first and masked in one `lib.pii.mask_cells` call, so a
string repeated across jobs (dtypes, shot contents) is analyzed once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from datapilot_pipeline.lib.pii.cells import Cell, column_hint, walk_strings

_SKIP_EDA_KEYS = {"correlations"}  # its strings are column names, which evidence cites verbatim


def _without_skipped(eda: Any) -> Any:
    return {k: v for k, v in eda.items() if k not in _SKIP_EDA_KEYS} if isinstance(eda, dict) else eda


def _output_strings(output: dict, sink: list[Cell]) -> None:
    for insight in output.get("insights", []):
        sink.append((None, insight["text"]))
        sink.append((None, insight["recommendation"]["action"]))
    if isinstance(output.get("summary"), str):
        sink.append((None, output["summary"]))


def collect_cells(compact_edas: Iterable[dict], outputs: Iterable[dict]) -> list[Cell]:
    """Every distinct (column hint, string) that masking looks at, in first-seen order."""
    sink: list[Cell] = []
    for eda in compact_edas:
        walk_strings(_without_skipped(eda), lambda c, s: sink.append((column_hint(c), s)) or s, keys=False)
        for column, profile in (eda.get("columns") or {}).items():
            if isinstance(profile, dict) and isinstance(profile.get("top_values"), dict):
                sink.extend((column_hint(column), label) for label in profile["top_values"])
    for output in outputs:
        _output_strings(output, sink)
    return list(dict.fromkeys(sink))


def collect_strings(compact_edas: Iterable[dict], outputs: Iterable[dict]) -> list[str]:
    """Every distinct string that masking looks at, in first-seen order."""
    return list(dict.fromkeys(s for _, s in collect_cells(compact_edas, outputs)))


class RepeatedCells:
    """The masked value of each cell met in more than one chunk of an export: dtypes, category labels, the
    worked examples' texts, a table's values shared by many jobs (about a quarter of a chunk's cells), so a process
    masks them once rather than once per chunk. A cell's masking depends on the cell alone, so this changes no
    result. A cell is kept the second time it is masked (what is new in every job costs a hash, not its text). The
    hashes of cells met once are forgotten past three times `limit` (the cells kept stay: forgetting them too made a
    10k export mask 7,163 cells again), and everything past `limit` cells or `char_limit` characters: about 10 MB a
    process whatever the size of the store."""

    def __init__(self, limit: int = 20_000, char_limit: int = 2_000_000) -> None:
        self.limit, self.char_limit = limit, char_limit
        self.masked: dict[Cell, str] = {}
        self._seen_once: set[int] = set()
        self._chars = 0

    def mapping(self, cells: list[Cell]) -> dict[Cell, str]:
        """(column hint, string) -> masked, for the cells masking changes."""
        from datapilot_pipeline.lib.pii import mask_cells

        known = self.masked
        new = [c for c in cells if c not in known]
        fresh = dict(zip(new, mask_cells(new))) if new else {}
        self._learn(fresh)
        return {c: m for c in cells if (m := known[c] if c in known else fresh[c]) != c[1]}

    def _learn(self, fresh: dict[Cell, str]) -> None:
        if len(self.masked) > self.limit or self._chars > self.char_limit:
            self.masked, self._seen_once, self._chars = {}, set(), 0
        elif len(self._seen_once) > 3 * self.limit:  # hashes of each job's own values: the learned cells stay
            self._seen_once = set()
        seen_once = self._seen_once
        for cell, masked in fresh.items():
            digest = hash(cell)
            if digest not in seen_once:
                seen_once.add(digest)
            else:
                self.masked[cell] = masked
                self._chars += len(cell[1]) + len(masked)


_REPEATED = RepeatedCells()  # this process's (a worker's, or the exporting process's)


def cell_mapping(cells: list[Cell]) -> dict[Cell, str]:
    """(column hint, string) -> masked, for the cells masking changes (a plain function: worker processes run it).
    Cells met before in this process are looked up (`RepeatedCells`)."""
    return _REPEATED.mapping(cells)


class Masker:
    """Masks compact EDAs and outputs with a mapping computed once for a batch of (column hint, string)."""

    def __init__(self, mapping: dict[Cell | str, str]):
        """`mapping`: (column hint, string) -> masked; a bare string key stands for (None, string)."""
        self.mapping = {(k if isinstance(k, tuple) else (None, k)): v for k, v in mapping.items()}

    @classmethod
    def for_content(cls, compact_edas: Iterable[dict], outputs: Iterable[dict]) -> "Masker":
        return cls(cell_mapping(collect_cells(compact_edas, outputs)))

    def text(self, value: str, column: str | None = None) -> str:
        return self.mapping.get((column_hint(column), value), value)

    def _top_values(self, column: str, values: dict) -> tuple[dict, dict[str, str]]:
        out: dict = {}
        renamed: dict[str, str] = {}
        for key, count in values.items():
            new = self.text(key, column)
            if new != key:
                base, n = new, 1
                while new in out or new in values:  # two labels masked alike stay two entries
                    n += 1
                    new = f"{base} #{n}"
                renamed[key] = new
            out[new] = count
        return out, renamed

    def compact_eda(self, eda: Any, renamed: dict[tuple[str, str], str] | None = None) -> Any:
        """The masked compact EDA. `renamed` collects (column, old label) -> new label for pointers."""
        if not isinstance(eda, dict):
            return walk_strings(eda, lambda c, s: self.text(s, c), keys=False)
        masked = walk_strings(_without_skipped(eda), lambda c, s: self.text(s, c), keys=False)
        out = {k: (eda[k] if k in _SKIP_EDA_KEYS else masked[k]) for k in eda}
        columns = out.get("columns")
        if isinstance(columns, dict):
            out["columns"] = columns = dict(columns)  # `walk_strings` may return the EDA's own dicts: not changed here
            for column, profile in columns.items():
                if isinstance(profile, dict) and isinstance(profile.get("top_values"), dict):
                    top_values, labels = self._top_values(column, eda["columns"][column]["top_values"])
                    columns[column] = {**profile, "top_values": top_values}
                    if renamed is not None:
                        renamed.update({(column, old): new for old, new in labels.items()})
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
