"""Constrained decoding: the schema admits every reviewed answer, its length bound holds, and generation under it
always parses and validates against the contract, for random and trained tiny models and chat-template models."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from datapilot_pipeline.lib.generation.decoding import (OutputBounds, fit_bounds, max_output_bytes, output_schema,
                                             response_format)
from datapilot_pipeline.lib.evaluation.local import LocalGenerator
from datapilot_pipeline.lib.evidence import check_output
from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model, generate, load_causal_lm
from datapilot_pipeline.lib.paths import packaged_data
from datapilot_pipeline.lib.prompts import build_messages, build_prompt
from datapilot_pipeline_tests.chat_models import build_chat_model

HOLDOUT = [json.loads(line) for line in packaged_data("holdout_test.jsonl").read_text().splitlines() if line.strip()]
SMALL = OutputBounds(max_insights=1, text_chars=40, action_chars=30, summary_chars=20, column_chars=12,
                     aggregate_key_chars=16, max_row_indices=2)


def _texts() -> list[str]:
    return [build_prompt(r["compact_eda"], []) + json.dumps(r["output"], sort_keys=True, separators=(",", ":"))
            for r in HOLDOUT[:12]]


@pytest.fixture(scope="module")
def random_base(tmp_path_factory) -> Path:
    return build_tiny_base_model(tmp_path_factory.mktemp("rand") / "base", _texts(), pretrain_steps=0)


@pytest.fixture(scope="module")
def trained_base(tmp_path_factory) -> Path:
    return build_tiny_base_model(tmp_path_factory.mktemp("trained") / "base", _texts()[:6], pretrain_steps=20)


def _validator(schema: dict):
    """Draft 2020-12 with an exact multipleOf (jsonschema divides floats: 96.58 / 0.0001 is not an integer)."""
    from decimal import Decimal

    from jsonschema import ValidationError, validators

    def multiple_of(validator, step, instance, schema):
        if isinstance(instance, (int, float)) and Decimal(str(instance)) % Decimal(str(step)) != 0:
            yield ValidationError(f"{instance} is not a multiple of {step}")

    cls = validators.extend(validators.Draft202012Validator, {"multipleOf": multiple_of})
    return cls(schema)


def test_schema_admits_every_reviewed_answer_and_is_sorted():
    pytest.importorskip("jsonschema")
    schema = output_schema()
    for row in HOLDOUT:
        _validator(schema).validate(row["output"])
        _validator(output_schema(OutputBounds(), row["compact_eda"])).validate(row["output"])
    with pytest.raises(Exception, match="too long|Additional|not valid"):
        _validator(schema).validate({"insights": [{**HOLDOUT[0]["output"]["insights"][0], "text": "x" * 400}]})
    insight = schema["properties"]["insights"]["prefixItems"][0]["properties"]
    assert list(insight) == sorted(insight)  # engines emit schema order; training completions are key-sorted
    assert response_format(schema)["json_schema"]["schema"] is schema


def test_fit_bounds_fits_the_budget_and_keeps_defaults_when_room():
    assert fit_bounds(10_000) == OutputBounds()
    for budget in (300, 384, 1024, 2000):
        bounds = fit_bounds(budget)
        assert max_output_bytes(output_schema(bounds)) < budget
    assert fit_bounds(1024).max_insights >= 1 and fit_bounds(2000).max_insights >= 2


def test_the_default_reply_length_holds_several_insights():
    from datapilot_pipeline.lib.evaluation.local import DEFAULT_MAX_NEW_TOKENS

    bounds = fit_bounds(DEFAULT_MAX_NEW_TOKENS)
    assert bounds.max_insights >= 3  # reviewed answers carry 2-4; 1024 tokens held one
    assert bounds.text_chars >= 100 and bounds.max_aggregates >= 2
    assert max_output_bytes(output_schema(bounds)) < DEFAULT_MAX_NEW_TOKENS
    with pytest.raises(ValueError, match="raise it to at least"):
        fit_bounds(20)


def test_random_model_output_always_validates_and_respects_the_bound(random_base: Path):
    model, tokenizer = load_causal_lm(random_base)
    schema = output_schema(SMALL)
    bound = max_output_bytes(schema)
    prompts = [build_prompt(r["compact_eda"], [])[-300:] for r in HOLDOUT[:2]] + ["x", "{"]
    stats: dict[str, float] = {}
    replies = generate(model, tokenizer, prompts, max_new_tokens=bound + 1, batch_size=4, schemas=schema, stats=stats)
    for reply, row in zip(replies, HOLDOUT * 2):
        check = check_output(reply, row["compact_eda"])
        assert check.schema_pass, (check.error, reply)
        assert len(reply) <= bound
    assert stats["mask_seconds"] > 0 and stats["steps"] > 0
    free = generate(model, tokenizer, prompts[:2], max_new_tokens=40, batch_size=2)
    assert not any(check_output(r, HOLDOUT[0]["compact_eda"]).schema_pass for r in free)  # the constraint did it


def test_trained_model_through_local_generator_and_grounded_schema(trained_base: Path):
    rows = HOLDOUT[12:14]
    gen = LocalGenerator(base_model=trained_base, max_new_tokens=320, batch_size=2, grounded=True)
    replies = gen.generate_all([build_prompt(r["compact_eda"], []) for r in rows],
                               [build_messages(r["compact_eda"], []) for r in rows])
    for reply, row in zip(replies, rows):
        check = check_output(reply.text, row["compact_eda"])
        assert check.schema_pass, check.error
        problems = [p for ps in check.insight_problems.values() for p in ps]
        # grounded: no invented column, no row outside the table, no aggregate key that does not resolve
        assert not [p for p in problems if "not in the compact EDA" in p or "outside" in p or "resolve" in p]
    assert gen.decoding["constrained"] and gen.decoding["grounded"]
    assert LocalGenerator(base_model=trained_base, constrained=False).decoding == {"constrained": False}


@pytest.mark.parametrize("style", ["llama3", "qwen2"])
def test_chat_template_models_without_pad_token_generate_valid_answers(style: str, tmp_path: Path):
    base = build_chat_model(tmp_path / style, style, _texts())
    model, tokenizer = load_causal_lm(base)
    assert tokenizer.pad_token is not None  # set on load
    rows = HOLDOUT[:2]
    gen = LocalGenerator(base_model=base, max_new_tokens=max_output_bytes(output_schema(SMALL)) + 1)
    gen.constrained = True
    gen_bounds = SMALL
    # the generator fits its own bounds to the budget; the answer must end with the chat's end-of-turn token
    replies = gen.generate_all([build_prompt(r["compact_eda"], []) for r in rows],
                               [build_messages(r["compact_eda"], []) for r in rows])
    for reply, row in zip(replies, rows):
        assert check_output(reply.text, row["compact_eda"]).schema_pass, reply.text
    assert replace(gen_bounds) == SMALL


def test_training_logs_generation_metrics_and_can_stop_on_them(trained_base: Path, tmp_path: Path):
    from datapilot_pipeline.lib.training import TrainingConfig
    from datapilot_pipeline.lib.training.data import PreparedData
    from datapilot_pipeline.lib.training.trainer import train_lora
    from datapilot_pipeline_tests.training_data import example

    rows = [{"prompt": e["prompt"], "completion": e["completion"]} for e in map(example, range(10))]
    data = PreparedData(train=rows[:8], validation=rows[8:])
    logged: list[dict] = []
    config = TrainingConfig(max_steps=2, batch_size=4, gradient_accumulation_steps=1, evals_per_epoch=1,
                            max_seq_length=1024, logging_steps=1,
                            generation_eval_examples=2, generation_eval_max_new_tokens=320,
                            early_stopping_metric="eval_schema_pass_rate")
    train_lora(config, data, trained_base, tmp_path / "run", sink=lambda step, m: logged.append(m))
    rates = [m["eval_schema_pass_rate"] for m in logged if "eval_schema_pass_rate" in m]
    assert rates and all(r == 1.0 for r in rates)  # constrained answers always pass the schema
    with pytest.raises(ValueError, match="generation_eval_examples"):
        train_lora(TrainingConfig(generation_eval_examples=0, early_stopping_metric="eval_text_grounding"), data,
                   trained_base, tmp_path / "bad")


def test_a_local_few_shot_arm_keeps_the_worked_examples_that_leave_room_for_the_reply(random_base: Path) -> None:
    """Three worked examples plus max_new_tokens can exceed the model's context (retrain_job on its defaults
    failed that way): the local arm keeps the longest prefix that fits, per example, never more."""
    from datapilot_pipeline.lib.generation.modeling import load_causal_lm

    model, tokenizer = load_causal_lm(random_base)
    context = model.config.max_position_embeddings
    eda, shots = HOLDOUT[0]["compact_eda"], HOLDOUT[1:4]
    tokens = [len(tokenizer(build_prompt(eda, shots[:k]), add_special_tokens=False)["input_ids"]) for k in range(4)]
    assert tokens[3] < context  # all three fit beside a short reply
    assert LocalGenerator(base_model=random_base, max_new_tokens=context - tokens[3]).fit_shots(eda, shots) == shots
    one = LocalGenerator(base_model=random_base, max_new_tokens=context - tokens[1])
    assert one.fit_shots(eda, shots) == shots[:1]
    assert LocalGenerator(base_model=random_base, max_new_tokens=context - tokens[0] + 1).fit_shots(eda, shots) == []
