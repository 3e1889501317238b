"""Throughput of the synthetic job and feedback generators (single process, one core).

    .venv/bin/python bench/bench_synthetic.py --jobs 10000 [--seed 0] [--write]

Prints jobs/s for `generate_jobs`, `generate_feedback` (each from a cold table pool) and, with
`--write`, for `write_feedback_files` into a temporary inbox (atomic writes, one fsync per file).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from datapilot_pipeline.lib.synthetic import generate_feedback, generate_jobs, write_feedback_files
from datapilot_pipeline.lib.synthetic.jobs import pool_entry


def _timed(label: str, n_jobs: int, run) -> None:
    pool_entry.cache_clear()  # include building the table pool, as a fresh process would
    start = time.perf_counter()
    produced = run()
    seconds = time.perf_counter() - start
    print(f"{label:<22} {n_jobs:>7} jobs -> {produced:>7} items in {seconds:6.2f} s  ({n_jobs / seconds:,.0f} jobs/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="also time writing feedback files")
    args = parser.parse_args()
    _timed("generate_jobs", args.jobs, lambda: sum(1 for _ in generate_jobs(args.jobs, args.seed)))
    _timed("generate_feedback", args.jobs, lambda: sum(1 for _ in generate_feedback(args.jobs, args.seed)))
    if args.write:
        with tempfile.TemporaryDirectory() as tmp:
            _timed("write_feedback_files", args.jobs,
                   lambda: len(write_feedback_files(Path(tmp) / "inbox", args.jobs, args.seed)))


if __name__ == "__main__":
    main()
