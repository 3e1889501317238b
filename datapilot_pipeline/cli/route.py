"""`datapilot route JOB_ID`: the job's A/B variant and the endpoint it calls.

Prints the job's sticky A/B variant and the chat-completions endpoint that variant calls, as one JSON line
({"job_id", "variant", "endpoint"}). Split, salt and endpoints come from `$DATAPILOT_HOME/ab_routing.json`
(defaults when absent: 50/50, the default salt, few-shot on OpenAI's API and fine-tuned on `datapilot serve` at
http://127.0.0.1:8000). The variant is what routing assigns the job id, by the same function that routes the
demo's synthetic traffic (`datapilot demo` reads the same file), so a demo job's result and reviews name this
variant. Exit 2 for a bad job id or a bad config file.
"""

from __future__ import annotations

import argparse
import json

from datapilot_pipeline.cli.common import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("route", help="the job's sticky A/B variant and the endpoint it calls",
                              description=__doc__.split("\n\n", 1)[1].strip())
    p.add_argument("job_id", metavar="JOB_ID")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datapilot_pipeline.lib.ab.routing import route

    try:
        print(json.dumps(route(args.job_id).to_dict()))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return 0
