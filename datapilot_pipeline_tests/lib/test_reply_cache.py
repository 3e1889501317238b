"""The reply cache of local generation: a model's reply to a prompt is read back, never mixed up with another
model's, another adapter's, another length's or another schema's."""

from __future__ import annotations

from pathlib import Path

import pytest

from datapilot_pipeline.lib.evaluation.local import LocalGenerator
from datapilot_pipeline.lib.modeling import DEMO_BASE_DIR
from datapilot_pipeline.lib.prompts import build_messages, build_prompt
from datapilot_pipeline_tests.eval_fixtures import holdout


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """An untrained LoRA adapter on the demo base model (real safetensors; its B matrices are zero)."""
    from peft import LoraConfig, get_peft_model

    from datapilot_pipeline.lib.modeling import load_causal_lm

    model, _ = load_causal_lm(DEMO_BASE_DIR)
    out = tmp_path_factory.mktemp("adapter")
    get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"])).save_pretrained(out)
    return out


def _ask(generator: LocalGenerator, n: int = 3):
    examples = holdout(n)
    return generator.generate_all([build_prompt(e["compact_eda"], []) for e in examples],
                                  [build_messages(e["compact_eda"], []) for e in examples])


def test_a_second_evaluation_reads_the_replies_back(tmp_path: Path):
    cache = tmp_path / "replies.sqlite"
    first = _ask(LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=300, reply_cache=cache))
    again = LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=300, reply_cache=cache)
    second = _ask(again)
    assert [g.text for g in second] == [g.text for g in first]
    assert not any(g.cached for g in first) and all(g.cached for g in second)
    assert again.decoding["reply_cache"] == {"hits": 3, "misses": 0}
    uncached = _ask(LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=300))  # the cache changed nothing
    assert [g.text for g in uncached] == [g.text for g in first]


def test_another_adapter_length_or_schema_generates_again(adapter: Path, tmp_path: Path):
    cache = tmp_path / "replies.sqlite"
    _ask(LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=300, reply_cache=cache))
    for other in (LocalGenerator(base_model=DEMO_BASE_DIR, adapter_dir=adapter, max_new_tokens=300, reply_cache=cache),
                  LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=320, reply_cache=cache),
                  LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=300, grounded=True, reply_cache=cache),
                  LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=300, constrained=False,
                                 reply_cache=cache)):
        replies = _ask(other, 2)
        assert not any(g.cached for g in replies), other.label
        assert other.decoding["reply_cache"] == {"hits": 0, "misses": 2}
