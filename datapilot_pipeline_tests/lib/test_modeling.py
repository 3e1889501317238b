"""Offline base models: the tiny model builds, loads from safetensors, generates; missing models fail fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from datapilot_pipeline.lib.generation.modeling import (DEMO_BASE_DIR, build_tiny_base_model, generate, install_demo_base,
                                             load_causal_lm, resolve_base_model)
from datapilot_pipeline.lib.paths import Workspace
from datapilot_pipeline_tests.training_data import example

TEXTS = [example(i)["prompt"] + example(i)["completion"] for i in range(6)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_base_model(tmp_path_factory.mktemp("m") / "base", TEXTS, seed=0)


def test_tiny_model_is_safetensors_and_has_special_tokens(tiny: Path):
    assert (tiny / "model.safetensors").is_file()
    assert not list(tiny.glob("*.bin"))
    model, tokenizer = load_causal_lm(tiny)
    assert tokenizer.eos_token == "<|eos|>" and tokenizer.pad_token == "<|pad|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.config.vocab_size == len(tokenizer)
    assert 50_000 < sum(p.numel() for p in model.parameters()) < 2_000_000
    # The BPE learnt the JSON vocabulary: far fewer tokens than bytes.
    assert len(tokenizer(TEXTS[0])["input_ids"]) < len(TEXTS[0].encode()) / 2
    assert tokenizer.decode(tokenizer(TEXTS[0], add_special_tokens=False)["input_ids"]) == TEXTS[0]


def test_build_is_reproducible_for_a_seed(tiny: Path, tmp_path: Path):
    import torch

    again = build_tiny_base_model(tmp_path / "again", TEXTS, seed=0)
    a, _ = load_causal_lm(tiny)
    b, _ = load_causal_lm(again)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_generate_batches_and_returns_only_new_text(tiny: Path):
    model, tokenizer = load_causal_lm(tiny)
    prompts = [example(i)["prompt"] for i in range(3)]
    batched = generate(model, tokenizer, prompts, max_new_tokens=5, batch_size=2)
    single = generate(model, tokenizer, prompts[:1], max_new_tokens=5, batch_size=1)
    assert len(batched) == 3 and all(isinstance(t, str) for t in batched)
    assert not batched[0].startswith(prompts[0][:20])
    assert batched[0] == single[0]  # left padding keeps greedy output independent of the batch


def test_resolve_none_installs_the_demo_base_once(home: Path):
    ws = Workspace.current()
    path = resolve_base_model(None, ws)
    assert path == ws.models / "base"
    assert (path / "model.safetensors").read_bytes() == (DEMO_BASE_DIR / "model.safetensors").read_bytes()
    assert (path / "README.md").is_file()  # the model card travels with the weights
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert resolve_base_model(None, ws) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp


def test_resolve_local_path(tiny: Path, home: Path):
    assert resolve_base_model(str(tiny), Workspace.current()) == tiny.resolve()


@pytest.mark.parametrize("ref, message", [
    ("nobody-org/not-a-cached-model", "hf download nobody-org/not-a-cached-model"),
    ("./missing-dir", "not found"),
])
def test_missing_model_is_a_one_line_error(ref: str, message: str, home: Path):
    with pytest.raises(ValueError, match=message) as info:
        resolve_base_model(ref, Workspace.current())
    assert "\n" not in str(info.value)


def test_directory_without_weights_is_rejected(home: Path):
    (home / "empty").mkdir()
    with pytest.raises(ValueError, match="safetensors"):
        resolve_base_model(home / "empty", Workspace.current())


def test_a_models_base_folder_without_a_model_is_left_alone(home: Path):
    ws = Workspace.current()
    (ws.models / "base").mkdir(parents=True)
    (ws.models / "base" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="--base-model") as info:
        resolve_base_model(None, ws)
    assert "\n" not in str(info.value) and (ws.models / "base" / "notes.txt").read_text() == "mine"


def test_shipped_weights_that_do_not_match_the_pin_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="sha256"):
        install_demo_base(tmp_path / "base", sha256="0" * 64)
    assert not (tmp_path / "base").exists()


def _trained_looking_adapter(base: Path, out: Path) -> Path:
    """A LoRA adapter whose B matrices are not zero, so that it really changes the model's replies."""
    import torch
    from peft import LoraConfig, get_peft_model

    model, _ = load_causal_lm(base)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "o_proj"]))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    peft_model.save_pretrained(out, safe_serialization=True)
    return out


def test_arms_on_one_base_share_it_and_answer_as_separately_loaded_models(tiny: Path, tmp_path: Path, monkeypatch):
    from datapilot_pipeline.lib.generation import modeling
    from datapilot_pipeline.lib.evaluation.local import LocalGenerator

    adapter = _trained_looking_adapter(tiny, tmp_path / "adapter")
    prompts = [TEXTS[0][:200], TEXTS[1][:150]]
    separate_base = generate(*load_causal_lm(tiny), prompts, max_new_tokens=12)
    separate_tuned = generate(*load_causal_lm(tiny, adapter), prompts, max_new_tokens=12)
    assert separate_base != separate_tuned  # the adapter matters, so the comparison below can fail

    loads = []
    real = modeling.load_causal_lm
    monkeypatch.setattr(modeling, "load_causal_lm", lambda *a, **k: loads.append(a) or real(*a, **k))
    modeling.SharedBase.release()
    few_shot = LocalGenerator(base_model=tiny, max_new_tokens=12, constrained=False)
    tuned = LocalGenerator(base_model=tiny, adapter_dir=adapter, max_new_tokens=12, constrained=False)
    conversations = [[{"role": "user", "content": p}] for p in prompts]
    first = [g.text for g in few_shot.generate_all(prompts, conversations)]
    second = [g.text for g in tuned.generate_all(prompts, conversations)]
    third = [g.text for g in few_shot.generate_all(prompts, conversations)]  # the adapter is off again
    assert len(loads) == 1  # one base in memory for both arms
    assert first == third == separate_base
    assert second == separate_tuned
    modeling.SharedBase.release()


def test_pad_token_is_kept_apart_from_the_end_token():
    from transformers import AutoTokenizer

    from datapilot_pipeline.lib.chat_format import ensure_pad_token

    tokenizer = AutoTokenizer.from_pretrained(DEMO_BASE_DIR, local_files_only=True)
    tokenizer.pad_token = tokenizer.eos_token  # what the GGUF of SmolLM2 ships: pad == <|im_end|>
    ensure_pad_token(tokenizer)
    assert tokenizer.pad_token != tokenizer.eos_token and tokenizer.pad_token == "<|pad|>"
