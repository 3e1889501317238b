"""`datapilot export`: reviewed feedback -> fine-tuning JSONL (train + validation) and a holdout.

Reads the reviews already ingested into the feedback store plus the inbox files not ingested yet (`--inbox DIR`:
DIR only). Bad inbox files are counted and skipped, never fatal. Prints how many reviews came from where, what
was exported, what was discarded and why, counts per split and category, how many worked examples the prompts
really hold (the token budget may leave room for fewer than --shot-count), and every written file with its sha256. Exit 0 when files were
written, 1 when no job was eligible (nothing written), 2 on bad usage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from datapilot_pipeline.cli.common import EXIT_CHECK_FAILED, UsageError, int_in_range
from datapilot_pipeline.lib.export.eligibility import DEFAULT_MIN_SCORE
from datapilot_pipeline.lib.generation.token_budget import DEFAULT_MAX_LENGTH

FORMAT_CHOICES = ("prompt-completion", "openai-chat", "bedrock", "preference")


def _fractions(value: str) -> tuple[float, float, float]:
    parts = value.split(",")
    try:
        numbers = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TRAIN,VALIDATION,HOLDOUT fractions, got {value!r}") from None
    if len(numbers) != 3:
        raise argparse.ArgumentTypeError(f"expected three fractions TRAIN,VALIDATION,HOLDOUT, got {value!r}")
    return numbers


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help="write the fine-tuning dataset from reviewed feedback",
                                   description=__doc__.split("\n\n", 1)[1].strip())
    parser.add_argument("--inbox", metavar="DIR", type=Path,
                        help="feedback files to read (default: $DATAPILOT_HOME/feedback_inbox)")
    parser.add_argument("--min-score", type=int_in_range(1, 5), default=DEFAULT_MIN_SCORE,
                        help="minimum human and overall score, 1-5 (default 3)")
    parser.add_argument("--sample", metavar="N", type=int_in_range(1), help="export a seeded random N examples")
    parser.add_argument("--shot-count", type=int_in_range(0, 20), default=3,
                        help="few-shot examples per prompt (default 3)")
    parser.add_argument("--output", metavar="PATH", type=Path,
                        help="file to write (default: a new data/finetune_ready/finetune_<UTC stamp>_<id>.jsonl)")
    parser.add_argument("--base-model", metavar="PATH",
                        help="model the dataset is for: its tokenizer counts the token budget "
                             "(default: the demo base model under models/base)")
    parser.add_argument("--max-length", type=int_in_range(16), default=DEFAULT_MAX_LENGTH,
                        help=f"max tokens of prompt + completion (default {DEFAULT_MAX_LENGTH}, training's)")
    parser.add_argument("--format", choices=FORMAT_CHOICES, default="prompt-completion", help="line format")
    parser.add_argument("--seed", type=int_in_range(0), default=0, help="seed for --sample (default 0)")
    parser.add_argument("--split", metavar="T,V,H", type=_fractions, default=(0.8, 0.1, 0.1),
                        help="train, validation, holdout fractions of examples (default 0.8,0.1,0.1)")
    parser.add_argument("--seeds", metavar="PATH", type=Path,
                        help="seed examples for the few shots (default: data/finetune_samples/seed_examples.jsonl)")
    parser.set_defaults(handler=run)


def _print_counts(title: str, counts: dict) -> None:
    body = ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else "none"
    print(f"{title}: {body}")


def _print_reasons(rejected: list) -> None:
    """Every skipped file counted by reason, so the names listed above are not all a user learns."""
    if len(rejected) <= 10:
        return
    counts: dict[str, int] = {}
    for bad in rejected:
        counts[bad.reason] = counts.get(bad.reason, 0) + 1
    print("bad files by reason:")
    for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {n} x {reason}")


def _sources_line(n_stored: int, n_inbox: int, inbox: Path, store: Path | None) -> str:
    """Where the reviews came from: the feedback store (reviews a Dagster run already ingested out of the inbox)
    and the inbox files not ingested yet; `--inbox DIR` reads DIR only."""
    files = f"{n_inbox} feedback file{'s' if n_inbox != 1 else ''} from the inbox {inbox}"
    if store is None:
        return f"read {files} (--inbox: the feedback store is not read)"
    return f"read {n_stored + n_inbox} reviews: {n_stored} from the feedback store {store} (ingested earlier), {files}"


def _shots_line(shots_per_prompt: dict[str, int], recipe) -> str:
    """How many worked examples the written prompts really hold (a histogram), against the recipe's maximum."""
    histogram = ", ".join(f"{shots} in {n} prompt{'s' if n != 1 else ''}" for shots, n in shots_per_prompt.items())
    allowed = f"up to {recipe.shot_count}: {', '.join(recipe.shot_ids)}" if recipe.shot_ids else "none"
    line = f"worked examples per prompt: {histogram or 'no prompts'} (the recipe allows {allowed})"
    if recipe.shot_ids and any(int(k) < recipe.shot_count for k in shots_per_prompt):
        line += (f"\n  fewer than {recipe.shot_count} where the {recipe.max_length}-token max length minus the "
                 f"{recipe.completion_reserve}-token completion reserve left no room; a larger --max-length fits more")
    return line


