"""Percentages and multiples are grounded against every ratio of two EDA values in numpy; the answer is the one the
plain Python loop over every pair gives, NaN, infinities, zeros and huge values included."""

from __future__ import annotations

import math
import random

from datapilot_pipeline.lib import grounding as g


def _reference(number: g.StatedNumber, values: list[float]) -> bool:
    """`is_grounded` for % and x as it was: a Python loop over every pair of magnitudes."""
    magnitudes = [abs(v) for v in values]
    if number.unit == "%":
        shares = [100 * a / b for a in magnitudes for b in magnitudes if b]
        return any(g._close(abs(number.value), number.decimals, v)
                   for v in (*magnitudes, *(100 * m for m in magnitudes), *shares, *(abs(s - 100) for s in shares)))
    return any(g._close(number.value, number.decimals, a / b) for a in magnitudes for b in magnitudes if b)


POOL = [0.0, -0.0, 1.0, 100.0, 3.0, 7.0, 0.5, 1e-10, 12.5, 250.0, 1e15, float("nan"), float("inf"), -2.0]


def test_ratio_grounding_matches_the_pairwise_loop() -> None:
    rng = random.Random(7)
    grounded = 0
    for _ in range(600):
        values = [rng.choice([rng.choice(POOL), round(rng.uniform(-1000, 1000), rng.randrange(4)),
                              float(rng.randrange(50))]) for _ in range(rng.randrange(30))]
        for unit in ("%", "x"):
            decimals = rng.randrange(4)
            target = 5.0
            if values and rng.random() < 0.6:  # a ratio (or change) the EDA does hold, sometimes off by a little
                a, b = abs(rng.choice(values)), abs(rng.choice(values))
                if b and math.isfinite(a) and math.isfinite(b) and a / b < 1e12:
                    target = 100 * a / b - (100 if rng.random() < 0.3 else 0) if unit == "%" else a / b
                target *= rng.choice([1, 1.004, 0.996, 1.02])
            else:
                target = rng.uniform(-500, 500)
            value = round(target, decimals)
            number = g.StatedNumber(str(value), value, decimals, unit)
            expected = _reference(number, values)
            assert g.is_grounded(number, values, None) == expected, (number, values)
            grounded += expected
    assert 200 < grounded < 1000  # both answers were exercised


def test_large_edas_are_compared_in_blocks(monkeypatch) -> None:
    monkeypatch.setattr(g, "_PAIRS_PER_BLOCK", 7)
    values = [float(v) for v in range(1, 60)]
    for text, unit, decimals in (("3.5x", "x", 1), ("250%", "%", 0), ("0.7%", "%", 1), ("61.3x", "x", 1)):
        value = float(text.rstrip("x%"))
        number = g.StatedNumber(text, value, decimals, unit)
        assert g.is_grounded(number, values, None) == _reference(number, values)
