"""Business-shaped pandas tables with planted effects, and their compact EDA.

A `SyntheticTable` is one table a DataPilot user uploaded: the DataFrame, its file name, business KPIs
computed from it, and `facts`, the effects deliberately planted in it (which column holds outliers,
which KPI measures the trend, which segments differ...). Insight generation reads the facts to know
what a good analyst would say; the numbers themselves always come from the compact EDA.

The helpers here serve the builders (`shapes.py`, `shapes_ops.py`, `seed_tables.py`); `shape_registry.make_table`
builds a table by shape name.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from datapilot_pipeline.lib.eda import compact_eda

@dataclass
class SyntheticTable:
    """One generated table. `facts` keys: outlier, correlation, missing, trend, segment, quality,
    pii_columns (see `shapes.py` for what each holds)."""

    shape: str
    name: str
    df: pd.DataFrame
    kpis: dict[str, float]
    facts: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def eda(self) -> dict[str, Any]:
        """The compact EDA of the table, computed once (tables are analysed many times)."""
        return compact_eda(self.df, self.name, kpis=self.kpis)


def rngs(seed: int) -> tuple[np.random.Generator, random.Random]:
    """A numpy generator for columns and a Python one for PII strings, both from one seed."""
    return np.random.default_rng(seed), random.Random(seed + 1_000_003)


def sorted_times(rng: np.random.Generator, n: int, start: str, days: int, growth: float = 0.0) -> pd.Series:
    """`n` sorted timestamps over `days` days; `growth` > 0 makes later days busier (volume trend)."""
    u = rng.random(n)
    if growth > 0:
        # inverse CDF of a density rising linearly by a factor (1 + growth) across the window
        a = growth
        u = (np.sqrt(1 + a * (2 + a) * u) - 1) / a
    seconds = np.sort(u * days * 86400).astype("int64")
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s"))


def half_growth_pct(times: pd.Series, values: pd.Series | None = None) -> float:
    """Percent change of the total (or count when `values` is None) from the first half of the
    period to the second half."""
    mid = times.min() + (times.max() - times.min()) / 2
    late = times > mid
    if values is None:
        first, second = float((~late).sum()), float(late.sum())
    else:
        first, second = float(values[~late].sum()), float(values[late].sum())
    return round(100.0 * (second / first - 1.0), 2) if first else 0.0


def rate_pct(mask: pd.Series) -> float:
    return round(100.0 * float(mask.mean()), 2) if len(mask) else 0.0


def with_missing(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    """A float copy of `values` with about `share` of the entries blanked (NaN)."""
    out = values.astype(float).copy()
    out[rng.random(len(out)) < share] = np.nan
    return out


def pick_rows(rng: np.random.Generator, n: int, k: int, avoid: set[int] | None = None) -> np.ndarray:
    """`k` distinct row positions, never the first 3 (sample rows stay typical) nor `avoid`."""
    pool = np.array([i for i in range(3, n) if not avoid or i not in avoid])
    return np.sort(rng.choice(pool, size=min(k, len(pool)), replace=False))


def slug(label: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in label.lower()).strip("_")


_TAGS = ("2026q2", "2026q3", "h1_2026", "emea", "north_america", "apac", "retail", "wholesale", "pilot", "latest")


def table_name(base: tuple[str, ...], rng: np.random.Generator) -> str:
    return f"{base[rng.integers(len(base))]}_{_TAGS[rng.integers(len(_TAGS))]}.csv"


def segment_kpis(df: pd.DataFrame, column: str, labels: list[str], metric: str, prefix: str,
                  rate: bool = False) -> dict[str, float]:
    out = {}
    for label in labels:
        rows = df[df[column] == label]
        value = rate_pct(rows[metric]) if rate else round(float(rows[metric].mean()), 2)
        out[f"{prefix}_{slug(label)}"] = value
    return out
