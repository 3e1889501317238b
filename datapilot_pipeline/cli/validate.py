"""`datapilot validate DATASET.jsonl`: checks a fine-tuning JSONL and writes its quality report.

Writes `reports/finetune_export_report_<TIMESTAMP>.json` and prints the score, the grade and the issue
behind every point lost. Reads every file export writes (each format, `_validation.jsonl`, `_holdout.jsonl`).
Exit 0 when the score reaches --min-score, 1 below it, 2 when the file cannot be scored (missing, binary, not
JSONL, no usable example: other keys, empty prompts or completions) or on bad usage.
"""

from __future__ import annotations

from pathlib import Path

from datapilot_pipeline.cli.common import EXIT_CHECK_FAILED, EXIT_OK, UsageError, int_in_range, output_dir, output_file


def register(subparsers) -> None:
    parser = subparsers.add_parser("validate", help="check a fine-tuning dataset and write its quality report",
                                   description=__doc__.split("\n\n", 1)[1].strip())
    parser.add_argument("dataset", metavar="DATASET.jsonl", type=Path, help="the JSONL to validate")
    parser.add_argument("--report-dir", metavar="DIR", type=Path,
                        help="where the report goes (default: $DATAPILOT_HOME/reports)")
    parser.add_argument("--min-score", type=int_in_range(0, 100), default=70,
                        help="quality score needed for exit code 0 (default 70)")
    parser.add_argument("--write-clean", metavar="PATH", type=Path,
                        help="also write the masked, de-duplicated, schema-valid lines to PATH")
    parser.add_argument("--max-tokens", type=int_in_range(16),
                        help="max sequence length in tokens; longer lines are an issue (default: the dataset's "
                             "prompt recipe, else 2048)")
    parser.add_argument("--tokenizer", metavar="PATH", type=Path,
                        help="local tokenizer folder for exact token counts (default: the recipe's, else the demo base "
                             "model's under models/base, else a chars/4 estimate)")
    parser.set_defaults(handler=run)


def summary_lines(report: dict, report_path: Path) -> list[str]:
    pii = ", ".join(f"{k} {v}" for k, v in report["pii"]["by_entity"].items()) or "none"
    dups = report["duplicates"]
    tokens = report["tokens"]
    gx = report.get("great_expectations")
    lines = [f"quality score {report['quality_score']:.1f}/100 ({report['grade']}), {report['n_examples']} examples",
             f"  schema: {report['schema']['invalid_count']} invalid lines",
             f"  pii: {pii}",
             f"  duplicates: {len(dups['exact'])} exact, {len(dups['near'])} near",
             f"  tokens ({tokens['method']}): mean {tokens['total']['mean']}, max {tokens['total']['max']}, "
             f"{tokens['over_max_count']} over {tokens['max_tokens']} ({tokens['drop_rate']:.1%} training would drop, "
             f"max {tokens['max_drop_rate']:.0%})"]
    recipe = report.get("recipe") or {}
    if recipe.get("recipe"):
        lines.append(f"  prompt recipe: {recipe['path']}, {len(recipe['problems'])} problems")
    lines += [f"    {p}" for p in (recipe.get("problems") or [])[:5]]
    if report["evidence"]["accuracy"] is not None:
        lines.append(f"  evidence accuracy: {report['evidence']['accuracy']:.1%} of "
                     f"{report['evidence']['insights_checked']} insights")
    if gx is not None:
        lines.append(f"  great expectations: {gx['successful']}/{gx['evaluated']} expectations met")
    lines.append("points lost:" if report["issues"] else "points lost: none")
    lines += [f"  -{i['points']:g} {i['check']}: {i['reason']}" for i in report["issues"]]
    lines.append(f"report: {report_path}")
    return lines


# What `save_pretrained` leaves in a tokenizer folder (one of them is enough to load it).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt")


def _check_tokenizer(path: Path | None) -> None:
    if path is None:
        return
    if not path.exists():
        raise UsageError(f"tokenizer not found: {path}")
    if not path.is_dir() or not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise UsageError(f"--tokenizer {path} holds no tokenizer: give the folder a tokenizer was saved to "
                         f"(save_pretrained; it holds tokenizer.json or tokenizer_config.json)")


def run(args) -> int:
    from datapilot_pipeline.lib.paths import Workspace
    from datapilot_pipeline.lib.validation.clean import write_clean
    from datapilot_pipeline.lib.validation.records import DatasetReadError
    from datapilot_pipeline.lib.validation.report import validate_dataset, write_report

    _check_tokenizer(args.tokenizer)
    if args.dataset.is_dir():
        raise UsageError(f"{args.dataset} is a directory; give a JSONL file")
    report_dir = output_dir(args.report_dir or Workspace.current().reports, "--report-dir")
    if args.write_clean is not None:
        output_file(args.write_clean, "--write-clean")
    workspace = Workspace.current()
    try:
        validation = validate_dataset(args.dataset, tokenizer_path=args.tokenizer, max_tokens=args.max_tokens,
                                      workspace=workspace)
    except DatasetReadError as exc:
        raise UsageError(str(exc)) from None
    try:
        report_path = write_report(validation.report, report_dir)
    except OSError as exc:
        raise UsageError(f"--report-dir {report_dir}: cannot write the report ({exc.strerror or exc})") from None
    print("\n".join(summary_lines(validation.report, report_path)))
    if args.write_clean is not None:
        try:
            clean = write_clean(validation, args.write_clean)
        except OSError as exc:
            raise UsageError(f"--write-clean {args.write_clean}: cannot write ({exc.strerror or exc})") from None
        print(f"clean dataset: {clean['path']} ({clean['n_examples']} examples, {clean['masked_lines']} masked, "
              f"{clean['dropped_duplicates']} duplicates and {clean['dropped_invalid']} invalid dropped)")
    return EXIT_OK if validation.report["quality_score"] >= args.min_score else EXIT_CHECK_FAILED
