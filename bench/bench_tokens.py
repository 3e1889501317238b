"""Token counting with the recipe's tokenizer, as `datapilot export` and validation run it: the whole text tokenized
each time (the baseline, what the code did before) beside `lib.generation.line_tokens` (each distinct line once), on
the demo base model's real tokenizer and the lines of a real export of synthetic reviews, in the same run.

    .venv/bin/python -m bench.bench_tokens [--jobs 600] [--repeat 2]

Per line it makes the calls an export and a validation of that line make: `TokenBudget.measure` of the zero-shot
prompt and of the prompt with its worked examples, `TokenBudget.prompt_tokens` of the latter (fitting the worked
examples), validation's counts of the prompt and of the completion, and its `fits`. Both sides must give the same
numbers (checked). Results: bench/results/tokens_<stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench.harness import RESULTS_DIR, machine


class WholeText:
    """The tokenizer as it is, hidden from `line_tokens` (no backend to inspect): every text tokenized whole."""

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer

    def __getattr__(self, name):
        if name == "backend_tokenizer":
            raise AttributeError(name)
        return getattr(self._tokenizer, name)

    def __call__(self, *args, **kwargs):
        return self._tokenizer(*args, **kwargs)


def _lines(jobs: int, workspace) -> list[dict]:
    from datapilot_pipeline.lib.contracts import FeedbackFile
    from datapilot_pipeline.lib.export import ExportOptions, export_dataset, load_seeds
    from datapilot_pipeline.lib.export.pipeline import default_output, holdout_path_for
    from datapilot_pipeline.lib.export.workspace import export_settings
    from datapilot_pipeline.lib.synthetic import generate_feedback

    feedbacks = [FeedbackFile.model_validate(f) for f in generate_feedback(jobs, seed=21)]
    out = default_output(workspace.finetune_ready, "prompt-completion")
    export_dataset(feedbacks, load_seeds(workspace.seed_examples_path()), ExportOptions(),
                   {"prompt-completion": out}, holdout_path_for(out), **export_settings(workspace, None, 4096))
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _counts(budget, rows: list[dict]) -> list[tuple]:
    """What export and validation count for each line (see the module)."""
    from datapilot_pipeline.lib.prompts import build_prompt, extract_task_eda
    from datapilot_pipeline.lib.validation.tokens import TokenCounter

    counter = TokenCounter(None, budget.max_length, budget)
    out = []
    for row in rows:
        prompt, completion = row["prompt"], row["completion"]
        zero_shot = build_prompt(extract_task_eda(prompt), [])
        out.append((budget.measure(zero_shot, completion), budget.prompt_tokens(prompt),
                    budget.measure(prompt, completion), counter.count([prompt]), counter.count([completion]),
                    counter.fits(prompt, completion, 0, 0)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_tokens", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=600, help="synthetic jobs exported for the lines")
    parser.add_argument("--repeat", type=int, default=2, help="timings per side (the best is kept)")
    args = parser.parse_args(argv)
    from datapilot_pipeline.lib.generation.line_tokens import line_ids
    from datapilot_pipeline.lib.generation.token_budget import TokenBudget, target_tokenizer_dir
    from datapilot_pipeline.lib.paths import Workspace

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp))
        rows = _lines(args.jobs, workspace)
        folder = target_tokenizer_dir(None, workspace)
        timings: dict[str, float] = {}
        results: dict[str, list] = {}
        for side in ("whole", "lines"):
            for _ in range(args.repeat):
                budget = TokenBudget.load(folder)  # a fresh tokenizer: nothing cached from the previous timing
                if side == "whole":
                    budget.tokenizer = WholeText(budget.tokenizer)
                assert (line_ids(budget.tokenizer) is None) == (side == "whole")
                started = time.process_time()
                results[side] = _counts(budget, rows)
                timings[side] = min(timings.get(side, float("inf")), time.process_time() - started)
    if results["whole"] != results["lines"]:
        raise AssertionError("line-by-line counts differ from whole-text counts")
    chars = sum(len(r["prompt"]) + len(r["completion"]) for r in rows) / len(rows)
    result = {"lines": len(rows), "avg_line_chars": round(chars), "tokenizer": str(folder.name),
              "whole_ms_per_line": round(timings["whole"] / len(rows) * 1000, 2),
              "lines_ms_per_line": round(timings["lines"] / len(rows) * 1000, 2),
              "ratio": round(timings["whole"] / timings["lines"], 2), "same_counts": True,
              "machine": machine(), "load_avg_start": [round(x, 2) for x in load_start],
              "load_avg_end": [round(x, 2) for x in os.getloadavg()]}
    print(f"{len(rows)} exported lines ({chars:.0f} characters each), CPU per line for an export's and a validation's "
          f"counts: whole text {result['whole_ms_per_line']} ms, line by line {result['lines_ms_per_line']} ms "
          f"({result['ratio']}x), the same counts; load {result['load_avg_start']} -> {result['load_avg_end']}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    from datapilot_pipeline.lib.atomic import atomic_write_json

    atomic_write_json(RESULTS_DIR / f"tokens_{stamp}.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
