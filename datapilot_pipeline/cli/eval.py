"""`datapilot eval`: few-shot against fine-tuned (and optionally a champion) on the holdout; prints the
comparison and every promotion rule with its numbers and pass/FAIL, writes `reports/eval_<TIMESTAMP>.json` and
audits every call under `data/llm_logs/`. Registered models (`models:/...`) are read from $DATAPILOT_MLFLOW_URI
(default sqlite:///$DATAPILOT_HOME/mlflow.db), the same tracking URI training used.

    datapilot eval --holdout data/finetune_samples/holdout_test.jsonl \\
        --fewshot-endpoint http://127.0.0.1:8000/v1/chat/completions --finetuned-model models:/datapilot-insights@candidate \\
        --champion models:/datapilot-insights@champion

The current champion is a registered model or directory (--champion) or an OpenAI-compatible endpoint
(--champion-endpoint, e.g. the `datapilot serve` that serves it). The promotion decision is the one the
`model_promotion` asset takes (`lib.evaluation.promotion.decide_promotion`): the candidate must be better than
few-shot and than the champion on the per-example evidence score, and not worse on the guardrails; it is printed
rule by rule and written to the report's `promotion`. The command never moves the `champion` alias.

An endpoint request carries `"model": NAME` (--fewshot-model-name / --finetuned-model-name / --champion-model-name). The default,
"default", is a placeholder that many single-model servers ignore; vLLM and OpenAI need the served model's
name. The report, the table and the audit log record each endpoint arm as `NAME @ URL`. The API key is read from --api-key-env (default
OPENAI_API_KEY); naming a variable that is not set is an error, and without a key requests carry no
Authorization header.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from datapilot_pipeline.cli.common import UsageError, existing_file, int_in_range
from datapilot_pipeline.lib.evaluation.local import DEFAULT_MAX_NEW_TOKENS
from datapilot_pipeline.lib.evaluation.promotion import PromotionRules

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
RULE_FLAGS = {  # PromotionRules field: what it is
    "min_gain": "the lower bound of the per-example evidence-score gain over every reference must exceed this",
    "alpha": "one-sided error rate of each lower bound",
    "schema_target": "schema pass rate the candidate needs",
    "schema_margin": "non-inferiority margin of the schema pass rate against each reference",
    "grounding_margin": "non-inferiority margin of text grounding against each reference",
    "coverage_margin": "non-inferiority margin of evidence coverage against each reference",
    "min_examples": "fewest holdout examples to promote on",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="compare few-shot and fine-tuned on the holdout",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--holdout", type=existing_file, default=None,
                   help="holdout JSONL (example_id, compact_eda, output); default the workspace's")
    few = p.add_mutually_exclusive_group()
    few.add_argument("--fewshot-endpoint", metavar="URL", help="OpenAI-compatible chat-completions URL")
    few.add_argument("--base-model", metavar="PATH", help="local base model (default: the workspace's demo base model)")
    tuned = p.add_mutually_exclusive_group(required=True)
    tuned.add_argument("--finetuned-endpoint", metavar="URL", help="OpenAI-compatible chat-completions URL")
    tuned.add_argument("--finetuned-model", metavar="PATH|URI",
                       help="adapter or model directory, or models:/datapilot-insights/VERSION or @ALIAS")
    champion = p.add_mutually_exclusive_group()
    champion.add_argument("--champion", metavar="PATH|URI", default=None,
                          help="also evaluate this model (e.g. models:/datapilot-insights@champion) as the current champion")
    champion.add_argument("--champion-endpoint", metavar="URL", default=None,
                          help="also evaluate the current champion behind this OpenAI-compatible chat-completions URL")
    p.add_argument("--shot-count", type=int_in_range(0, 20), default=3, help="worked examples, few-shot arm (default 3)")
    p.add_argument("--finetuned-shot-count", type=int_in_range(0, 20), default=0,
                   help="worked examples, fine-tuned arm (default 0)")
    p.add_argument("--max-examples", type=int_in_range(1), default=None, help="evaluate the first N holdout examples")
    p.add_argument("--report-dir", type=Path, default=None, help="where eval_<TIMESTAMP>.json goes (default reports/)")
    p.add_argument("--max-new-tokens", type=int_in_range(1, 8192), default=DEFAULT_MAX_NEW_TOKENS,
                   help=f"reply length bound (default {DEFAULT_MAX_NEW_TOKENS}: room for 3 constrained insights)")
    p.add_argument("--unconstrained", action="store_true",
                   help="local arms decode freely instead of under the llm_output JSON Schema")
    p.add_argument("--grounded-schema", action="store_true",
                   help="local arms: limit columns, rows and aggregate keys to each example's own EDA")
    p.add_argument("--structured-outputs", action="store_true",
                   help="endpoint arms: send the llm_output JSON Schema as response_format (endpoint must support it)")
    p.add_argument("--batch-size", type=int_in_range(1, 256), default=4, help="local generation batch (default 4)")
    p.add_argument("--no-reply-cache", action="store_true",
                   help="generate every local reply again instead of reading back replies the same model already "
                        "gave to the same prompt (cache: $DATAPILOT_HOME/.cache/replies.sqlite)")
    p.add_argument("--concurrency", type=int_in_range(1, 64), default=4, help="endpoint requests in flight (default 4)")
    p.add_argument("--max-retries", type=int_in_range(0, 10), default=4,
                   help="endpoint retries on 429/5xx/transport errors, exponential backoff (default 4)")
    p.add_argument("--api-key-env", metavar="VAR", default=None,
                   help=f"environment variable holding the API key (default {DEFAULT_KEY_ENV}, optional)")
    p.add_argument("--fewshot-model-name", metavar="NAME", default="default",
                   help="`model` sent to the few-shot endpoint (default \"default\": the server's only model)")
    p.add_argument("--finetuned-model-name", metavar="NAME", default="default",
                   help="`model` sent to the fine-tuned endpoint (default \"default\")")
    p.add_argument("--champion-model-name", metavar="NAME", default="default",
                   help="`model` sent to the champion endpoint (default \"default\")")
    p.add_argument("--bootstrap", type=int_in_range(100, 100_000), default=1000, help="bootstrap resamples (default 1000)")
    defaults = PromotionRules()
    for flag, help_text in RULE_FLAGS.items():
        p.add_argument(f"--{flag.replace('_', '-')}", type=int if flag == "min_examples" else float,
                       default=getattr(defaults, flag), help=f"promotion: {help_text} (default {getattr(defaults, flag)})")
    p.set_defaults(handler=run)


def _api_key_env(args: argparse.Namespace) -> str:
    """The key's variable; one named on the command line must be set (a silent unauthenticated run is worse)."""
    import os

    uses_endpoint = bool(args.fewshot_endpoint or args.finetuned_endpoint or args.champion_endpoint)
    if args.api_key_env is not None:
        if uses_endpoint and not os.environ.get(args.api_key_env):
            raise UsageError(f"--api-key-env {args.api_key_env}: that environment variable is not set "
                             f"(export it, or leave the option out for a server without authentication)")
        return args.api_key_env
    return DEFAULT_KEY_ENV  # optional: a local server (vLLM, TGI) usually needs no key


