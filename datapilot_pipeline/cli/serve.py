"""`datapilot serve`: a registered model behind an OpenAI-compatible API (LitServe): `/v1/chat/completions` (plain or
`stream: true`), `/v1/models`; errors in OpenAI's shape (401 bad key, 400 bad request or a prompt over the model's
context, 413 body too large).

    DATAPILOT_API_KEYS=key1,key2 datapilot serve --model models:/datapilot-insights@champion --api-key-env DATAPILOT_API_KEYS
    # then: OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="key1").chat.completions.create(...)
    # or:   datapilot eval --finetuned-endpoint http://127.0.0.1:8000/v1/chat/completions --api-key-env DATAPILOT_API_KEYS

Replies are greedy unless a request sets `temperature`; `response_format` (json_object, json_schema) constrains the
reply to the schema; with no `max_tokens` a reply may run as long as the schema's longest answer (the insights
contract's without a schema), so a default reply is never cut before a contract answer completes. Concurrent
requests are batched continuously (up to --max-batch-size). Every request is recorded in data/llm_logs/.
"""

from __future__ import annotations

import argparse
import os

from datapilot_pipeline.cli.common import UsageError, int_in_range


def register(subparsers: argparse._SubParsersAction) -> None:
    from datapilot_pipeline.lib.serving import (
        DEFAULT_HOST, DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BODY_BYTES, DEFAULT_MODEL, DEFAULT_PORT, HOSTS,
    )

    p = subparsers.add_parser("serve", help="serve a registered model as OpenAI-compatible chat completions",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="URI|PATH",
                   help=f"models:/NAME@ALIAS, models:/NAME/VERSION, or an adapter/model directory (default {DEFAULT_MODEL})")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind: {', '.join(HOSTS)} (default {DEFAULT_HOST}; "
                                                        "any other than 127.0.0.1 needs --api-key-env)")
    p.add_argument("--port", type=int_in_range(1, 65535), default=DEFAULT_PORT, help=f"port, 1024 or above (default {DEFAULT_PORT})")
    p.add_argument("--api-key-env", metavar="VAR",
                   help="environment variable holding the accepted API keys, comma-separated; requests must send "
                        "'Authorization: Bearer KEY' (without it the server is open, which only 127.0.0.1 allows)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="serve on a non-loopback --host without any API key")
    p.add_argument("--base-model", metavar="PATH", help="base model for an adapter directory that names none")
    p.add_argument("--max-new-tokens", type=int_in_range(1, 1 << 20), default=None, metavar="N",
                   help="refuse requests asking for more than N reply tokens and bound default replies to N "
                        "(default: the model's context)")
    p.add_argument("--max-batch-size", type=int_in_range(1, 256), default=DEFAULT_MAX_BATCH_SIZE, metavar="N",
                   help=f"requests generated together (default {DEFAULT_MAX_BATCH_SIZE}; 1 answers one at a time)")
    p.add_argument("--max-body-bytes", type=int_in_range(1024, 1 << 30), default=DEFAULT_MAX_BODY_BYTES, metavar="N",
                   help=f"larger request bodies get 413 unread (default {DEFAULT_MAX_BODY_BYTES})")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datapilot_pipeline.lib.paths import Workspace
    from datapilot_pipeline.lib.serving import parse_keys, serve

    keys: list[str] = []
    if args.api_key_env:
        keys = parse_keys(os.environ.get(args.api_key_env))
        if not keys:
            raise UsageError(f"--api-key-env {args.api_key_env}: the variable is unset or holds no key")
    try:
        serve(args.model, args.host, args.port, Workspace.current(), args.base_model, keys=keys,
              key_source=args.api_key_env, insecure_no_auth=args.insecure_no_auth, max_body_bytes=args.max_body_bytes,
              max_batch_size=args.max_batch_size, max_reply_tokens=args.max_new_tokens, log_level=args.log_level)
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    return 0
