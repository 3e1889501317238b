"""Welch's two-sample t-test on per-job values, vectorized over leading axes (the simulations run thousands
of experiments at once through the same function the report uses)."""

from __future__ import annotations

import numpy as np


def _moments(x: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if mask is None:
        n = np.full(x.shape[:-1], x.shape[-1], dtype=float)
        return x.mean(axis=-1), x.var(axis=-1, ddof=1), n
    n = mask.sum(axis=-1).astype(float)
    mean = np.where(mask, x, 0.0).sum(axis=-1) / n
    var = np.where(mask, (x - mean[..., None]) ** 2, 0.0).sum(axis=-1) / (n - 1)
    return mean, var, n


def welch(treatment: np.ndarray, control: np.ndarray, alpha: float = 0.05,
          mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Difference of means (treatment - control), its (1 - alpha) CI, t and the two-sided p-value along the last
    axis; `mask` (same shape) keeps only the first values of each row in both arms. Needs at least 2 values per
    arm; when both arms have zero variance p is 1 (no evidence)."""
    x, y = np.asarray(treatment, dtype=float), np.asarray(control, dtype=float)
    return welch_from_moments(*_moments(x, mask), *_moments(y, mask), alpha=alpha)


def welch_from_moments(mx, varx, nx, my, vary, ny, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """The same test from each arm's mean, sample variance (ddof 1) and count (arrays broadcast)."""
    from scipy.stats import t as student

    mx, varx, nx, my, vary, ny = (np.asarray(v, dtype=float) for v in (mx, varx, nx, my, vary, ny))
    if np.any(nx < 2) or np.any(ny < 2):
        raise ValueError("Welch's t needs at least two jobs per variant")
    vx, vy = varx / nx, vary / ny
    diff = mx - my
    se = np.sqrt(vx + vy)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vx + vy) ** 2 / (vx ** 2 / (nx - 1) + vy ** 2 / (ny - 1))
        tstat = np.where(se > 0, diff / se, 0.0)
    df = np.where(np.isfinite(df), df, nx + ny - 2)
    p = 2 * student.sf(np.abs(tstat), df)
    half = student.ppf(1 - alpha / 2, df) * se
    return {"difference": diff, "ci_low": diff - half, "ci_high": diff + half, "t": tstat, "p_value": p}
