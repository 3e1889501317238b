"""Export and validation at 10k, 100k and 1M jobs: wall time and peak RSS of the streaming code beside the in-memory
code it replaced (`bench.baseline`), each step in a fresh process, and how both grow with the store.

    .venv/bin/python -m bench.bench_scale [--sizes 10000 100000] [--shots 1] [--baseline-max 100000]
    .venv/bin/python -m bench.bench_scale --sizes 1000000 --baseline-max 0     # the 1M run (no in-memory baseline)
    make bench-scale; make bench-scale-1m                                     # the same two runs
    .venv/bin/python -m bench.bench_scale --sizes 1000000 --baseline-max 0 --keep /tmp/scale1m --steps export
                                           # keep the store and the export: validation can run on them later
    .venv/bin/python -m bench.bench_scale --sizes 10000 100000 --baseline-max 0 --budget   # the product path

The store is a SQLite feedback store of N jobs (1.2 reviews a job), filled in bulk from `TEMPLATES` synthetic jobs
(generating a million jobs with `lib.synthetic` would take hours of CPU): copy i of a template gets its own job id,
feedback ids, table name (so its own split) and sample-row values (so lines are not near-duplicates of each other).
Export streams the store (`export_reviews` over `iter_stored_groups`, what `datapilot export` runs) against the
in-memory export over `stored_reviews`; validation runs on the exported file (`validate_dataset`, Great Expectations
included) against the in-memory validation. Both exports must write the same bytes (checked, in the notes). The
growth exponent k of a step between two sizes is log(t2/t1) / log(n2/n1) (1 = linear), likewise for peak RSS.
No token budget is applied by default (no tokenizer), the same for both sides; `--budget` applies the demo base model's,
as `datapilot export` does (then validation counts with it too, through the export's recipe; `bench_tokens` measures
the counting alone). Streaming validation uses worker processes
for files of 16 MB or more and streaming export for more than 2,000 examples, when a core is spare (`worker_count`;
`--workers 1` / `--export-workers 1` for one process): peak RSS is then the step's own plus each worker's at the
largest worker's peak, and CPU seconds include the workers'. Results:
bench/results/scale_<stamp>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from bench.harness import RESULTS_DIR, machine
from bench.harness import measure as _measure

TEMPLATES = 300
FILL_CHUNK = 5000


def measure(fn, *args):
    """`harness.measure` with a progress line on stderr (a 100k run takes most of an hour on a busy machine)."""
    import sys

    m = _measure(fn, *args)
    print(f"[scale] {time.strftime('%H:%M:%S')} {fn.__name__}: {m.seconds:.1f} s, peak {m.peak_mb:.0f} MB"
          f"{f' (+ workers {m.children_peak_mb:.0f} MB each)' if m.children_peak_mb else ''}, "
          f"at most {m.sampled_total_mb:.0f} MB at once (sampled), "
          f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    return m


def templates_step(path: str) -> dict:
    """Feedback of `TEMPLATES` synthetic jobs as JSONL (the setup: not timed in the table)."""
    from bench.workload import generate_step

    return generate_step(TEMPLATES, path)


def _vary(review: dict, i: int, rng: random.Random) -> dict:
    """Copy `i` of a template review: its own job, table name and sample-row values (evidence stays valid: it cites
    aggregates and row indices, not sample-row values)."""
    eda = review["compact_eda"]
    name = eda["dataset"]["name"]
    stem, dot, ext = name.rpartition(".")
    eda["dataset"]["name"] = f"{stem}_{i}{dot}{ext}" if dot else f"{name}_{i}"
    for row in eda.get("sample_rows") or []:
        values = row.get("values") if isinstance(row.get("values"), dict) else row
        for key, value in list(values.items()):
            if key == "row_index":
                continue
            if isinstance(value, float):
                values[key] = round(value * rng.uniform(0.5, 1.5), 2)
            elif isinstance(value, int) and not isinstance(value, bool):
                values[key] = rng.randint(0, 10 * abs(value) + 10)
            elif isinstance(value, str):
                values[key] = f"{value[:12]} {rng.randrange(10**6)}"
    review["job_id"] = f"job_{i:07d}"
    review["feedback_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return review


def fill_step(n_jobs: int, templates_path: str, feedback_dir: str) -> dict:
    """A store of `n_jobs` jobs, inserted in bulk transactions (setup, not timed in the table). Each template review
    is validated once; a copy is the template's validated JSON varied in place (`_vary`) and its row the template's
    row with the varied fields (validating every copy took 27 ms a job at load 8, 45 minutes for 100k jobs). The
    first two copies of every template are validated and must dump to the JSON stored."""
    from datapilot_pipeline.lib.atomic import dumps_compact
    from datapilot_pipeline.lib.contracts import FeedbackFile
    from datapilot_pipeline.lib.feedback import store
    from datapilot_pipeline.lib.feedback.tables import feedback_row

    jobs: dict[str, list[str]] = {}
    with open(templates_path, encoding="utf-8") as fh:
        for line in fh:
            jobs.setdefault(json.loads(line)["job_id"], []).append(line)
    groups = []
    for lines in jobs.values():
        group = []
        for line in lines:
            template = FeedbackFile.model_validate(json.loads(line))
            raw = dumps_compact(template.model_dump(mode="json"))
            group.append((raw, feedback_row(template, "", raw, "0" * 64, "2026-01-01T00:00:00Z")))
        groups.append(group)
    url = store.store_url_for(feedback_dir)
    started, rows, n_reviews = time.perf_counter(), [], 0
    for i in range(n_jobs):
        rng = random.Random(i)
        for template_raw, template_row in groups[i % len(groups)]:
            review = _vary(json.loads(template_raw), i, rng)
            raw = dumps_compact(review)
            if i < 2 * len(groups):  # the first two copies of every template: validating the copy changes nothing
                if dumps_compact(FeedbackFile.model_validate_json(raw).model_dump(mode="json")) != raw:
                    raise AssertionError(f"copy {i} of {review['job_id']}: the stored JSON is not the validated one")
            rows.append({**template_row, "feedback_id": review["feedback_id"], "job_id": review["job_id"],
                         "dataset_name": review["compact_eda"]["dataset"]["name"],
                         "source_file": f"fill_{n_reviews}.json", "raw_json": raw})
            n_reviews += 1
        if len(rows) >= FILL_CHUNK or i == n_jobs - 1:
            with store.write_transaction(url) as conn:
                store.insert_rows(conn, "feedback", rows)
            rows = []
    size = sum(p.stat().st_size for p in Path(feedback_dir).glob("feedback.sqlite*"))
    return {"records": n_reviews, "seconds": time.perf_counter() - started, "bytes": size}


def _seeds(templates_path: str) -> list[dict]:
    with open(templates_path, encoding="utf-8") as fh:
        first = [json.loads(next(fh)) for _ in range(8)]
    return [{"example_id": f"seed_{k}", "compact_eda": d["compact_eda"], "output": d["llm_output"]}
            for k, d in enumerate(first)]


def _export_info(result, seconds: float, out: Path, n_reviews: int) -> dict:
    size = sum(Path(p).stat().st_size for p in result.paths.values())
    return {"records": n_reviews, "seconds": seconds, "bytes": size, "exported": result.n_exported,
            "sha256": result.sha256["prompt-completion"]}


def export_stream_step(feedback_dir: str, templates_path: str, out: str, shots: int, workers: int | None = None,
                       tokenizer: str | None = None) -> dict:
    """`export_reviews` over the store streamed job by job: what `datapilot export` runs, with `workers` processes
    (None: its own choice, `worker_count` with `$DATAPILOT_EXPORT_WORKERS`) and the token budget of the tokenizer in
    the folder `tokenizer` (loaded as `datapilot export` loads it; None: no budget)."""
    from datapilot_pipeline.lib.export import ExportOptions, export_reviews, holdout_path_for
    from datapilot_pipeline.lib.export.pipeline import WORKERS_ENV
    from datapilot_pipeline.lib.feedback.ingest import iter_stored_groups
    from datapilot_pipeline.lib.pii import get_analyzer
    from datapilot_pipeline.lib.workers import worker_count

    get_analyzer()  # built once per process (~1 s), as in bench_export
    seeds, path = _seeds(templates_path), Path(out)
    workers = worker_count(large=True, workers=workers, env=WORKERS_ENV)
    started, cpu = time.perf_counter(), _cpu()
    budget = {}
    if tokenizer is not None:
        from datapilot_pipeline.lib.generation.token_budget import TokenBudget

        budget["budget_for"] = lambda: TokenBudget.load_for_counting(tokenizer)
    result = export_reviews(lambda: iter_stored_groups(feedback_dir), seeds, ExportOptions(shot_count=shots),
                            {"prompt-completion": path}, holdout_path_for(path), workers=workers, **budget)
    seconds = time.perf_counter() - started
    return {**_export_info(result, seconds, path, result.review_stats["n_reviews"]), "workers": workers,
            "cpu_seconds": _cpu() - cpu}


def export_memory_step(feedback_dir: str, templates_path: str, out: str, shots: int) -> dict:
    """The in-memory export (`bench.baseline.export_in_memory`) over every stored review read into a list."""
    from bench.baseline.export_in_memory import export_dataset
    from datapilot_pipeline.lib.export import ExportOptions, holdout_path_for
    from datapilot_pipeline.lib.feedback.ingest import stored_reviews
    from datapilot_pipeline.lib.pii import get_analyzer

    get_analyzer()
    seeds, path = _seeds(templates_path), Path(out)
    started = time.perf_counter()
    reviews = [fb for _, fb in stored_reviews(feedback_dir)]
    result = export_dataset(reviews, seeds, ExportOptions(shot_count=shots), {"prompt-completion": path},
                            holdout_path_for(path))
    seconds = time.perf_counter() - started
    return _export_info(result, seconds, path, len(reviews))


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (validation workers)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _validate(fn, path: str, **kwargs) -> dict:
    from datapilot_pipeline.lib.pii import get_analyzer

    get_analyzer()
    started, cpu = time.perf_counter(), _cpu()
    report = fn(path, **kwargs).report
    return {"records": report["n_examples"], "seconds": time.perf_counter() - started,
            "cpu_seconds": _cpu() - cpu, "bytes": Path(path).stat().st_size, "workers": kwargs.get("workers", 1),
            "quality_score": report["quality_score"],
            "figures": json.dumps({k: v for k, v in report.items() if k != "created_at"}, sort_keys=True)}


def validate_stream_step(path: str, workers: int | None = None) -> dict:
    """`validate_dataset` with `workers` processes (None: its own choice, `worker_count`)."""
    from datapilot_pipeline.lib.validation.report import validate_dataset, worker_count

    return _validate(validate_dataset, path, workers=worker_count(Path(path), workers))


def _stream_peak(m) -> float:
    """Peak RSS of a streaming step: its process plus, when it ran worker processes, each worker counted at the
    largest worker's peak (an upper bound of what the processes held together; `stream_sampled_mb`, the table's "at
    once", is the largest sum sampled every 0.2 s)."""
    workers = m.info.get("workers", 1)
    return m.peak_mb + (workers * m.children_peak_mb if workers > 1 else 0.0)


