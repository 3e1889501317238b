"""Train / validation / holdout splits grouped by source table and stratified by category.

Every example of one table (compact_eda.dataset.name) lands in one split, so a model is never
evaluated on a table it was trained on. Tables are ordered by their dominant category, then by a
seeded hash; walking that order, each table goes to the split furthest below its target share of the
examples seen so far (systematic allocation), so every category is spread over the splits in
proportion where the number of its tables allows.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

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


def _rank(seed: int, name: str) -> str:
    return hashlib.sha256(f"{seed}\x00{name}".encode()).hexdigest()


def assign_splits(items: Sequence[T], group: Callable[[T], str], stratum: Callable[[T], str],
                  fractions: SplitFractions = SplitFractions(), seed: int = 0) -> dict[str, str]:
    """Map each group name to "train", "validation" or "holdout".

    `group(item)` names the item's table; `stratum(item)` its category. A table's stratum is its most
    common item stratum (ties: alphabetical). Deterministic in `seed`; train is never empty when
    there is at least one item."""
    sizes: Counter = Counter()
    strata: dict[str, Counter] = defaultdict(Counter)
    for item in items:
        name = group(item)
        sizes[name] += 1
        strata[name][stratum(item)] += 1
    dominant = {name: min(c, key=lambda s: (-c[s], s)) for name, c in strata.items()}
    order = sorted(sizes, key=lambda name: (dominant[name], _rank(seed, name), name))
    targets = fractions.as_tuple()
    assigned_counts = [0, 0, 0]
    seen = 0
    assignment: dict[str, str] = {}
    for name in order:
        seen += sizes[name]
        deficits = [targets[k] * seen - assigned_counts[k] for k in range(3)]
        k = max(range(3), key=lambda j: (deficits[j], -j))
        assigned_counts[k] += sizes[name]
        assignment[name] = SPLITS[k]
    if order and not assigned_counts[0]:
        assignment[order[0]] = "train"
    return assignment
