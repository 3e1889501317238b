"""`compact_eda(df, name)`: what DataPilot knows about one table, computed from a real DataFrame."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

MAX_OUTLIER_ROWS = 20
MAX_TOP_VALUES = 5
MAX_CORRELATIONS = 10
MIN_ABS_CORRELATION = 0.3
SAMPLE_ROWS = 3
CATEGORY_MAX_UNIQUE = 50
_MONEY_WORDS = ("revenue", "sales", "amount", "price", "cost", "spend", "value", "salary", "charges")


def _num(value: Any) -> float | int | None:
    """JSON-safe number rounded to 4 decimals (the compact EDA is what evidence is checked against)."""
    if value is None:
        return None
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    value = float(value)
    if not math.isfinite(value):
        return None
    return round(value, 4)


def _json_value(value: Any) -> Any:
    """A sample-row cell as JSON: native ints stay ints, NaN/NA/NaT/inf become null."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (int, np.integer, float, np.floating)):
        return _num(value)
    return value if isinstance(value, str) else str(value)


def _sample_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    # Column-wise `tolist()` keeps each column's own type; `iterrows` would upcast ints to floats
    # whenever a row mixes ints and floats.
    head = df.head(SAMPLE_ROWS)
    cells = {str(col): head[col].tolist() for col in head.columns}
    return [{"row_index": int(i), "values": {col: _json_value(vals[i]) for col, vals in cells.items()}}
            for i in range(len(head))]


def _dtype(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if isinstance(series.dtype, pd.CategoricalDtype) or series.nunique(dropna=True) <= CATEGORY_MAX_UNIQUE:
        return "category"
    return "text"


def _numeric_profile(series: pd.Series) -> dict[str, Any]:
    values = series.dropna().astype(float)
    infinite = int(np.isinf(values.to_numpy()).sum())
    values = values[np.isfinite(values.to_numpy())]  # +-inf would turn every statistic into null
    if values.empty:
        return {"infinite": infinite} if infinite else {}
    q1, median, q3 = np.percentile(values.to_numpy(), [25, 50, 75])
    stats = {"mean": _num(values.mean()), "std": _num(values.std(ddof=1)) if len(values) > 1 else 0.0,
             "min": _num(values.min()), "p25": _num(q1), "median": _num(median), "p75": _num(q3),
             "max": _num(values.max())}
    iqr = q3 - q1
    lo, hi = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    mask = (series < lo) | (series > hi)
    rows = [int(i) for i in np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))]
    profile = {"stats": stats, "outliers": {"method": "iqr", "count": len(rows), "row_indices": rows[:MAX_OUTLIER_ROWS]}}
    if infinite:
        profile["infinite"] = infinite
    return profile


def _column(series: pd.Series) -> dict[str, Any]:
    dtype = _dtype(series)
    profile: dict[str, Any] = {"dtype": dtype, "missing": int(series.isna().sum()), "unique": int(series.nunique(dropna=True))}
    if dtype in ("int", "float"):
        profile.update(_numeric_profile(series))
    elif dtype == "datetime":
        values = series.dropna()
        if not values.empty:
            profile["range"] = {"min": values.min().isoformat(), "max": values.max().isoformat()}
    elif dtype in ("category", "bool"):
        counts = series.dropna().astype(str).value_counts().head(MAX_TOP_VALUES)
        profile["top_values"] = {str(k): int(v) for k, v in counts.items()}
    return profile


def _correlations(df: pd.DataFrame) -> list[dict[str, Any]]:
    numeric = df.select_dtypes(include="number").drop(columns=[c for c in df.columns if df[c].dtype == bool], errors="ignore")
    if numeric.shape[1] < 2:
        return []
    corr = numeric.corr(method="pearson")
    cols = list(corr.columns)
    pairs = []
    for i, a in enumerate(cols):
        for b in cols[i + 1:]:
            r = corr.at[a, b]
            if pd.notna(r) and abs(r) >= MIN_ABS_CORRELATION:
                pairs.append({"columns": [str(a), str(b)], "pearson": _num(r)})
    pairs.sort(key=lambda p: (-abs(p["pearson"]), p["columns"]))
    return pairs[:MAX_CORRELATIONS]


def default_kpis(df: pd.DataFrame) -> dict[str, float | int | None]:
    """Row count, share of missing cells, and totals/averages of money-like numeric columns."""
    kpis: dict[str, float | int | None] = {"row_count": int(len(df))}
    cells = df.shape[0] * df.shape[1]
    kpis["missing_cell_pct"] = _num(100.0 * df.isna().sum().sum() / cells) if cells else 0.0
    for col in df.select_dtypes(include="number").columns:
        if any(word in str(col).lower() for word in _MONEY_WORDS):
            kpis[f"total_{col}"] = _num(df[col].sum(min_count=1))  # null, not 0, when nothing is recorded
            kpis[f"avg_{col}"] = _num(df[col].mean())
    return kpis


def _unique_names(columns: pd.Index) -> list[str]:
    """Column names as unique strings: a repeated name gets `.1`, `.2`, ... (pandas' read_csv convention)."""
    seen: set[str] = set()
    names = []
    for col in map(str, columns):
        name, n = col, 0
        while name in seen:
            n += 1
            name = f"{col}.{n}"
        seen.add(name)
        names.append(name)
    return names


def _hashable(value: Any) -> Any:
    """A list, dict, set or array cell as canonical JSON text, so it can be counted like any label."""
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=repr)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return value


def _profileable(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with unique string column names and nested cells (lists, dicts, sets) as JSON text."""
    df = df.reset_index(drop=True)
    df.columns = _unique_names(df.columns)
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(_hashable)
    return df


def compact_eda(df: pd.DataFrame, name: str, kpis: dict[str, float | int] | None = None) -> dict[str, Any]:
    """Profile `df` into the compact EDA contract. `kpis` adds business KPIs to the defaults.

    Repeated column names are made unique (`a`, `a.1`); list, dict and set cells are profiled as their
    JSON text (a category or text column)."""
    df = _profileable(df)
    all_kpis = default_kpis(df)
    all_kpis.update({k: _num(v) for k, v in (kpis or {}).items()})
    return {
        "dataset": {"name": name, "n_rows": int(len(df)), "n_cols": int(df.shape[1])},
        "columns": {str(col): _column(df[col]) for col in df.columns},
        "correlations": _correlations(df),
        "kpis": all_kpis,
        "sample_rows": _sample_rows(df),
    }
