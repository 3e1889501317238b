"""`datapilot serve`: a registered model behind an OpenAI-compatible chat-completions API (LitServe).

    datapilot serve --model models:/datapilot-insights@champion --host 127.0.0.1 --port 8000
    # then: OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused").chat.completions.create(...)
    # or:   datapilot eval --finetuned-endpoint http://127.0.0.1:8000/v1/chat/completions

Replies come from the evaluation's local generation code (greedy, bounded by --max-new-tokens).
"""

from __future__ import annotations

import argparse

from datapilot_pipeline.cli.common import UsageError, int_in_range


def register(subparsers: argparse._SubParsersAction) -> None:
    from datapilot_pipeline.lib.serving import DEFAULT_HOST, DEFAULT_MAX_NEW_TOKENS, DEFAULT_MODEL, DEFAULT_PORT

    p = subparsers.add_parser("serve", help="serve a registered model as OpenAI-compatible chat completions",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="URI|PATH",
                   help=f"models:/NAME@ALIAS, models:/NAME/VERSION, or an adapter/model directory (default {DEFAULT_MODEL})")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int_in_range(1, 65535), default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--base-model", metavar="PATH", help="base model for an adapter directory that names none")
    p.add_argument("--max-new-tokens", type=int_in_range(1, 8192), default=DEFAULT_MAX_NEW_TOKENS,
                   help=f"upper bound of a reply; a request's max_tokens may lower it (default {DEFAULT_MAX_NEW_TOKENS})")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datapilot_pipeline.lib.paths import Workspace
    from datapilot_pipeline.lib.serving import serve

    try:
        serve(args.model, args.host, args.port, Workspace.current(), args.base_model, args.max_new_tokens)
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    return 0
