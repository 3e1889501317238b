"""Calibration of the deployed promotion rule by simulation: how often is a candidate promoted, by scenario and
holdout size?

    python -m datapilot_pipeline.lib.evaluation.calibration   # prints the table the README quotes

Each simulated run evaluates three arms on the same n holdout examples, as `evaluation_scores` does: few-shot, the
champion (absent in the "no champion" scenarios) and the candidate. Examples differ in difficulty and the arms
share it, as real models do: each example draws a per-insight validity probability from a Beta (mean
`BASE_ACCURACY`, concentration `CONCENTRATION`), a text-grounding and an evidence-coverage probability, and each
arm adds its own shift and per-example noise (normal, sd `ARM_NOISE`), clipped to [0, 1]. Each reply holds
1 + Poisson(2) insights and fails the schema with the arm's probability (then it counts nothing, and scores 0);
valid-evidence insights are Binomial(insights, p), stated numbers Poisson(insights) of which Binomial(numbers, g)
are grounded, insights citing a number Binomial(insights, c). The rule applied is `promotion.judge` itself
(superiority against every reference, the guardrails, the schema target, the minimum holdout size), vectorized
over the runs. Scenario differences are in the primary metric (mean per-example evidence score, schema failures
scoring 0), solved for exactly on a large sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from datapilot_pipeline.lib.evaluation.promotion import DEFAULT_MIN_EXAMPLES, PromotionRules, judge, promoted

SIZES = (DEFAULT_MIN_EXAMPLES, 50, 100, 200)
BASE_ACCURACY, CONCENTRATION, ARM_NOISE = 0.65, 6.0, 0.10
GROUNDING, COVERAGE, GUARDRAIL_CONCENTRATION, GUARDRAIL_NOISE = 0.85, 0.80, 10.0, 0.05
CHAMPION_FAIL, FEW_SHOT_FAIL = 0.02, 0.06
FEW_SHOT_BELOW_CHAMPION = 0.10  # evidence-score points


@dataclass(frozen=True)
class Arm:
    """A simulated model: shifts of its per-insight probabilities and its schema-failure rate."""

    shift: float = 0.0
    schema_fail: float = CHAMPION_FAIL
    grounding_shift: float = 0.0
    coverage_shift: float = 0.0


def _draw(rng: np.random.Generator, mean: float, concentration: float, shape) -> np.ndarray:
    return rng.beta(mean * concentration, (1 - mean) * concentration, size=shape)


@lru_cache(maxsize=1)
def _population(draws: int = 200_000) -> np.ndarray:
    """A large fixed sample of (shared difficulty + one arm's noise): the population the true scores are read on."""
    rng = np.random.default_rng(12345)
    return _draw(rng, BASE_ACCURACY, CONCENTRATION, draws) + rng.normal(0, ARM_NOISE, draws)


def expected_score(arm: Arm) -> float:
    """The arm's mean per-example evidence score (schema failures 0)."""
    return float((1 - arm.schema_fail) * np.clip(_population() + arm.shift, 0, 1).mean())


def arm_scoring(target: float, schema_fail: float = CHAMPION_FAIL, **shifts) -> Arm:
    """The arm whose expected evidence score is `target` (bisection on the shift)."""
    lo, hi = -1.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expected_score(Arm(mid, schema_fail)) < target else (lo, mid)
    return Arm((lo + hi) / 2, schema_fail, **shifts)


def simulate_arm(rng: np.random.Generator, arm: Arm, shared: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-example counts (`paired.as_arrays` layout) of one arm on the shared example difficulties."""
    shape = shared["p"].shape
    p = np.clip(shared["p"] + arm.shift + rng.normal(0, ARM_NOISE, shape), 0, 1)
    g = np.clip(shared["g"] + arm.grounding_shift + rng.normal(0, GUARDRAIL_NOISE, shape), 0, 1)
    c = np.clip(shared["c"] + arm.coverage_shift + rng.normal(0, GUARDRAIL_NOISE, shape), 0, 1)
    passed = rng.random(shape) >= arm.schema_fail
    insights = (1 + rng.poisson(2.0, shape)) * passed
    numbers = rng.poisson(insights)
    return {"schema_pass": passed.astype(float), "n_insights": insights.astype(float),
            "n_valid_evidence": rng.binomial(insights, p).astype(float), "n_numbers": numbers.astype(float),
            "n_grounded": rng.binomial(numbers, g).astype(float),
            "n_citing_number": rng.binomial(insights, c).astype(float)}


IDENTICAL = "identical to the champion"


@dataclass(frozen=True)
class Scenario:
    label: str
    candidate: Arm | str  # IDENTICAL: the champion's very replies
    champion: Arm | None
    few_shot: Arm
    versus: str = "champion"  # the reference the true difference is quoted against

    def true_difference(self) -> float:
        if self.candidate == IDENTICAL:
            return 0.0
        reference = self.champion if self.versus == "champion" else self.few_shot
        return expected_score(self.candidate) - expected_score(reference)


def promotion_rate(scenario: Scenario, n: int, runs: int = 4000, seed: int = 0,
                   rules: PromotionRules | None = None) -> float:
    """Share of `runs` simulated evaluations on `n` examples in which the deployed rule promotes the candidate."""
    rng = np.random.default_rng(seed)
    shape = (runs, n)
    shared = {"p": _draw(rng, BASE_ACCURACY, CONCENTRATION, shape),
              "g": _draw(rng, GROUNDING, GUARDRAIL_CONCENTRATION, shape),
              "c": _draw(rng, COVERAGE, GUARDRAIL_CONCENTRATION, shape)}
    references = {"few_shot": simulate_arm(rng, scenario.few_shot, shared)}
    if scenario.champion is not None:
        references["champion"] = simulate_arm(rng, scenario.champion, shared)
    candidate = (references["champion"] if scenario.candidate == IDENTICAL
                 else simulate_arm(rng, scenario.candidate, shared))
    return float(promoted(judge(candidate, references, rules or PromotionRules())).mean())


def scenarios() -> list[Scenario]:
    """The README's scenarios: the champion is 10 points above few-shot (when there is one)."""
    champion = Arm()
    ch = expected_score(champion)
    few_shot = arm_scoring(ch - FEW_SHOT_BELOW_CHAMPION, FEW_SHOT_FAIL)
    fs = expected_score(few_shot)
    return [
        Scenario("equal to the champion", champion, champion, few_shot),
        Scenario("identical replies to the champion's", IDENTICAL, champion, few_shot),
        Scenario("+5 over the champion", arm_scoring(ch + 0.05), champion, few_shot),
        Scenario("+10 over the champion", arm_scoring(ch + 0.10), champion, few_shot),
        Scenario("+5 over few-shot, -5 under the champion", arm_scoring(ch - 0.05), champion, few_shot),
        Scenario("no champion, equal to few-shot", arm_scoring(fs), None, few_shot, "few_shot"),
        Scenario("no champion, +10 over few-shot", arm_scoring(fs + 0.10), None, few_shot, "few_shot"),
        Scenario("+10 over the champion, text grounding -10", arm_scoring(ch + 0.10, grounding_shift=-0.10),
                 champion, few_shot),
        Scenario("+10 over the champion, text grounding -20", arm_scoring(ch + 0.10, grounding_shift=-0.20),
                 champion, few_shot),
    ]


def calibration_table(sizes=SIZES, runs: int = 4000) -> str:
    head = "| scenario (true difference in evidence score) | " + " | ".join(f"n={n}" for n in sizes) + " |"
    rows = [head, "| --- |" + " --- |" * len(sizes)]
    for k, scenario in enumerate(scenarios()):
        rates = [promotion_rate(scenario, n, runs=runs, seed=100 * k + j) for j, n in enumerate(sizes)]
        label = f"{scenario.label} ({scenario.true_difference():+.1%} vs {scenario.versus.replace('_', '-')})"
        rows.append(f"| {label} | " + " | ".join(f"{r:.1%}" for r in rates) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(calibration_table())
