"""The shipped demo base model: pinned, small, documented, writing the contract, and rebuilt bit for bit by its
script (`scripts/pretrain_demo_base.py`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from datapilot_pipeline.lib.generation.modeling import DEMO_BASE_DIR, DEMO_BASE_SHA256
from scripts import pretrain_demo_base as script


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_shipped_weights_are_pinned_small_and_documented():
    weights = DEMO_BASE_DIR / "model.safetensors"
    assert weights.stat().st_size <= 25 * 2**20
    assert _sha256(weights) == DEMO_BASE_SHA256
    card = (DEMO_BASE_DIR / "README.md").read_text(encoding="utf-8")
    for section in ("## Data", "## Training", "## Measured", "## What it can and cannot do", "## Rebuild"):
        assert section in card, section
    assert DEMO_BASE_SHA256 in card
    log = json.loads((DEMO_BASE_DIR / "training_log.json").read_text(encoding="utf-8"))
    assert (log["steps"], log["batch"], log["seed"]) == (script.STEPS, script.BATCH, script.SEED)
    curve = [entry["loss"] for entry in log["loss_curve"]]
    assert curve[-1] < curve[0] / 4  # it learnt the answers, not just the vocabulary


def test_constrained_replies_of_the_demo_base_are_complete_answers():
    measured = script.measure(DEMO_BASE_DIR, n_requests=2, shots=1)
    assert measured["schema_pass_rate"] == 1.0
    assert measured["mean_reply_tokens"] < 1024  # it ended its answers, not the token limit


def test_the_script_rebuilds_the_same_weights(tmp_path: Path):
    runs = [script.pretrain(tmp_path / name, steps=2, batch=1, tokenizer_texts=12, log_every=1) for name in "ab"]
    assert _sha256(tmp_path / "a" / "model.safetensors") == _sha256(tmp_path / "b" / "model.safetensors")
    assert [e["loss"] for e in runs[0]["loss_curve"]] == [e["loss"] for e in runs[1]["loss_curve"]]
    assert runs[0]["requests"] == 2 and runs[0]["tokens"] > 0
