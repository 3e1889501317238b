"""The `datapilot` command. Each subcommand is a module in this package with `register(subparsers)`;
modules import their heavy dependencies inside their handlers so `datapilot --help` stays fast."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from datapilot_pipeline.cli.common import UsageError, run_handler


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line and exit code 2 (its default prints the usage too)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="datapilot", description="DataPilot feedback -> fine-tuning pipeline.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "common":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from datapilot_pipeline.cli._output import quiet_output
    from datapilot_pipeline.lib.paths import Workspace

    parser = build_parser()
    args = parser.parse_args(argv)
    with quiet_output(Workspace.current().cli_log):  # libraries' known warnings go to the log, not the screen
        return run_handler(args.handler, args)


__all__ = ["main", "build_parser", "UsageError"]
