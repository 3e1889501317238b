from __future__ import annotations

import json

import numpy as np
import pytest

from datapilot_pipeline.lib.evaluation.metrics import (bootstrap_indices, comparable_text, paired_difference,
                                                       score_example, summarize)
from datapilot_pipeline_tests.eval_fixtures import compact_eda, reply, valid_output

EDA = compact_eda("t.csv")


@pytest.mark.parametrize("kind, schema_pass, n_insights, n_valid", [
    ("valid", True, 2, 2), ("fenced", True, 2, 2), ("truncated", False, 0, 0), ("wrong_enum", False, 0, 0),
    ("missing_field", False, 0, 0), ("prose", False, 0, 0), ("wrong_row", True, 2, 1), ("hallucinated", True, 2, 1),
])
def test_score_example_applies_the_schema_and_evidence_rules(kind, schema_pass, n_insights, n_valid):
    score = score_example("x", reply(kind), EDA, valid_output())
    assert (score.schema_pass, score.n_insights, score.n_valid_evidence) == (schema_pass, n_insights, n_valid)
    assert (score.error is None) == schema_pass
    assert 0.0 <= score.bleu <= 1.0 and 0.0 <= score.rouge_l <= 1.0


def test_identical_output_scores_one_and_formatting_does_not_count():
    spaced = json.dumps(valid_output(), indent=4)  # same content, other whitespace
    for raw in (reply("valid"), reply("fenced"), spaced):
        score = score_example("x", raw, EDA, valid_output())
        assert score.bleu == pytest.approx(1.0) and score.rouge_l == pytest.approx(1.0)
    prose = score_example("x", reply("prose"), EDA, valid_output())
    assert prose.bleu == 0.0 and prose.rouge_l == 0.0  # no answer, no content


def test_comparable_text_is_the_content_without_json_syntax():
    out = {"insights": [{"id": "i1", "text": "Revenue fell 4%.", "recommendation": {"action": "Check it."}},
                        {"id": "i2", "text": " Two rows lack a price. ", "recommendation": {"priority": "low"}}]}
    assert comparable_text(json.dumps(out, indent=2)) == "Revenue fell 4%.\nCheck it.\nTwo rows lack a price."
    assert comparable_text('{ "b": 1, "a": 2 }') == ""
    assert comparable_text("  not json ") == ""


def test_summary_rates_are_the_design_definitions():
    kinds = ["valid", "truncated", "wrong_row", "hallucinated", "prose"]
    scores = [score_example(f"e{n}", reply(k), EDA, valid_output()) for n, k in enumerate(kinds)]
    m = summarize(scores, n_resamples=200, seed=1)
    assert m["n"] == 5
    assert m["schema_pass_rate"] == pytest.approx(3 / 5)
    # valid-evidence insights / insights of schema-passing outputs: (2 + 1 + 1) / (2 + 2 + 2)
    assert m["evidence_accuracy"] == pytest.approx(4 / 6)
    assert m["bleu"] == pytest.approx(np.mean([s.bleu for s in scores]))
    assert set(m["schema_errors"]) == {"e1", "e4"}
    for key in ("schema_pass_rate", "evidence_accuracy", "bleu", "rouge_l"):
        lo, hi = m["ci"][key]
        assert 0.0 <= lo <= m[key] <= hi <= 1.0
    # wrong_row breaks an outlier insight, hallucinated a quality insight
    assert m["per_category"]["outlier"] == {"n_insights": 3, "n_valid_evidence": 2, "evidence_accuracy": 2 / 3}
    assert m["per_category"]["quality"] == {"n_insights": 3, "n_valid_evidence": 2, "evidence_accuracy": 2 / 3}


def test_evidence_accuracy_is_undefined_without_a_schema_pass():
    scores = [score_example("a", reply("prose"), EDA, valid_output())]
    m = summarize(scores, n_resamples=50)
    assert m["schema_pass_rate"] == 0.0 and m["evidence_accuracy"] is None and m["ci"]["evidence_accuracy"] is None


def test_bootstrap_is_seeded_and_collapses_for_constant_scores():
    scores = [score_example(f"e{n}", reply(k), EDA, valid_output()) for n, k in
              enumerate(["valid", "prose", "wrong_row", "valid", "truncated", "valid"])]
    assert summarize(scores, seed=7)["ci"] == summarize(scores, seed=7)["ci"]
    # content BLEU is 0 or 1 here (same text or none), so 95% intervals of 6 binary scores saturate for any seed
    assert not np.array_equal(bootstrap_indices(6, 1000, 7), bootstrap_indices(6, 1000, 8))
    same = [score_example(f"e{n}", reply("valid"), EDA, valid_output()) for n in range(4)]
    assert summarize(same, n_resamples=100)["ci"]["schema_pass_rate"] == [1.0, 1.0]


def test_paired_difference_of_an_arm_with_itself_is_zero_and_sign_follows_treatment():
    good = [score_example(f"e{n}", reply("valid"), EDA, valid_output()) for n in range(6)]
    bad = [score_example(f"e{n}", reply("hallucinated" if n % 2 else "valid"), EDA, valid_output()) for n in range(6)]
    idx = bootstrap_indices(6, 300, 0)
    assert paired_difference(good, good, "evidence_accuracy", idx) == {"value": 0.0, "ci": [0.0, 0.0], "confidence": 0.95}
    diff = paired_difference(bad, good, "evidence_accuracy", idx)
    assert diff["value"] == pytest.approx(9 / 12 - 1.0)
    assert diff["ci"][0] <= diff["value"] <= diff["ci"][1] < 0
    with pytest.raises(ValueError):
        paired_difference(good, good[::-1], "bleu", idx)
