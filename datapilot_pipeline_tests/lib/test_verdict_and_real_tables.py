"""The evaluation's one-sentence verdict, and the holdout of real tables bundled with statsmodels / scikit-learn."""

from __future__ import annotations

from datapilot_pipeline.lib.evaluation.verdict import verdict_sentence
from datapilot_pipeline.lib.evidence import check_output


def _report(tuned: float, few: float, ci: list[float] | None, promote: bool, rules: list[dict] | None = None) -> dict:
    return {"fine_tuned": {"n": 40, "evidence_accuracy": tuned}, "few_shot": {"n": 40, "evidence_accuracy": few},
            "comparisons": {"few_shot": {"evidence_accuracy": {"value": tuned - few, "ci": ci}}},
            "promotion": {"promote": promote, "rules": rules or []}}


def test_a_promoted_better_model_reads_as_better_and_promoted():
    sentence = verdict_sentence(_report(0.9, 0.6, [0.2, 0.4], True, [{"name": "size", "observed": "40",
                                                                        "needs": ">= 30", "passed": True}]))
    assert "is better than few-shot" in sentence and "(90.0% vs 60.0%, +30.0 points, 95% CI [+20.0, +40.0]" in sentence
    assert sentence.endswith("it was promoted to champion.") and "40 held-out examples" in sentence


def test_a_refusal_names_each_failed_rule_with_its_numbers():
    rules = [{"name": "holdout size", "observed": "8 examples", "needs": ">= 30", "passed": False},
             {"name": "schema pass rate", "observed": "100.0%", "needs": ">= 95.0%", "passed": True},
             {"name": "better than few-shot", "observed": "+0.0", "needs": "> +1.0", "passed": False}]
    sentence = verdict_sentence(_report(0.25, 0.25, [0.0, 0.0], False, rules))
    assert "is not distinguishable from few-shot" in sentence
    assert "not promoted because holdout size: 8 examples (needs >= 30); better than few-shot: +0.0 (needs > +1.0)." \
        in sentence and "schema pass rate" not in sentence


def test_a_worse_model_and_an_undefined_comparison_say_so():
    assert "is worse than few-shot" in verdict_sentence(_report(0.2, 0.6, [-0.5, -0.3], False))
    undefined = _report(0.2, 0.6, None, False)
    undefined["comparisons"]["few_shot"]["evidence_accuracy"]["value"] = None
    assert "cannot be compared with few-shot" in verdict_sentence(undefined)


def test_real_tables_holdout_is_real_and_its_references_are_grounded():
    from datapilot_pipeline.lib.evaluation.real_tables import holdout_examples

    examples = holdout_examples()
    names = {e["compact_eda"]["dataset"]["name"] for e in examples}
    assert len(examples) >= 20 and {"iris.csv", "longley.csv", "statecrime.csv"} <= names
    for example in examples:
        check = check_output(example["output"], example["compact_eda"])
        assert check.schema_pass and check.n_valid_evidence == check.n_insights == 1, example["example_id"]
