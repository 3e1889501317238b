"""`datapilot train`: fine-tune on a prompt/completion dataset.

`--backend local` (default) trains a LoRA adapter with TRL on this machine, tracks the run in MLflow and
registers a new `datapilot-insights` version with the alias `candidate` (the same code as the
`fine_tuned_model` asset). `openai` uploads the data and runs an OpenAI fine-tuning job (OPENAI_API_KEY);
`anthropic` writes the Amazon Bedrock training file and prints the upload steps.
Exit 0 on success, 1 when a vendor job fails, 2 on bad usage or input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from datapilot_pipeline.cli.common import EXIT_CHECK_FAILED, UsageError, existing_file, int_in_range


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
                        help="local model directory or cached hub id (default: the dataset recipe's, "
                             "else the demo base model)")
    parser.add_argument("--epochs", type=_positive_float, help="passes over the data (default 3)")
    parser.add_argument("--max-steps", type=int_in_range(1), help="stop after N optimizer steps")
    parser.add_argument("--batch-size", type=int_in_range(1, 512), help="examples per step (default 4)")
    parser.add_argument("--learning-rate", type=_positive_float, help="LoRA learning rate (default 2e-4)")
    parser.add_argument("--lora-r", type=int_in_range(1, 256), help="LoRA rank (default 16)")
    parser.add_argument("--max-seq-length", type=int_in_range(16),
                        help="tokens per example (default: the dataset recipe's max length, else 2048)")
    parser.add_argument("--seed", type=int_in_range(0), help="random seed (default 42)")
    parser.add_argument("--output-dir", type=Path, metavar="DIR",
                        help="checkpoints and adapter (default: models/runs/ft-<time>-<sha>)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output-dir")
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


def _local(args: argparse.Namespace, dataset: Path, workspace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from datapilot_pipeline.lib.jsonl import JsonlError
    from datapilot_pipeline.lib.training.data import load_examples
    from datapilot_pipeline.lib.training.run import run_training

    config = _config(args)
    try:  # an empty or malformed file is reported before the progress bar and the model load
        load_examples(dataset)
    except (ValueError, JsonlError) as exc:
        raise UsageError(f"{exc}; export one with `datapilot export`") from None
    last: dict[str, float] = {}
    with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[info]}")) as bar:
        task = bar.add_task("train", total=None, info="")

        def sink(step: int, metrics: dict[str, float]) -> None:
            last.update(metrics)
            info = " ".join(f"{k} {last[k]:.4f}" for k in ("loss", "eval_loss") if k in last)
            bar.update(task, info=info)

        try:
            result = run_training(config, dataset, workspace, base_model=args.base_model,
                                  tracking_uri=args.tracking_uri, output_dir=args.output_dir, resume=args.resume,
                                  report_path=args.report, sink=sink,
                                  progress=lambda step, total: bar.update(task, completed=step, total=total))
        except ValueError as exc:  # missing model, no trainable tokens, malformed data, nothing to resume
            raise UsageError(str(exc)) from None
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
    print(f"registered {result['model_uri']} (alias candidate), MLflow run {result['run_id']}")
    print(f"adapter: {result['adapter_dir']}")
    return 0


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
