"""Sensor tick benchmark: an inbox of 100,000 feedback files already counted, 100 new ones arriving, one
`new_feedback_sensor` scan (os.scandir + one stat per entry, parse only the new files) beside the naive tick
that re-reads and re-parses the whole inbox. The naive tick is timed on a sample and extrapolated linearly
(it parses every file: its cost is proportional to the file count).

    .venv/bin/python -m bench.bench_sensor [--files 100000] [--new 100] [--baseline-sample 2000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from datapilot_pipeline.lib.export.eligibility import is_eligible
from datapilot_pipeline.lib.feedback.collector import build_feedback, feedback_json
from datapilot_pipeline.lib.feedback.inbox import feedback_filename, load_inbox
from datapilot_pipeline.lib.feedback.sensor_state import SensorCursor, new_entries, scan
from datapilot_pipeline_tests.feedback_fixtures import feedback_kwargs

RESULTS_DIR = Path(__file__).parent / "results"


def fill(inbox: Path, n: int, prefix: str) -> None:
    """`n` valid, eligible reviews (plain writes: the benchmark measures reading, not writing)."""
    inbox.mkdir(parents=True, exist_ok=True)
    template = feedback_kwargs()
    for i in range(n):
        feedback = build_feedback(**{**template, "job_id": f"{prefix}_{i:06d}"})
        (inbox / feedback_filename(feedback.job_id, feedback.created_at, feedback.feedback_id)).write_text(
            feedback_json(feedback), encoding="utf-8")


def naive_tick(inbox: Path) -> int:
    """What a tick without a cursor does: parse every file and apply the export rule to each."""
    good, _bad = load_inbox(inbox)
    return sum(1 for _path, feedback in good if is_eligible(feedback))


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--baseline-sample", type=int, default=2_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_sensor_") as tmp:
        inbox, sample = Path(tmp) / "inbox", Path(tmp) / "sample"
        started = time.perf_counter()
        fill(inbox, args.files, "old")
        fill(sample, args.baseline_sample, "sample")
        print(f"wrote {args.files} + {args.baseline_sample} files in {time.perf_counter() - started:.1f}s")

        # The steady state: every old file was counted by earlier ticks (stat only, as a tick does).
        last = new_entries(inbox, (0, ""))[-1]
        counted = SensorCursor(ctime_ns=last.ctime_ns, name=last.name, pending=args.files % 100)
        time.sleep(0.05)
        fill(inbox, args.new, "new")
        tick_s, tick = best_of(lambda: scan(inbox, counted, is_eligible))
        assert tick.new_files == args.new and tick.new_eligible == args.new, tick
        idle_s, idle = best_of(lambda: scan(inbox, tick.cursor, is_eligible))
        assert idle.new_files == 0

        sample_s, eligible = best_of(lambda: naive_tick(sample), repeat=1)
        assert eligible == args.baseline_sample
        naive_s = sample_s / args.baseline_sample * (args.files + args.new)
        report(args, tick_s, idle_s, sample_s, naive_s)  # before removing 100k files, which takes minutes


def report(args: argparse.Namespace, tick_s: float, idle_s: float, sample_s: float, naive_s: float) -> None:
    row = {"inbox_files": args.files + args.new, "new_files": args.new, "tick_s": round(tick_s, 4),
           "idle_tick_s": round(idle_s, 4),
           "naive_reread_s_extrapolated": round(naive_s, 2), "naive_sample_files": args.baseline_sample,
           "speedup": round(naive_s / tick_s, 1)}
    print(f"sensor tick, {args.new} new of {row['inbox_files']} files: {tick_s * 1000:.0f} ms "
          f"(no new files: {idle_s * 1000:.0f} ms)")
    print(f"naive full re-read of {row['inbox_files']} files: {naive_s:.1f} s "
          f"(extrapolated from {args.baseline_sample} files in {sample_s:.2f} s) -> {row['speedup']}x")
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "sensor.json").write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