def _check_model_paths(args: argparse.Namespace) -> None:
    """A local model path that does not exist is named as such (before any other model is looked for)."""
    # A fine-tuned model is a local folder or a models:/ URI; a base model may also be a cached hub id.
    for flag, ref, hub_ok in (("--finetuned-model", args.finetuned_model, False), ("--champion", args.champion, False),
                              ("--base-model", args.base_model, True)):
        if ref and not ref.startswith("models:/") and (not hub_ok or ref.startswith((".", "/", "~"))) \
                and not Path(ref).expanduser().exists():
            raise UsageError(f"{flag} {ref}: not found (no such file or directory); give a model or adapter "
                             f"directory or a models:/ URI")


def _arms(args: argparse.Namespace, workspace):
    from datapilot_pipeline.lib.evaluation.arms import base_model_arm, endpoint_arm, fine_tuned_arm

    def endpoint(url: str, name: str):
        return endpoint_arm(url, name, args.key_env, args.concurrency, args.max_new_tokens,
                            max_retries=args.max_retries, structured_outputs=args.structured_outputs)

    few = (endpoint(args.fewshot_endpoint, args.fewshot_model_name) if args.fewshot_endpoint
           else base_model_arm(args.base_model, workspace, args.max_new_tokens, args.batch_size))
    tuned = (endpoint(args.finetuned_endpoint, args.finetuned_model_name) if args.finetuned_endpoint
             else fine_tuned_arm(args.finetuned_model, workspace, args.base_model, args.max_new_tokens, args.batch_size))
    champion = (endpoint(args.champion_endpoint, args.champion_model_name) if args.champion_endpoint
                else fine_tuned_arm(args.champion, workspace, args.base_model, args.max_new_tokens, args.batch_size)
                if args.champion else None)
    for arm in (few, tuned, champion):
        if arm is not None and arm.kind == "local":
            arm.constrained, arm.grounded = not args.unconstrained, args.grounded_schema
            arm.reply_cache = None if args.no_reply_cache else workspace.reply_cache_path()
    return few, tuned, champion