def validate_memory_step(path: str) -> dict:
    from bench.baseline.validate_in_memory import validate_dataset

    return _validate(validate_dataset, path)


def _exponent(points: list[tuple[int, float]]) -> str:
    if len(points) < 2:
        return "-"
    (n1, v1), (n2, v2) = points[0], points[-1]
    return f"{math.log(v2 / v1) / math.log(n2 / n1):.2f}" if v1 > 0 and v2 > 0 else "-"


def _table(rows: list[dict]) -> str:
    head = (f"{'step':<12}{'jobs':>9}{'lines':>9}{'stream s':>10}{'peak MB':>9}{'at once':>9}{'in-mem s':>10}"
            f"{'peak MB':>9}"
            f"{'time x':>8}{'mem x':>8}")
    out = [head, "-" * len(head)]
    for r in rows:
        old_s = f"{r['memory_s']:10.1f}" if r.get("memory_s") is not None else f"{'-':>10}"
        old_mb = f"{r['memory_mb']:9.0f}" if r.get("memory_mb") is not None else f"{'-':>9}"
        tx = f"{r['memory_s'] / r['stream_s']:7.2f}x" if r.get("memory_s") else f"{'-':>8}"
        mx = f"{r['memory_mb'] / r['stream_mb']:7.1f}x" if r.get("memory_mb") else f"{'-':>8}"
        at_once = f"{r['stream_sampled_mb']:9.0f}" if r.get("stream_sampled_mb") else f"{'-':>9}"
        out.append(f"{r['step']:<12}{r['jobs']:>9}{r['lines']:>9}{r['stream_s']:10.1f}{r['stream_mb']:9.0f}{at_once}"
                   f"{old_s}{old_mb}{tx}{mx}")
    return "\n".join(out)


