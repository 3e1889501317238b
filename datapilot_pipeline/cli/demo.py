"""`datapilot demo`: synthetic reviewed jobs -> the whole asset graph, offline, on the shipped demo base model."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from datapilot_pipeline.cli.common import UsageError, int_in_range


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole pipeline on synthetic feedback, offline",
                                   description=__doc__)
    parser.add_argument("--jobs", type=int_in_range(1, 100_000), default=None,
                        help="synthetic reviewed jobs to generate (default 160; 600 with --base-model, whose longer "
                             "token counts leave out more jobs and whose evaluation needs a holdout of 40)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    parser.add_argument("--base-model", metavar="NAME", default=None,
                        help="run on a real base model instead of the shipped demo base, e.g. smollm2-135m-instruct "
                             "(SmolLM2-135M-Instruct, installed by make install), with the run sized for it: "
                             "about 45 minutes on 2 CPU cores")
    parser.add_argument("--home", type=Path, default=None,
                        help="working root (default $DATAPILOT_HOME or the current directory)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datapilot_pipeline.demo import run_demo

    home = (args.home or Path(os.environ.get("DATAPILOT_HOME") or Path.cwd())).resolve()
    if home.exists() and not home.is_dir():
        raise UsageError(f"--home is not a directory: {home}")
    from datapilot_pipeline.lib.ab.routing import load_routing

    try:  # the synthetic traffic is routed as `datapilot route` routes: by the workspace's ab_routing.json
        routing = load_routing(home)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.base_model is not None:
        from datapilot_pipeline.lib.generation.modeling import resolve_base_model
        from datapilot_pipeline.lib.paths import Workspace

        try:  # a name that resolves to no model is a usage error before any synthetic data is written
            resolve_base_model(args.base_model, Workspace(home))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    n_jobs = args.jobs or (160 if args.base_model is None else 600)
    return run_demo(home, n_jobs=n_jobs, seed=args.seed, routing=routing, base_model=args.base_model)