def _rules(args: argparse.Namespace) -> PromotionRules:
    """The promotion rules from the command line; a bad value is named by its flag."""
    try:
        return PromotionRules(**{flag: getattr(args, flag) for flag in RULE_FLAGS})
    except ValueError as exc:
        flag, _, rest = str(exc).partition(" ")
        raise UsageError(f"--{flag.replace('_', '-')} {rest}") from None


def run(args: argparse.Namespace) -> int:
    from datapilot_pipeline.lib.audit import AuditLog
    from datapilot_pipeline.lib.evaluation.endpoint import EndpointError
    from datapilot_pipeline.lib.evaluation.promotion import rules_table
    from datapilot_pipeline.lib.evaluation.runner import comparison_table, evaluate_arms, load_holdout
    from datapilot_pipeline.lib.export.shots import load_seeds
    from datapilot_pipeline.lib.paths import Workspace

    rules = _rules(args)
    _check_model_paths(args)
    args.key_env = _api_key_env(args)
    workspace = Workspace.current()
    try:
        holdout_path = args.holdout or workspace.holdout_path()
        holdout = load_holdout(holdout_path)
        seeds = load_seeds(workspace.seed_examples_path()) if args.shot_count or args.finetuned_shot_count else []
        wanted = max(args.shot_count, args.finetuned_shot_count)
        if wanted > len(seeds) > 0:
            raise UsageError(f"shot count {wanted}: there are only {len(seeds)} seed examples in "
                             f"{workspace.seed_examples_path()}; use at most {len(seeds)}")
        few, tuned, champion = _arms(args, workspace)
        result = evaluate_arms(holdout, few, tuned, args.shot_count, seeds=seeds, champion_arm=champion,
                               fine_tuned_shot_count=args.finetuned_shot_count, audit=AuditLog(workspace.llm_logs),
                               report_dir=args.report_dir or workspace.reports, n_bootstrap=args.bootstrap,
                               max_examples=args.max_examples, holdout_path=holdout_path, promotion_rules=rules)
    except (ValueError, OSError, EndpointError) as exc:
        raise UsageError(str(exc)) from None
    decision = result.decision
    print(comparison_table(result.report))
    print(f"\npromotion: {'PROMOTE' if decision.promote else 'do not promote'}")
    print(rules_table(decision))
    print(f"report: {result.report_path}")
    return 0
