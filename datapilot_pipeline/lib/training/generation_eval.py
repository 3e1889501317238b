"""Generation metrics at every evaluation: a few validation prompts are answered (schema-constrained, greedy) and
scored like the holdout (schema pass, evidence accuracy, text grounding), beside eval loss. They go to the
metrics sink (MLflow) as `eval_schema_pass_rate`, `eval_evidence_accuracy`, `eval_text_grounding`, and into the
evaluation's metrics, so early stopping and the best checkpoint may use them (`early_stopping_metric`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

GENERATION_METRICS = ("eval_schema_pass_rate", "eval_evidence_accuracy", "eval_text_grounding")


def score_generations(replies: list[str], edas: list[dict]) -> dict[str, float]:
    """The three rates over a sample; a rate with nothing to count is left out rather than reported as 0."""
    from datapilot_pipeline.lib.evidence import check_output
    from datapilot_pipeline.lib.grounding import ground_texts

    passed = insights = valid = numbers = grounded = 0
    for reply, eda in zip(replies, edas):
        check = check_output(reply, eda)
        if not check.schema_pass or check.output is None:
            continue
        passed += 1
        insights += check.n_insights
        valid += check.n_valid_evidence
        grounding = ground_texts([i.text for i in check.output.insights], eda)
        numbers += grounding.n_numbers
        grounded += grounding.n_grounded
    out = {"eval_schema_pass_rate": passed / len(replies)} if replies else {}
    if insights:
        out["eval_evidence_accuracy"] = valid / insights
    if numbers:
        out["eval_text_grounding"] = grounded / numbers
    return out


def generation_callback(rows: list[dict[str, str]], tokenizer: Any, max_new_tokens: int,
                        sink: Callable[[int, dict[str, float]], None] | None, history: list[dict[str, float]]):
    """A TrainerCallback that answers `rows` (validation prompt/completion rows whose prompts carry the task's
    compact EDA) at each evaluation; must come before EarlyStoppingCallback in the callback list."""
    from transformers import TrainerCallback

    from datapilot_pipeline.lib.chat_format import render_prompts
    from datapilot_pipeline.lib.generation.decoding import fit_bounds, output_schema
    from datapilot_pipeline.lib.prompts import extract_task_eda

    sample = [(r["prompt"], extract_task_eda(r["prompt"])) for r in rows]
    sample = [(p, eda) for p, eda in sample if eda is not None]
    schema = output_schema(fit_bounds(max_new_tokens))

    class GenerationMetricsCallback(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
            # every data-parallel process generates the same greedy answers, so early stopping agrees across them
            if not sample or model is None:
                return
            from datapilot_pipeline.lib.generation.modeling import generate

            was_training = model.training
            model.eval()
            side = tokenizer.padding_side
            try:
                prompts = render_prompts(tokenizer, [p for p, _ in sample])
                replies = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                                   batch_size=len(prompts), schemas=schema)
            finally:
                tokenizer.padding_side = side
                model.train(was_training)
            scores = score_generations(replies, [eda for _, eda in sample])
            if metrics is not None:
                metrics.update(scores)
            history.append({"step": float(state.global_step), **scores})
            if sink is not None and scores:
                sink(state.global_step, scores)

    return GenerationMetricsCallback()
