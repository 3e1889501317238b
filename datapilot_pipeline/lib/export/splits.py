"""Train / validation / holdout splits that never move as data grows.

A table's split is a function of its identity alone: `table_identity` hashes the table's name and its
sorted column names, and the hash, read as a number in [0, 1), falls in the train, validation or holdout
share. Every example of one table lands in one split, new reviews of a known table join its split, and
adding or removing other tables moves nothing. The identity survives new rows, changed values, column
order and re-profiling; a renamed table, a renamed / added / dropped column, is a new table (it may land
in another split, so a holdout table that changes shape can be trained on under its new identity).

Tables in `forced_holdout` (every table that was ever in a holdout, and the shipped holdout's tables) are
held out whatever their hash says, so a table evaluated on once is never trained on later
(`HoldoutRecord` keeps that list under the working root). Split shares are met on average over tables,
not exactly: with few tables a split can be empty.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from datapilot_pipeline.lib.atomic import atomic_write_json

SPLITS = ("train", "validation", "holdout")
T = TypeVar("T")


@dataclass(frozen=True)
class SplitFractions:
    train: float = 0.8
    validation: float = 0.1
    holdout: float = 0.1

    def __post_init__(self):
        values = (self.train, self.validation, self.holdout)
        if any(not 0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"split fractions must lie in [0, 1], got {values}")
        if self.train <= 0.0:
            raise ValueError("the train fraction must be above 0")
        if abs(sum(values) - 1.0) > 1e-6:
            raise ValueError(f"split fractions must sum to 1, got {sum(values):g}")

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.train, self.validation, self.holdout)


def table_identity(compact_eda: dict) -> str:
    """16 hex digits of a hash of the table's name and sorted column names (the name itself may hold PII, so
    it is not kept in the identity, the dataset's metadata or the holdout record)."""
    name = str(((compact_eda or {}).get("dataset") or {}).get("name"))
    columns = sorted(str(c) for c in ((compact_eda or {}).get("columns") or {}))
    return hashlib.sha256(json.dumps([name, columns], ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def split_of(identity: str, fractions: SplitFractions = SplitFractions()) -> str:
    """The split a table identity falls in by its hash alone."""
    point = int(hashlib.sha256(identity.encode("utf-8")).hexdigest()[:15], 16) / float(1 << 60)
    if point < fractions.train:
        return "train"
    return "validation" if point < fractions.train + fractions.validation else "holdout"


def assign_splits(items: Sequence[T], identity: Callable[[T], str], fractions: SplitFractions = SplitFractions(),
                  forced_holdout: Iterable[str] = frozenset()) -> dict[str, str]:
    """Map each item's table identity to "train", "validation" or "holdout" (see the module docstring)."""
    forced = set(forced_holdout)
    return {key: ("holdout" if key in forced else split_of(key, fractions)) for key in map(identity, items)}


class HoldoutRecord:
    """Every table identity that was ever in an export's holdout, kept in one JSON file.

    `add` runs under an exclusive lock and replaces the file atomically, so concurrent exports never lose
    each other's tables; export records its holdout before it writes the dataset files."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def tables(self) -> set[str]:
        if not self.path.is_file():
            return set()
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return set((data.get("tables") or {}) if isinstance(data, dict) else ())

    @contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, identities: Iterable[str], export_name: str) -> set[str]:
        """Record `identities` as held out by `export_name`; returns every recorded identity."""
        new = set(identities)
        with self._locked():
            data = json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}
            tables = dict(data.get("tables") or {})
            added = sorted(new - tables.keys())
            for key in added:
                tables[key] = {"first_holdout": export_name}
            if added or not self.path.is_file():
                atomic_write_json(self.path, {"tables": tables})
        return set(tables)
