"""`make bench`: every stage at 1k, 10k and 100k synthetic jobs beside a baseline measured in the same run.

    .venv/bin/python -m bench [--sizes 1000 10000 100000] [--ingest-max 10000] [--baseline-sample 300]

Stages: ingest (inbox files -> Parquet), sensor tick (100 new files in an inbox already counted), export with
PII masking, validation (one pass, and as shards on worker processes at --shard-size), LoRA training
throughput on the tiny model, and import times. Each step runs in a fresh process (peak memory is that
process's). Baselines on a sample are extrapolated per record, which flatters baselines that grow faster
than linearly (pandas row appends). The per-record cost at every size shows how cost grows; a stage whose
per-record cost grows by more than GROWTH_FLAG between sizes is flagged. Results: bench/results/.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import stages
from bench.bench_export import BASELINE_SAMPLE as EXPORT_SAMPLE, baseline_step as export_baseline_step, export_step
from bench.harness import Measurement, Row, format_table, machine, write_results
from bench.harness import measure as _measure
from bench.workload import generate_step, write_inbox

GROWTH_FLAG = 1.5
NEW_FILES = 100
IMPORT_PROBES = {
    "import datapilot_pipeline.definitions": [sys.executable, "-c", "import datapilot_pipeline.definitions"],
    "load definitions (asset graph)": [sys.executable, "-c",
                                       "import datapilot_pipeline.definitions as d; d.defs.resolve_asset_graph()"],
    "datapilot --help": [sys.executable, "-m", "datapilot_pipeline", "--help"],
}


def measure(fn, *args) -> Measurement:
    """`harness.measure` with a progress line on stderr (a full run takes minutes)."""
    started = time.perf_counter()
    m = _measure(fn, *args)
    shown = ", ".join(str(a) if not isinstance(a, str) else Path(a).name for a in args)
    print(f"[bench] {fn.__name__}({shown}): step {m.seconds:.1f} s, process {time.perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)
    return m


def _row(stage: str, size: int, info: dict, peak_mb: float, baseline: str, per_record: float | None,
         note: str = "") -> Row:
    out_mb = info["bytes"] / 1e6 if "bytes" in info else None
    base = per_record * info["records"] if per_record is not None else None
    return Row(stage, size, info["records"], info["seconds"], peak_mb, out_mb, baseline, base, note)


def import_times(repeat: int = 2) -> list[str]:
    """Best-of wall seconds of each probe in a fresh interpreter (a timing, not a test: the load varies)."""
    lines = []
    for label, cmd in IMPORT_PROBES.items():
        best, error = float("inf"), None
        for _ in range(repeat):
            started = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                error = (done.stderr.strip().splitlines() or ["no output"])[-1]
                break
            best = min(best, time.perf_counter() - started)
        lines.append(f"import: {label} FAILED ({error})" if error else f"import: {label} {best:.2f} s")
    return lines


def growth(rows: list[Row]) -> tuple[str, list[str]]:
    """Per-record microseconds by size for each stage measured at several sizes; flags super-linear growth."""
    by_stage: dict[str, list[Row]] = {}
    for r in rows:
        by_stage.setdefault(r.stage, []).append(r)
    lines, flags = [f"{'stage':<26}per-record cost (us) by size"], []
    for stage, group in by_stage.items():
        if len(group) < 2:
            continue
        group.sort(key=lambda r: r.size)
        costs = [(r.size, r.seconds / r.records * 1e6) for r in group]
        lines.append(f"{stage:<26}" + "  ".join(f"{size:>7}: {us:9.1f}" for size, us in costs))
        for (s1, c1), (s2, c2) in zip(costs, costs[1:]):
            if c2 > c1 * GROWTH_FLAG:
                flags.append(f"SUPER-LINEAR? {stage}: per-record cost x{c2 / c1:.1f} from {s1} to {s2}")
    return "\n".join(lines), flags


def run(args: argparse.Namespace, work: Path) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes = [f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"]
    sizes = sorted(args.sizes)
    stream = str(work / "feedback.jsonl")
    gen = measure(generate_step, sizes[-1], stream)
    notes.append(f"setup: {sizes[-1]} synthetic jobs -> {gen.info['records']} feedback records generated once in "
                 f"{gen.seconds:.0f} s; each size reads a prefix of that stream")
    inboxes = {}
    for n in sizes:
        if n <= args.ingest_max:
            inboxes[n] = str(work / f"inbox_{n}")
            measure(write_inbox, stream, n, inboxes[n])
    sample_inbox = inboxes[max(inboxes)] if inboxes else None
    if sample_inbox:
        ingest_base = measure(stages.ingest_baseline_step, sample_inbox, args.baseline_sample).info["per_record_s"]
        sensor_base = measure(stages.sensor_baseline_step, sample_inbox, args.baseline_sample).info["per_record_s"]
    export_base = measure(export_baseline_step, EXPORT_SAMPLE).info["per_example_s"]
    validate_base = None
    for n in sizes:
        if n in inboxes:
            m = measure(stages.ingest_step, inboxes[n], str(work / f"tables_{n}"))
            rows.append(_row("ingest", n, m.info, m.peak_mb, "json+pydantic+pandas append/file", ingest_base,
                             f"baseline: {args.baseline_sample} files, per-record extrapolation"))
            m = measure(stages.sensor_step, inboxes[n], NEW_FILES)
            rows.append(_row("sensor tick", n, m.info, m.peak_mb, "re-read whole inbox per tick", sensor_base,
                             f"{NEW_FILES} new files; baseline: {args.baseline_sample} files parsed, extrapolated"))
        out = work / f"export_{n}"
        out.mkdir()
        m = measure(export_step, n, 3, stream, str(out))
        rows.append(_row("export + masking", n, m.info, m.peak_mb, "presidio on every string", None))
        rows[-1].baseline_seconds = export_base * m.info["examples"]
        rows[-1].baseline_note = f"baseline: {EXPORT_SAMPLE} examples, per-example extrapolation"
        dataset = str(out / "finetune.jsonl")
        if validate_base is None:
            validate_base = measure(stages.validate_baseline_step, dataset, args.baseline_sample).info["per_record_s"]
        m = measure(stages.validate_step, dataset)
        rows.append(_row("validation", n, m.info, m.peak_mb, "presidio full text + minhash/shingle",
                         validate_base, f"baseline: {args.baseline_sample} lines, per-line extrapolation"))
        if n == args.shard_size and args.shards > 1:
            m = measure(stages.validate_sharded_step, dataset, args.shards, args.workers)
            one_pass = rows[-1].seconds
            rows.append(Row(f"validation {args.shards} shards/{args.workers}p", n, m.info["records"],
                            m.info["seconds"], m.peak_mb, None, "one pass (row above)", one_pass,
                            "same report; peak MB is the parent's"))
    rows += training_rows(args, work)
    return rows, notes


def training_rows(args: argparse.Namespace, work: Path) -> list[Row]:
    (work / "train").mkdir()
    ours = measure(stages.training_step, "project", args.train_examples, args.train_steps, str(work / "train"))
    trl = measure(stages.training_step, "trl_defaults", args.train_examples, args.train_steps, str(work / "train"))
    tokens = ours.info["records"]
    return [Row("training (tokens)", args.train_examples, tokens, ours.info["seconds"], ours.peak_mb, None,
                "TRL SFTConfig defaults", tokens / trl.info["tokens_per_s"],
                f"{args.train_steps} steps on the tiny model; baseline: time for the same tokens at TRL's "
                f"{trl.info['tokens_per_s']:.0f} tokens/s, peak {trl.peak_mb:.0f} MB")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--ingest-max", type=int, default=10_000, help="largest size written as inbox files")
    parser.add_argument("--baseline-sample", type=int, default=150)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=10_000, help="size at which sharded validation runs "
                        "beside the one pass (at 100k it adds ~3 minutes on 2 cores)")
    parser.add_argument("--train-examples", type=int, default=40)
    parser.add_argument("--train-steps", type=int, default=10)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="datapilot_bench_") as tmp:
        rows, notes = run(args, Path(tmp))
    imports = import_times()
    table, flags = growth(rows)
    notes += imports
    notes += flags or [f"every data stage grows linearly (per-record cost within x{GROWTH_FLAG} between sizes)"]
    notes.append(f"load average at end: {os.getloadavg()[0]:.1f}; total {time.perf_counter() - started:.0f} s")
    print(f"machine: {machine()}\n")
    print(format_table(rows))
    print("\n" + table + "\n")
    print("\n".join(notes + [f"{r.stage} {r.size}: {r.baseline_note}" for r in rows if r.baseline_note]))
    print(f"\nresults: {write_results(rows, notes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