def _final_notes(rows: list[dict], notes: list[str], load_start: tuple) -> list[str]:
    out = list(notes)
    for step in ("export", "validation"):
        for side, key in (("stream", "stream"), ("in-memory", "memory")):
            pts = [(r["jobs"], r[f"{key}_s"]) for r in rows if r["step"] == step and r.get(f"{key}_s")]
            mem = [(r["jobs"], r[f"{key}_mb"]) for r in rows if r["step"] == step and r.get(f"{key}_mb")]
            if len(pts) > 1:
                out.append(f"growth exponent, {step} {side}: time {_exponent(pts)}, peak RSS {_exponent(mem)}")
    load_end = os.getloadavg()
    out.append(f"load average (1, 5, 15 min) at start {tuple(round(x, 2) for x in load_start)}, "
               f"at end {tuple(round(x, 2) for x in load_end)}, on {os.cpu_count()} cores")
    return out


def _write(rows: list[dict], notes: list[str], load_start: tuple, shots: int, stamp: str) -> Path:
    """bench/results/scale_<stamp>.json with the sizes done so far (rewritten after each size)."""
    from datapilot_pipeline.lib.atomic import atomic_write_json

    return atomic_write_json(RESULTS_DIR / f"scale_{stamp}.json", {
        "created_at": stamp, "machine": machine(), "shots": shots, "rows": rows,
        "notes": _final_notes(rows, notes, load_start)})


