"""The A/B procedure calibrated by simulation (vectorized; `lib/ab/simulation.py` states the generative model):
jobs of 3 to 7 insights with intra-job correlation 0.3, 1 to 3 reviewers per job, read every day with the
design re-estimated from the pooled data, decided once at the fixed horizon."""

from __future__ import annotations

import numpy as np
import pytest

from datapilot_pipeline.lib.ab.simulation import daily_reads, fixed_n, insight_shares

BASELINE = 0.6
N_EXPERIMENTS = 2000


def test_a_a_read_daily_keeps_the_false_positive_rate_near_alpha():
    aa = daily_reads(np.random.default_rng(1), N_EXPERIMENTS, BASELINE, BASELINE)
    assert aa["decided"] == 1.0  # every experiment reached its horizon within the simulated days
    assert 0.02 <= aa["significant"] <= 0.08, aa  # measured 0.0505 (README: Calibration)
    assert aa["promote"] <= 0.05, aa  # one-sided: about alpha / 2


def test_power_at_the_planned_sample_size():
    rng = np.random.default_rng(2)
    at_mde = daily_reads(rng, 1000, BASELINE, BASELINE + 0.05, mde=0.05)
    assert 0.75 <= at_mde["promote"] <= 0.9, at_mde  # planned for 80% power at a 5-point lift
    lift = daily_reads(rng, 1000, BASELINE, BASELINE + 0.08, mde=0.08, max_jobs=320)
    assert lift["promote"] >= 0.75, lift  # an 8-point lift at the horizon planned for it
    assert lift["median_jobs_per_variant"] < at_mde["median_jobs_per_variant"] / 2


def test_the_insight_level_z_test_it_replaces_is_not_calibrated():
    """Same data, 200 jobs per variant: insights as independent trials reject a true null far too often, the
    per-job Welch test does not."""
    rng = np.random.default_rng(3)
    shape = (N_EXPERIMENTS, 200)
    (xs, _), (ys, _) = insight_shares(rng, shape, BASELINE), insight_shares(rng, shape, BASELINE)
    nx, ny = (~np.isnan(xs)).sum(axis=(1, 2)), (~np.isnan(ys)).sum(axis=(1, 2))
    px, py = np.nansum(xs, axis=(1, 2)) / nx, np.nansum(ys, axis=(1, 2)) / ny
    pooled = (px * nx + py * ny) / (nx + ny)
    z = (px - py) / np.sqrt(pooled * (1 - pooled) * (1 / nx + 1 / ny))
    naive = float((np.abs(z) > 1.959964).mean())  # measured 0.128; per-job Welch 0.0535
    per_job = fixed_n(np.random.default_rng(3), N_EXPERIMENTS, 200, BASELINE, BASELINE)
    assert naive > 0.10 and 0.02 <= per_job["significant"] <= 0.08, (naive, per_job)


def test_simulated_approval_rate_is_the_one_asked_for():
    shares, m = insight_shares(np.random.default_rng(4), (20_000,), 0.7)
    assert float(np.nanmean(shares)) == pytest.approx(0.7, abs=0.01) and set(np.unique(m)) == {3, 4, 5, 6, 7}
