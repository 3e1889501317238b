"""Training benchmark: the project's TrainingConfig against TRL's SFTConfig defaults, same data, same
tiny base model, same LoRA adapter, same number of steps, each in a fresh process (peak memory is per
process). Reports non-padding tokens/s and peak memory: RSS on CPU, `torch.cuda.max_memory_allocated`
on a GPU (where the project config turns on bf16, and packing when flash-attn is installed).

    .venv/bin/python -m bench.bench_training [--examples 150] [--steps 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.harness import machine, measure


def _examples(n: int) -> list[dict]:
    import numpy as np
    import pandas as pd

    from datapilot_pipeline.lib.atomic import dumps_compact
    from datapilot_pipeline.lib.eda import compact_eda
    from datapilot_pipeline.lib.prompts import build_prompt

    rows = []
    for i in range(n):
        rng = np.random.default_rng(i)
        df = pd.DataFrame({"revenue": rng.normal(100, 10, 20).round(1), "region": rng.choice(["EMEA", "NA"], 20)})
        eda = compact_eda(df, f"t{i}.csv")
        top = eda["columns"]["revenue"]["stats"]["max"]
        output = {"insights": [{"id": "i1", "category": "outlier", "severity": "medium", "text": f"Revenue peaks at {top}.",
                                "evidence": {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": top}},
                                "recommendation": {"action": "Check the largest order.", "priority": "low"}}]}
        rows.append({"prompt": build_prompt(eda, []), "completion": dumps_compact(output)})
    return rows


def _run(variant: str, base: str, rows: list[dict], steps: int, out: str) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from datapilot_pipeline.lib.generation.modeling import load_causal_lm
    from datapilot_pipeline.lib.training import TrainingConfig
    from datapilot_pipeline.lib.training.data import PreparedData
    from datapilot_pipeline.lib.training.trainer import train_lora

    cuda = torch.cuda.is_available()
    if variant == "project":
        data = PreparedData(train=rows, validation=[])
        outcome = train_lora(TrainingConfig(max_steps=steps, logging_steps=steps), data, Path(base), Path(out))
        tokens, seconds = outcome.tokens_per_second * outcome.train_seconds, outcome.train_seconds
    else:
        model, tokenizer = load_causal_lm(Path(base))
        tokenizer.padding_side = "right"
        defaults = TrainingConfig()
        lora = LoraConfig(r=defaults.lora_r, lora_alpha=defaults.lora_alpha, lora_dropout=defaults.lora_dropout,
                          target_modules=defaults.target_modules, task_type="CAUSAL_LM")
        # bf16 is TRL's default but fails on a CPU without bf16 support: the one default changed here.
        bf16 = cuda and torch.cuda.is_bf16_supported()
        args = SFTConfig(output_dir=out, max_steps=steps, report_to="none", disable_tqdm=True, save_strategy="no", bf16=bf16,
                         include_num_input_tokens_seen="non_padding", per_device_train_batch_size=defaults.batch_size)
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                             peft_config=lora)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        tokens = trainer.state.num_input_tokens_seen
    info = {"tokens_per_s": tokens / seconds, "train_seconds": seconds}
    if cuda:
        info["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=150)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model

    rows = _examples(args.examples)
    with tempfile.TemporaryDirectory() as tmp:
        base = build_tiny_base_model(Path(tmp) / "base", [r["prompt"] + r["completion"] for r in rows])
        print(f"machine: {machine()}")
        print(f"{'config':<16}{'tokens/s':>10}{'train s':>9}{'peak RSS MB':>13}{'CUDA peak MB':>14}")
        for variant in ("trl_defaults", "project"):
            m = measure(_run, variant, str(base), rows, args.steps, str(Path(tmp) / variant))
            cuda = f"{m.info['cuda_peak_mb']:14.0f}" if "cuda_peak_mb" in m.info else f"{'-':>14}"
            print(f"{variant:<16}{m.info['tokens_per_s']:>10.0f}{m.info['train_seconds']:>9.1f}{m.peak_mb:>13.0f}{cuda}")


if __name__ == "__main__":
    main()
