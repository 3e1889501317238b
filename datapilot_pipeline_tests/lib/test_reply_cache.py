"""The reply cache of local generation: a model's reply to a prompt is read back, never mixed up with another
model's, another adapter's, another length's or another schema's."""

from __future__ import annotations

from pathlib import Path

import pytest

from datapilot_pipeline.lib.evaluation.local import LocalGenerator
from datapilot_pipeline.lib.generation.modeling import DEMO_BASE_DIR
from datapilot_pipeline.lib.prompts import build_messages, build_prompt
from datapilot_pipeline_tests.eval_fixtures import holdout


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """An untrained LoRA adapter on the demo base model (real safetensors; its B matrices are zero)."""
    from peft import LoraConfig, get_peft_model

    from datapilot_pipeline.lib.generation.modeling import load_causal_lm

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


def test_a_changed_decoding_code_or_dtype_generates_again(tmp_path: Path, monkeypatch):
    import torch

    from datapilot_pipeline.lib.evaluation import reply_cache

    cache = tmp_path / "replies.sqlite"
    _ask(LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=300, reply_cache=cache), 2)
    with monkeypatch.context() as patch:  # a fix to the project's decoding or prompt code
        patch.setattr(reply_cache, "code_fingerprint", lambda: "0" * 64)
        fixed = LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=300, reply_cache=cache)
        assert not any(g.cached for g in _ask(fixed, 2))
    wider = LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=300, reply_cache=cache)
    model, _ = wider._load()
    model.to(torch.float64)  # the same files computed in another precision
    assert not any(g.cached for g in _ask(wider, 2))
    assert wider.decoding["reply_cache"] == {"hits": 0, "misses": 2}
    again = LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=300, reply_cache=cache)
    assert all(g.cached for g in _ask(again, 2))  # and the original runtime still reads its replies back


def test_the_code_fingerprint_covers_the_source_of_the_decoding_modules(tmp_path: Path, monkeypatch):
    from datapilot_pipeline.lib.evaluation import reply_cache

    assert {"datapilot_pipeline.lib.generation.decoding", "datapilot_pipeline.lib.prompts"} <= set(reply_cache.CODE_MODULES)
    assert len(reply_cache.code_fingerprint()) == 64  # every listed module is found
    module = tmp_path / "reply_probe_module.py"
    module.write_text("STOP = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(reply_cache, "CODE_MODULES", ("reply_probe_module",))
    reply_cache.code_fingerprint.cache_clear()
    try:
        before = reply_cache.code_fingerprint()
        module.write_text("STOP = 2\n")
        reply_cache.code_fingerprint.cache_clear()
        assert reply_cache.code_fingerprint() != before
    finally:
        reply_cache.code_fingerprint.cache_clear()


def test_every_tokenizer_file_is_in_the_fingerprint(tmp_path: Path):
    import shutil

    from datapilot_pipeline.lib.evaluation.reply_cache import model_fingerprint

    copy = tmp_path / "base"
    shutil.copytree(DEMO_BASE_DIR, copy)
    before = model_fingerprint(copy)
    for name, text in (("special_tokens_map.json", '{"eos_token": "</s>"}'), ("chat_template.jinja", "{{ messages }}"),
                       ("merges.txt", "a b\n"), ("tokenizer.model", "spm")):
        (copy / name).write_text(text)
        after = model_fingerprint(copy)
        assert after != before, name
        before = after
    (copy / "README.md").write_text("a model card edit")
    assert model_fingerprint(copy) == before  # documentation decides no reply


def test_the_model_fingerprint_is_computed_once_per_loaded_model(tmp_path: Path, monkeypatch):
    from datapilot_pipeline.lib.evaluation import reply_cache
    from datapilot_pipeline.lib.generation.modeling import SharedBase

    SharedBase.release()  # a fresh load: an earlier test's shared base carries its fingerprint already
    calls = []
    real = reply_cache.model_fingerprint
    monkeypatch.setattr(reply_cache, "model_fingerprint", lambda *a, **k: calls.append(a) or real(*a, **k))
    generator = LocalGenerator(base_model=DEMO_BASE_DIR, max_new_tokens=300, reply_cache=tmp_path / "r.sqlite")
    for _ in range(4):
        _ask(generator, 2)
    assert len(calls) == 1
    assert generator.decoding["reply_cache"] == {"hits": 6, "misses": 2}
