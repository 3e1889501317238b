"""Run the `datapilot` command and SIGKILL it at a chosen point, to test what a crash there leaves behind.

    python -m datapilot_pipeline_tests.reliability.killpoint replace NAME -- ARGS...   # before `os.replace` publishes NAME
    python -m datapilot_pipeline_tests.reliability.killpoint call MODULE:ATTR -- ARGS... # when MODULE.ATTR is called
    python -m datapilot_pipeline_tests.reliability.killpoint call MODULE:ATTR@N -- ARGS... # at its Nth call

Without a matching point the command runs to its end and exits with its own code.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_before_replace(name: str) -> None:
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.path.basename(os.fspath(dst)) == name:
            _die()
        return real(src, dst, *args, **kwargs)

    os.replace = replace


def _kill_on_call(target: str) -> None:
    target, _, nth = target.partition("@")
    module_name, path = target.split(":")
    owner = importlib.import_module(module_name)
    *parents, attr = path.split(".")
    for name in parents:  # `Class.method` patches the method on the class
        owner = getattr(owner, name)
    real, calls, last = getattr(owner, attr), [0], int(nth or 1)

    def call(*args, **kwargs):
        calls[0] += 1
        if calls[0] >= last:
            _die()
        return real(*args, **kwargs)  # the calls before the Nth run as usual

    setattr(owner, attr, call)


def arm(kind: str, point: str) -> None:
    """Make this process SIGKILL itself at `point` (kind `replace` or `call`, as on the command line)."""
    if kind not in ("replace", "call"):
        raise ValueError(f"unknown kill point kind {kind!r}")
    (_kill_before_replace if kind == "replace" else _kill_on_call)(point)


def main(argv: list[str]) -> int:
    kind, point, sep, *args = argv
    if sep != "--" or kind not in ("replace", "call"):
        raise SystemExit(__doc__)
    arm(kind, point)
    from datapilot_pipeline.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
