"""What the demo says after its run, in words: the verdict, why fewer examples were evaluated than held out, and what
to do next when nothing was promoted; the UI's word joiners never reach the terminal."""

from __future__ import annotations

from types import SimpleNamespace

import dagster as dg
from rich.console import Console

from datapilot_pipeline.defs.evaluation import comparison_markdown
from datapilot_pipeline.demo import _print_outcome
from datapilot_pipeline.lib.evaluation.metrics import RATE_METRICS


def _event(asset: str, metadata: dict) -> SimpleNamespace:
    mat = SimpleNamespace(asset_key=dg.AssetKey(asset), metadata=metadata)
    return SimpleNamespace(step_materialization_data=SimpleNamespace(materialization=mat))


def _result(promote: bool) -> SimpleNamespace:
    arm = {**{key: 0.25 for key in RATE_METRICS}, "n": 8, "model": "models/base",
           "ci": {key: [0.1, 0.4] for key in RATE_METRICS}}
    report = {"few_shot": arm, "fine_tuned": {**arm, "model": "models:/datapilot-insights/1"},
              "comparison": {"evidence_accuracy": {"value": 0.0, "ci": [-0.1, 0.1]}},
              "promotion": {"promote": promote, "rules": [
                  {"name": "min_examples", "observed": 8, "needs": ">= 30", "passed": promote}]}}
    events = [_event("finetune_dataset", {"n_holdout": dg.MetadataValue.int(11)}),
              _event("evaluation_scores", {"comparison": dg.MetadataValue.md(comparison_markdown(report))})]
    return SimpleNamespace(get_asset_materialization_events=lambda: events,
                           output_for_node=lambda name: {"report": report})


def _said(result) -> str:
    console = Console(width=200, record=True, force_terminal=False)
    _print_outcome(console, result)
    return " ".join(console.export_text().split())  # lines as one, whatever the console's wrap


def test_the_demo_says_what_happened_and_what_to_do_next() -> None:
    text = _said(_result(promote=False))
    assert "is not distinguishable from few-shot on evidence accuracy (25.0% vs 25.0%" in text
    assert "it was not promoted because min_examples: 8 (needs >= 30)" in text
    assert "the export held out 11 examples; the demo evaluates the first 8" in text
    assert "promotion needs 30 examples" in text and "datapilot demo --jobs N" in text
    assert "fine-tuned" in text and "\u2060" not in text  # the UI table's word joiners stay in the UI


def test_no_next_steps_after_a_promotion() -> None:
    text = _said(_result(promote=True))
    assert "it was promoted to champion" in text and "next" not in text.split("verdict", 1)[1]
