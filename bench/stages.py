"""One function per benchmarked step, each run by `harness.measure` in a fresh process.

Every function returns {"records", "seconds", ...}: `seconds` is the stage itself, without the setup the
process needs first (imports, reading the input). Baselines are the obvious implementation of the same step;
where it would take too long they run on a sample and report a per-record cost (`per_record_s`).
"""

from __future__ import annotations

import json
import os
import time
from itertools import islice
from pathlib import Path


def ingest_step(inbox: str, out_dir: str) -> dict:
    """`lib.feedback.ingest.ingest_inbox` over a whole inbox into an empty store (the first, most expensive run). It runs on
    a copy: the ingestion moves the files out of the inbox, and the sensor stage reads the original."""
    import shutil

    from datapilot_pipeline.lib.feedback.ingest import ingest_inbox

    copy = Path(out_dir) / "inbox"
    shutil.copytree(inbox, copy)
    started = time.perf_counter()
    result = ingest_inbox(copy, Path(out_dir), settle_s=0)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in Path(out_dir).glob("feedback.sqlite*"))
    return {"records": result.new_feedback + result.quarantined + result.duplicates, "seconds": seconds,
            "bytes": size, "decisions": result.new_decisions, "quarantined": result.quarantined}


def ingest_baseline_step(inbox: str, sample: int) -> dict:
    """json.load + pydantic validation + one pandas row appended per file, on the first `sample` files."""
    import pandas as pd

    from datapilot_pipeline.lib.contracts import FeedbackFile

    names = sorted(n for n in os.listdir(inbox) if n.endswith(".json"))[:sample]
    table = pd.DataFrame()
    started = time.perf_counter()
    for name in names:
        with open(os.path.join(inbox, name), encoding="utf-8") as fh:
            fb = FeedbackFile.model_validate(json.load(fh))
        row = {"feedback_id": fb.feedback_id, "job_id": fb.job_id, "reviewer_id": fb.reviewer_id,
               "overall_score": fb.overall_score, "raw_json": fb.model_dump_json()}
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
    seconds = time.perf_counter() - started
    return {"records": len(names), "seconds": seconds, "per_record_s": seconds / len(names)}


def validate_step(path: str) -> dict:
    """`lib.validation.report.validate_dataset` (with the Great Expectations suite) on an exported file."""
    from datapilot_pipeline.lib.validation.report import validate_dataset

    started = time.perf_counter()
    report = validate_dataset(path).report
    seconds = time.perf_counter() - started
    return {"records": report["n_examples"], "seconds": seconds, "bytes": Path(path).stat().st_size,
            "quality_score": report["quality_score"]}


def validate_sharded_step(path: str, n_shards: int, workers: int) -> dict:
    """The same validation as `n_shards` shards on `workers` processes, merged (`lib.validation.shards`)."""
    from concurrent.futures import ProcessPoolExecutor

    from datapilot_pipeline.lib.validation.shards import merge_shard_results, validate_shard

    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        shards = list(pool.map(validate_shard, [path] * n_shards, range(n_shards), [n_shards] * n_shards))
    report = merge_shard_results(shards)
    seconds = time.perf_counter() - started
    return {"records": report["n_examples"], "seconds": seconds, "quality_score": report["quality_score"]}


def validate_baseline_step(path: str, sample: int) -> dict:
    """`bench.bench_validate.baseline`: Presidio on each line's full text, MinHash shingle by shingle."""
    from bench.bench_validate import baseline, default_analyzer

    with open(path, encoding="utf-8") as fh:
        lines = [line.rstrip("\n") for line in islice(fh, sample)]
    seconds, _found = baseline(lines, default_analyzer())
    return {"records": len(lines), "seconds": seconds, "per_record_s": seconds / len(lines)}


def sensor_step(inbox: str, new: int) -> dict:
    """One `new_feedback_sensor` scan after `new` files arrive in an inbox whose other files were counted."""
    from bench.bench_sensor import fill
    from datapilot_pipeline.lib.export.eligibility import is_eligible
    from datapilot_pipeline.lib.feedback.sensor_state import SensorCursor, scan

    counted = scan(inbox, SensorCursor(), is_eligible).cursor
    time.sleep(0.05)  # the new files must arrive after the cursor's ctime
    fill(Path(inbox), new, f"tick{time.time_ns()}")
    started = time.perf_counter()
    tick = scan(inbox, counted, is_eligible)
    seconds = time.perf_counter() - started
    if tick.new_files != new:
        raise RuntimeError(f"the tick saw {tick.new_files} new files, {new} arrived")
    for name in os.listdir(inbox):  # leave the inbox as it was for the other stages
        if name.startswith("tick"):
            os.unlink(os.path.join(inbox, name))
    return {"records": counted.files_seen + new, "seconds": seconds, "new_eligible": tick.new_eligible}


def sensor_baseline_step(inbox: str, sample: int) -> dict:
    """The naive tick: re-read and parse every inbox file (timed on `sample` files)."""
    from datapilot_pipeline.lib.feedback.inbox import read_feedback_file

    names = sorted(n for n in os.listdir(inbox) if n.endswith(".json"))[:sample]
    started = time.perf_counter()
    for name in names:
        read_feedback_file(os.path.join(inbox, name))
    seconds = time.perf_counter() - started
    return {"records": len(names), "seconds": seconds, "per_record_s": seconds / len(names)}


def training_step(variant: str, n_examples: int, steps: int, workdir: str) -> dict:
    """`bench.bench_training._run` on the tiny model: the project's config or TRL's defaults."""
    from bench.bench_training import _examples, _run
    from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model

    rows = _examples(n_examples)
    base = Path(workdir) / "base"
    if not (base / "config.json").exists():
        build_tiny_base_model(base, [r["prompt"] + r["completion"] for r in rows])
    info = _run(variant, str(base), rows, steps, str(Path(workdir) / variant))
    return {"records": int(info["tokens_per_s"] * info["train_seconds"]), "seconds": info["train_seconds"],
            "tokens_per_s": info["tokens_per_s"]}
