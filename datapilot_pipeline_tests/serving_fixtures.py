"""A tiny causal LM for serving tests: a tokenizer trained on a few contract texts and an untrained Llama-style model
built from config (no pretraining: what it says is not under test, how the server decodes it is)."""

from __future__ import annotations

import json
from pathlib import Path

from datapilot_pipeline_tests.eval_fixtures import holdout


def contract_texts() -> list[str]:
    return [json.dumps(e["output"]) for e in holdout(3)] + [json.dumps(e["compact_eda"]) for e in holdout(3)]


def build_untrained_model(root: Path) -> Path:
    from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model

    return build_tiny_base_model(root, contract_texts(), seed=0, vocab_size=512, pretrain_steps=0)


def prompts(n: int) -> list[str]:
    """Prompts of different lengths (left padding and cache merging are exercised)."""
    return [json.dumps(e["compact_eda"])[: 60 + 70 * i] for i, e in enumerate(holdout(n))]


def build_untrained_with_adapter(root: Path) -> tuple[Path, Path]:
    """The untrained base and a LoRA adapter on it, as training registers them."""
    from peft import LoraConfig, get_peft_model

    from datapilot_pipeline.lib.generation.modeling import load_causal_lm

    base = build_untrained_model(root / "base")
    model, _ = load_causal_lm(base)
    get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"])).save_pretrained(
        root / "adapter", safe_serialization=True)
    return base, root / "adapter"
