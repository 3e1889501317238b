"""`datapilot eval`: few-shot against fine-tuned on the holdout; prints the comparison and the promotion
decision, writes `reports/eval_<TIMESTAMP>.json` and audits every call under `data/llm_logs/`.

    datapilot eval --holdout data/finetune_samples/holdout_test.jsonl \\
        --fewshot-endpoint http://127.0.0.1:8000/v1/chat/completions --finetuned-model models:/datapilot-insights@candidate
"""

from __future__ import annotations

import argparse
from pathlib import Path

from datapilot_pipeline.cli.common import UsageError, existing_file, int_in_range


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="compare few-shot and fine-tuned on the holdout",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--holdout", type=existing_file, default=None,
                   help="holdout JSONL (example_id, compact_eda, output); default the workspace's")
    few = p.add_mutually_exclusive_group()
    few.add_argument("--fewshot-endpoint", metavar="URL", help="OpenAI-compatible chat-completions URL")
    few.add_argument("--base-model", metavar="PATH", help="local base model (default: the workspace's tiny model)")
    tuned = p.add_mutually_exclusive_group(required=True)
    tuned.add_argument("--finetuned-endpoint", metavar="URL", help="OpenAI-compatible chat-completions URL")
    tuned.add_argument("--finetuned-model", metavar="PATH|URI",
                       help="adapter or model directory, or models:/datapilot-insights/VERSION or @ALIAS")
    p.add_argument("--shot-count", type=int_in_range(0, 20), default=3, help="worked examples, few-shot arm (default 3)")
    p.add_argument("--finetuned-shot-count", type=int_in_range(0, 20), default=0,
                   help="worked examples, fine-tuned arm (default 0)")
    p.add_argument("--max-examples", type=int_in_range(1), default=None, help="evaluate the first N holdout examples")
    p.add_argument("--report-dir", type=Path, default=None, help="where eval_<TIMESTAMP>.json goes (default reports/)")
    p.add_argument("--max-new-tokens", type=int_in_range(1, 8192), default=1024, help="reply length bound (default 1024)")
    p.add_argument("--unconstrained", action="store_true",
                   help="local arms decode freely instead of under the llm_output JSON Schema")
    p.add_argument("--grounded-schema", action="store_true",
                   help="local arms: limit columns, rows and aggregate keys to each example's own EDA")
    p.add_argument("--structured-outputs", action="store_true",
                   help="endpoint arms: send the llm_output JSON Schema as response_format (endpoint must support it)")
    p.add_argument("--batch-size", type=int_in_range(1, 256), default=4, help="local generation batch (default 4)")
    p.add_argument("--concurrency", type=int_in_range(1, 64), default=4, help="endpoint requests in flight (default 4)")
    p.add_argument("--max-retries", type=int_in_range(0, 10), default=4,
                   help="endpoint retries on 429/5xx/transport errors, exponential backoff (default 4)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    p.add_argument("--fewshot-model-name", default="default", help="`model` sent to the few-shot endpoint")
    p.add_argument("--finetuned-model-name", default="default", help="`model` sent to the fine-tuned endpoint")
    p.add_argument("--bootstrap", type=int_in_range(100, 100_000), default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--schema-target", type=float, default=0.95, help="promotion's schema pass target (default 0.95)")
    p.set_defaults(handler=run)


def _arms(args: argparse.Namespace, workspace):
    from datapilot_pipeline.lib.evaluation.arms import base_model_arm, endpoint_arm, fine_tuned_arm

    def endpoint(url: str, name: str):
        return endpoint_arm(url, name, args.api_key_env, args.concurrency, args.max_new_tokens,
                            max_retries=args.max_retries, structured_outputs=args.structured_outputs)

    few = (endpoint(args.fewshot_endpoint, args.fewshot_model_name) if args.fewshot_endpoint
           else base_model_arm(args.base_model, workspace, args.max_new_tokens, args.batch_size))
    tuned = (endpoint(args.finetuned_endpoint, args.finetuned_model_name) if args.finetuned_endpoint
             else fine_tuned_arm(args.finetuned_model, workspace, args.base_model, args.max_new_tokens, args.batch_size))
    for arm in (few, tuned):
        if arm.kind == "local":
            arm.constrained, arm.grounded = not args.unconstrained, args.grounded_schema
    return few, tuned


def run(args: argparse.Namespace) -> int:
    from datapilot_pipeline.lib.audit import AuditLog
    from datapilot_pipeline.lib.evaluation.endpoint import EndpointError
    from datapilot_pipeline.lib.evaluation.promotion import decide_promotion
    from datapilot_pipeline.lib.evaluation.runner import comparison_table, evaluate_arms, load_holdout
    from datapilot_pipeline.lib.export.shots import load_seeds
    from datapilot_pipeline.lib.paths import Workspace

    if not 0 <= args.schema_target <= 1:
        raise UsageError(f"--schema-target must be in [0, 1], got {args.schema_target}")
    workspace = Workspace.current()
    try:
        holdout = load_holdout(args.holdout or workspace.holdout_path())
        seeds = load_seeds(workspace.seed_examples_path()) if args.shot_count or args.finetuned_shot_count else []
        few, tuned = _arms(args, workspace)
        result = evaluate_arms(holdout, few, tuned, args.shot_count, seeds=seeds,
                               fine_tuned_shot_count=args.finetuned_shot_count, audit=AuditLog(workspace.llm_logs),
                               report_dir=args.report_dir or workspace.reports, n_bootstrap=args.bootstrap,
                               max_examples=args.max_examples)
    except (ValueError, OSError, EndpointError) as exc:
        raise UsageError(str(exc)) from None
    decision = decide_promotion(result.report, args.schema_target)
    print(comparison_table(result.report))
    print(f"\npromotion: {'PROMOTE' if decision.promote else 'do not promote'}")
    for reason in decision.reasons:
        print(f"  - {reason}")
    print(f"report: {result.report_path}")
    return 0
