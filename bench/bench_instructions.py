"""Validation's work counted in CPU instructions, this tree beside a git revision, under Valgrind.

On a shared 2-core machine the wall and CPU time of one validation move by a third from run to run, more than most
changes to it. The instructions a worker process executes repeat to 0.5% from run to run, so a change is measured
by them; the main process's count moves by up to ~12% (its thread importing Great Expectations and its thread
folding results hand the GIL to each other as the scheduler lets them), so compare it over several runs:

    .venv/bin/python -m bench.bench_instructions --baseline f4876e6 [--lines 5000] [--workers 2]

writes the `bench_validate` file (realistic 2.9 KB lines, planted PII), validates it with each tree in a fresh
process under `valgrind --tool=cachegrind --cache-sim=no --trace-children=yes` (spawned workers and forked processes
included), and prints each tree's processes with their instructions, and the ratio of the totals. A forked process's
count starts from its parent's at the fork (Valgrind copies its counters): its own work is less than it shows. The baseline tree is a `git worktree` of the revision, made
and removed here. Valgrind runs a program ~40x slower: 5,000 lines take ~3 minutes a side.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datapilot_pipeline.lib.atomic import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).parent / "results"
_COUNT = re.compile(r"==(\d+)== I\s+refs:\s+([\d,]+)")
_COMMAND = re.compile(r"==(\d+)== Command: (.*)")
_RUN = ("import sys\nfrom datapilot_pipeline.lib.validation.report import validate_dataset\n"
        "report = validate_dataset(sys.argv[1], workers=int(sys.argv[2])).report\n"
        "print(report['quality_score'], report['source']['sha256'])\n")


FORKED_NOTE = ("a forked process's count includes its parent's instructions up to the fork (Valgrind copies its "
               "counters with the process), so a total with forked processes overstates the work done; compare "
               "`bench_validate`'s wall and CPU time there")


def _kind(command: str | None) -> str:
    if command is None:  # a forked process (a worker, or the Great Expectations suite's) runs no command of its own
        return "forked"
    if "spawn_main" in command:
        return "worker"
    if "resource_tracker" in command:
        return "resource tracker"
    return "main"


def count(tree: Path, dataset: Path, workers: int) -> dict:
    """Instructions per process of one validation of `dataset` by the code in `tree`."""
    # OpenBLAS on one thread in both trees (this one sets it itself): Valgrind runs one thread at a time, so a helper
    # thread's busy-waiting would count as work, and as much as the scheduler lets it run.
    env = {**os.environ, "PYTHONPATH": str(tree), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes",
                          "--cachegrind-out-file=/dev/null", sys.executable, "-c", _RUN, str(dataset), str(workers)],
                         cwd=tree, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"validation under valgrind failed in {tree}: {out.stderr.strip().splitlines()[-1:]}")
    processes = parse_counts(out.stderr)
    return {"tree": str(tree), "report": out.stdout.strip(), "processes": processes,
            "total": sum(p["instructions"] for p in processes)}


def parse_counts(stderr: str) -> list[dict]:
    """Each traced process's kind and instruction count from Valgrind's output, the main process first."""
    commands = dict(_COMMAND.findall(stderr))
    processes = [{"kind": _kind(commands.get(pid)), "instructions": int(n.replace(",", ""))}
                 for pid, n in _COUNT.findall(stderr)]
    return sorted(processes, key=lambda p: ("main", "worker", "forked", "resource tracker").index(p["kind"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision to compare with (e.g. a commit or a tag)")
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    from bench.bench_validate import build

    with tempfile.TemporaryDirectory() as tmp:
        dataset = Path(tmp) / "bench.jsonl"
        build(args.lines, dataset)
        baseline = Path(tmp) / "baseline"
        made = subprocess.run(["git", "worktree", "add", "--detach", str(baseline), args.baseline], cwd=ROOT,
                              capture_output=True, text=True)
        if made.returncode != 0:
            raise SystemExit(f"cannot check out {args.baseline}: {made.stderr.strip()}")
        try:
            before, after = count(baseline, dataset, args.workers), count(ROOT, dataset, args.workers)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, capture_output=True)
    if before["report"] != after["report"]:
        print(f"the reports differ: {before['report']} against {after['report']}")
    print(f"validation of {args.lines} bench_validate lines, {args.workers} worker(s): instructions (G)")
    for name, counted in ((args.baseline[:12], before), ("this tree", after)):  # the trees may differ in processes
        listed = ", ".join(f"{p['kind']} {p['instructions'] / 1e9:.2f}" for p in counted["processes"])
        print(f"{name:<12}{listed}; total {counted['total'] / 1e9:.2f}")
    print(f"total ratio {after['total'] / before['total']:.3f}")
    if any(p["kind"] == "forked" for counted in (before, after) for p in counted["processes"]):
        print(f"note: {FORKED_NOTE}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    atomic_write_json(RESULTS_DIR / f"instructions_{stamp}.json",
                      {"baseline": args.baseline, "lines": args.lines, "workers": args.workers,
                       "before": before, "after": after})


if __name__ == "__main__":
    main()