def _work_folder(keep: str | None, parent: str | None):
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        return contextlib.nullcontext(keep)
    return tempfile.TemporaryDirectory(dir=parent)


def _export_rows(n: int, args, store_dir: Path, templates: str, new_out: Path, old_out: Path, rows: list[dict],
                 notes: list[str], tokenizer: str | None) -> None:
    new = measure(export_stream_step, str(store_dir), templates, str(new_out), args.shots, args.export_workers,
                  tokenizer)
    old = measure(export_memory_step, str(store_dir), templates, str(old_out), args.shots) \
        if n <= args.baseline_max and tokenizer is None else None
    rows.append({"step": "export", "jobs": n, "budget": tokenizer is not None, "lines": new.info["exported"],
                 "stream_s": new.info["seconds"],
                 "stream_mb": _stream_peak(new), "stream_sampled_mb": new.sampled_total_mb,
                 "stream_workers": new.info["workers"],
                 "stream_main_mb": new.peak_mb, "stream_cpu_s": new.info["cpu_seconds"],
                 "memory_s": old.info["seconds"] if old else None,
                 "memory_mb": old.peak_mb if old else None, "out_mb": new.info["bytes"] / 1e6})
    if old:
        same = new.info["sha256"] == old.info["sha256"]
        notes.append(f"{n} jobs: streamed and in-memory exports {'write the same bytes' if same else 'DIFFER'}"
                     f" (sha256 {new.info['sha256'][:16]})")