def run(args: argparse.Namespace) -> int:
    from datapilot_pipeline.lib.export import (
        ExportOptions, NothingToExport, SplitFractions, default_output, export_reviews, holdout_path_for, load_seeds,
    )
    from datapilot_pipeline.lib.export.eligibility import group_by_job
    from datapilot_pipeline.lib.export.shots import SeedFileError
    from datapilot_pipeline.lib.export.workspace import export_settings
    from datapilot_pipeline.lib.feedback.inbox import drop_repeated_ids, load_inbox
    from datapilot_pipeline.lib.feedback.ingest import iter_stored_groups, merge_groups, stored_reviews_with_ids
    from datapilot_pipeline.lib.feedback.store import StoreError, count_feedback, store_url_for
    from datapilot_pipeline.lib.paths import Workspace

    ws = Workspace.current()
    inbox = args.inbox or ws.inbox
    if not inbox.is_dir():
        raise UsageError(f"inbox {inbox} is not a directory")
    try:
        fractions = SplitFractions(*args.split)
    except ValueError as exc:
        raise UsageError(f"--split: {exc}") from None
    seeds = []
    if args.shot_count:
        try:
            seeds = load_seeds(args.seeds or ws.seed_examples_path())
        except SeedFileError as exc:
            raise UsageError(f"{exc} (use --seeds PATH or --shot-count 0)") from None
        if args.shot_count > len(seeds):
            raise UsageError(f"--shot-count {args.shot_count}: there are only {len(seeds)} seed examples "
                             f"in {args.seeds or ws.seed_examples_path()}; use at most {len(seeds)} or add seeds")
    output = args.output or default_output(ws.finetune_ready, args.format)
    if output.is_dir():
        raise UsageError(f"--output {output} is a directory")

    good, rejected = load_inbox(inbox)
    n_stored, already = 0, []
    if args.inbox is None:  # reviews already ingested (moved out of the inbox) come first; they are streamed
        try:
            n_stored = count_feedback(store_url_for(ws.feedback_dir))
            already = stored_reviews_with_ids(ws.feedback_dir, [fb.feedback_id for _, fb in good])
        except StoreError as exc:
            raise UsageError(str(exc)) from None
    n_inbox = len(good)
    kept, duplicates, conflicts = drop_repeated_ids(already + good)
    rejected += conflicts
    stored_ids = {fb.feedback_id for _, fb in already}
    extra = [fb for _, fb in kept if fb.feedback_id not in stored_ids]
    inbox_groups = group_by_job(extra)

    def groups():  # every review grouped by job, in job-id order: the store streamed, the inbox's joined in
        return merge_groups(iter_stored_groups(ws.feedback_dir), extra) if args.inbox is None else iter(inbox_groups)
    print(_sources_line(n_stored, n_inbox, inbox, ws.feedback_dir if args.inbox is None else None))
    print(f"  {n_stored + len(extra)} reviews kept, {len(rejected)} bad files skipped, "
          f"{len(duplicates)} duplicate deliveries skipped")
    for bad in rejected[:10]:
        print(f"  skipped {bad.path.name}: {bad.reason}")
    if len(rejected) > 10:
        print(f"  ... and {len(rejected) - 10} more")
    _print_reasons(rejected)
    options = ExportOptions(min_score=args.min_score, shot_count=args.shot_count, sample=args.sample,
                            seed=args.seed, fractions=fractions)
    try:
        result = export_reviews(groups, seeds, options, {args.format: output}, holdout_path_for(output),
                                **export_settings(ws, args.base_model, args.max_length))
    except NothingToExport as exc:
        print(f"nothing written: {exc} (min score {args.min_score})")
        _print_counts("discarded", exc.discarded)
        return EXIT_CHECK_FAILED
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a base model or tokenizer that cannot be found locally
        raise UsageError(str(exc)) from None

    sampled = f" ({result.n_sampled_out} left out by --sample)" if args.sample else ""
    print(f"exported {result.n_exported} jobs{sampled}")
    _print_counts("discarded", result.discarded)
    _print_counts("per split", result.per_split)
    for split, counts in result.per_category.items():
        _print_counts(f"  {split} by category", counts)
    recipe = result.recipe
    print(_shots_line(result.shots_per_prompt, recipe))
    print(f"prompt recipe: max length {recipe.max_length} tokens, completion reserve {recipe.completion_reserve}, "
          f"tokenizer {recipe.tokenizer}")
    for role, path in result.paths.items():
        detail = f" ({result.lines[role]} lines) sha256 {result.sha256[role]}" if role in result.lines else ""
        print(f"{role}: {path}{detail}")
    if "holdout" not in result.paths:
        print("holdout: none (no example fell in a holdout table); no holdout file written")
    return 0
