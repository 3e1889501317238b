"""The deployed promotion rule, calibrated by simulation (`lib/evaluation/calibration.py`; the README has the full
table at 4,000 runs a cell): few-shot and the champion in every run, outcomes correlated across the three arms.
Seeded, 2,000 runs a cell: about 10 s."""

from __future__ import annotations

import pytest

from datapilot_pipeline.lib.evaluation import calibration
from datapilot_pipeline.lib.evaluation.calibration import IDENTICAL, SIZES, promotion_rate, scenarios
from datapilot_pipeline.lib.evaluation.promotion import DEFAULT_MIN_EXAMPLES, judge

RUNS = 2000


@pytest.fixture(scope="module")
def by_label() -> dict:
    return {s.label: s for s in scenarios()}


def test_the_issue_figures_hold_for_the_deployed_rule(by_label, monkeypatch):
    calls = []
    monkeypatch.setattr(calibration, "judge", lambda *a, **k: calls.append(1) or judge(*a, **k))
    equal, identical = by_label["equal to the champion"], by_label["identical replies to the champion's"]
    between = by_label["+5 over few-shot, -5 under the champion"]
    assert identical.candidate == IDENTICAL and equal.champion is not None and between.champion is not None
    for k, n in enumerate(SIZES):
        assert promotion_rate(equal, n, runs=RUNS, seed=10 + k) <= 0.05, n
        assert promotion_rate(identical, n, runs=RUNS, seed=20 + k) == 0.0, n
        assert promotion_rate(between, n, runs=RUNS, seed=30 + k) <= 0.05, n
    assert promotion_rate(by_label["+10 over the champion"], 200, runs=RUNS, seed=40) >= 0.80
    assert promotion_rate(by_label["no champion, +10 over few-shot"], 200, runs=RUNS, seed=41) >= 0.80
    assert promotion_rate(by_label["+10 over the champion, text grounding -20"], 200, runs=RUNS, seed=42) <= 0.05
    assert promotion_rate(equal, DEFAULT_MIN_EXAMPLES - 1, runs=100, seed=43) == 0.0  # below the minimum n
    assert len(calls) == 3 * len(SIZES) + 4  # the rule the asset and the CLI run, not a copy of it


def test_the_scenarios_differ_by_what_their_labels_say(by_label):
    assert by_label["equal to the champion"].true_difference() == pytest.approx(0.0, abs=1e-9)
    assert by_label["+10 over the champion"].true_difference() == pytest.approx(0.10, abs=1e-4)
    assert by_label["+5 over few-shot, -5 under the champion"].true_difference() == pytest.approx(-0.05, abs=1e-4)
    few_shot = by_label["equal to the champion"].few_shot
    champion = by_label["equal to the champion"].champion
    assert calibration.expected_score(champion) - calibration.expected_score(few_shot) == pytest.approx(0.10, abs=1e-4)