def _validation_rows(n: int, args, new_out: Path, rows: list[dict], notes: list[str]) -> None:
    vnew = measure(validate_stream_step, str(new_out), args.workers)
    vold = measure(validate_memory_step, str(new_out)) if n <= args.baseline_max else None
    rows.append({"step": "validation", "jobs": n, "budget": args.budget, "lines": vnew.info["records"],
                 "stream_s": vnew.info["seconds"], "stream_mb": _stream_peak(vnew),
                 "stream_sampled_mb": vnew.sampled_total_mb,
                 "stream_workers": vnew.info["workers"], "stream_main_mb": vnew.peak_mb,
                 "memory_s": vold.info["seconds"] if vold else None, "memory_mb": vold.peak_mb if vold else None,
                 "stream_cpu_s": vnew.info["cpu_seconds"],
                 "memory_cpu_s": vold.info["cpu_seconds"] if vold else None})
    if vold:
        same = vnew.info["figures"] == vold.info["figures"]
        notes.append(f"{n} jobs: streamed and in-memory validation reports are "
                     f"{'equal' if same else 'DIFFERENT'} (quality {vnew.info['quality_score']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--shots", type=int, default=1, help="worked examples per prompt (3 makes 17 KB lines)")
    parser.add_argument("--baseline-max", type=int, default=100_000,
                        help="largest size the in-memory code runs at (its peak grows ~85 KB a job)")
    parser.add_argument("--work", help="folder for stores and files (default: a temp folder)")
    parser.add_argument("--workers", type=int, default=None,
                        help="validation processes (default: validate_dataset's choice; peak RSS counts them all)")
    parser.add_argument("--export-workers", type=int, default=None,
                        help="export masking processes (default: the export's choice; peak RSS counts them all)")
    parser.add_argument("--templates", help="a feedback JSONL (bench.workload format) to copy jobs from, instead of "
                        f"generating {TEMPLATES} jobs")
    parser.add_argument("--keep", help="a folder where stores and exported files stay (a store of the same size "
                        "found there is used again); default: a temp folder, removed")
    parser.add_argument("--budget", action="store_true",
                        help="apply the demo base model's token budget, as `datapilot export` does (no in-memory "
                        "baseline then)")
    parser.add_argument("--steps", nargs="+", choices=("export", "validation"), default=["export", "validation"],
                        help="validation alone reads the export a kept folder holds")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    rows, notes = [], []
    with _work_folder(args.keep, args.work) as tmp:
        work = Path(tmp)
        templates = args.templates or str(work / "templates.jsonl")
        if not args.templates and not Path(templates).exists():
            measure(templates_step, templates)
        tokenizer = None
        if args.budget:
            from datapilot_pipeline.lib.generation.modeling import install_demo_base

            tokenizer = str(install_demo_base(work / "demo_base"))
        for n in sorted(args.sizes):
            store_dir = work / f"store_{n}"
            filled = store_dir / "filled.json"  # written once the store is complete
            if args.keep and filled.exists():
                fill = json.loads(filled.read_text())
                notes.append(f"{n} jobs: the store kept in {store_dir}, {fill['records']} reviews")
            else:
                shutil.rmtree(store_dir, ignore_errors=True)
                fill = measure(fill_step, n, templates, str(store_dir)).info
                filled.write_text(json.dumps(fill))
                notes.append(f"{n} jobs: store of {fill['records']} reviews, {fill['bytes'] / 1e6:.0f} MB, "
                             f"filled in {fill['seconds']:.0f} s")
            budgeted = "_budget" if args.budget else ""
            new_out, old_out = work / f"stream{budgeted}_{n}.jsonl", work / f"memory_{n}.jsonl"
            if "export" in args.steps:
                _export_rows(n, args, store_dir, templates, new_out, old_out, rows, notes, tokenizer)
            if "validation" in args.steps:
                _validation_rows(n, args, new_out, rows, notes)
            if not args.keep:
                for p in work.glob(f"*_{n}*.jsonl"):
                    p.unlink()
            print(_table(rows), flush=True)
            _write(rows, notes, load_start, args.shots, stamp)  # a run stopped later keeps the sizes done
    path = _write(rows, notes, load_start, args.shots, stamp)
    print(_table(rows))
    print("\n".join(_final_notes(rows, notes, load_start)))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
