"""Validation benchmark: 20,000 realistic lines (system prompt + compact EDA + completion, about 2.9 KB
each, PII planted in every 40th line) validated by `lib.validation` beside the obvious loop (Presidio
over each line's full text, MinHash updated shingle by shingle, LSH query + insert). The loop runs on a
sample and its per-line cost is extrapolated to the full size. The loop's analyzer is Presidio's own
recognizers for the same entities with their defaults (the phone recognizer tries 8 regions), on the
same offline no-NLP engine; the loop is also timed with this project's analyzer (US phone region only)
so the share of the gain that comes from that choice is visible.

    .venv/bin/python -m bench.bench_validate [--lines 20000] [--baseline-sample 500] [--workers N]

The ratio is wall time against wall time in the same run (the machine's load average at start and end is in the
result); `ratio_cpu` compares CPU seconds (validation workers included), which other users' jobs disturb less.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import time
from pathlib import Path

from datapilot_pipeline.lib.atomic import atomic_write_json, atomic_write_jsonl
from datapilot_pipeline.lib.validation.planted import PLANTED_TYPES, planted_value
from datapilot_pipeline.lib.validation.sample_data import example_line

PLANT_EVERY = 40
RESULTS_DIR = Path(__file__).parent / "results"


def machine() -> dict:
    import os
    import platform

    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def _cpu() -> float:
    """CPU seconds of this process and of its finished child processes (validation workers)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def build(n: int, path: Path) -> dict[int, str]:
    """Write `n` lines; returns 1-based line -> planted entity type."""
    rng, planted, rows = random.Random(0), {}, []
    for i in range(n):
        if i % PLANT_EVERY == 7:
            entity = PLANTED_TYPES[(i // PLANT_EVERY) % len(PLANTED_TYPES)]
            value = planted_value(entity, rng)
            planted[i + 1] = entity
            rows.append(example_line(i, 0, [], contact=value) if i % 2 else
                        example_line(i, 0, [], note=f"Escalate to {value}."))
        else:
            rows.append(example_line(i, 0, []))
    atomic_write_jsonl(path, rows)
    return planted


def default_analyzer():
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer, EmailRecognizer, IbanRecognizer, IpRecognizer, PhoneRecognizer, UsSsnRecognizer,
    )
    import tldextract

    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmail(EmailRecognizer):
        def validate_result(self, pattern_text: str):
            return offline(pattern_text).fqdn != ""

    registry = RecognizerRegistry(recognizers=[OfflineEmail(), PhoneRecognizer(), UsSsnRecognizer(),
                                               CreditCardRecognizer(), IpRecognizer(), IbanRecognizer()])
    return AnalyzerEngine(registry=registry, nlp_engine=NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}]))


def baseline(lines: list[str], analyzer) -> tuple[float, list[set[str]]]:
    """The obvious loop over `lines`; returns (seconds, entity types found per line)."""
    from datasketch import MinHash, MinHashLSH

    from datapilot_pipeline.lib.pii import ENTITIES

    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    found = []
    started = time.perf_counter()
    for n, text in enumerate(lines):
        results = analyzer.analyze(text=text, language="en", entities=list(ENTITIES), score_threshold=0.4)
        found.append({r.entity_type for r in results})
        words = re.findall(r"\w+", text.lower())
        m = MinHash(num_perm=128)
        for k in range(len(words) - 2):
            m.update(" ".join(words[k:k + 3]).encode("utf-8"))
        lsh.query(m)
        lsh.insert(n, m)
    return time.perf_counter() - started, found


def recall(planted: dict[int, str], found: dict[int, set[str]]) -> dict[str, float]:
    out = {}
    for entity in PLANTED_TYPES:
        lines = [n for n, e in planted.items() if e == entity]
        out[entity] = round(sum(entity in found.get(n, set()) for n in lines) / len(lines), 4) if lines else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--baseline-sample", type=int, default=500)
    parser.add_argument("--workers", type=int, default=None,
                        help="processes checking chunks (default: validate_dataset's own choice, worker_count)")
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        planted = build(args.lines, path)
        size_mb = path.stat().st_size / 1e6
        from datapilot_pipeline.lib.validation.report import validate_dataset, worker_count

        workers = worker_count(path, args.workers)
        started, cpu = time.perf_counter(), _cpu()  # includes analyzer build and GX import
        report = validate_dataset(path, workers=workers).report
        fast_s, fast_cpu = time.perf_counter() - started, _cpu() - cpu
        fast_found = {int(k): set(v) for k, v in report["pii"]["by_line"].items()}
        if len(report["pii"]["lines"]) > len(report["pii"]["by_line"]):  # by_line is capped in the report
            fast_found.update({n: {planted.get(n, "?")} for n in report["pii"]["lines"] if n not in fast_found})
        raw = path.read_text(encoding="utf-8").splitlines()
    sample = raw[: args.baseline_sample]
    from datapilot_pipeline.lib.pii import get_analyzer

    same_s, _ = baseline(sample, get_analyzer())
    cpu = _cpu()
    base_s, base_found = baseline(sample, default_analyzer())
    base_cpu_per_line = (_cpu() - cpu) / len(sample)
    per_line = base_s / len(sample)
    base_full = per_line * args.lines
    sample_planted = {n: e for n, e in planted.items() if n <= len(sample)}
    result = {
        "lines": args.lines, "mb": round(size_mb, 1), "avg_line_bytes": round(size_mb * 1e6 / args.lines),
        "fast_seconds": round(fast_s, 2), "fast_cpu_seconds": round(fast_cpu, 2),
        "baseline_same_analyzer_ms_per_line": round(same_s / len(sample) * 1000, 2),
        "ratio_same_analyzer": round(same_s / len(sample) * args.lines / fast_s, 1), "baseline_sample_lines": len(sample),
        "baseline_sample_seconds": round(base_s, 2), "baseline_ms_per_line": round(per_line * 1000, 2),
        "baseline_extrapolated_seconds": round(base_full, 1), "ratio": round(base_full / fast_s, 1),
        "fast_recall_all": recall(planted, fast_found),
        "fast_recall_sample": recall(sample_planted, {n: fast_found.get(n, set()) for n in sample_planted}),
        "baseline_recall_sample": recall(sample_planted, {n: base_found[n - 1] for n in sample_planted}),
        "quality_score": report["quality_score"], "duplicates": len(report["duplicates"]["exact"]) +
        len(report["duplicates"]["near"]), "machine": machine(), "workers": workers,
        "baseline_cpu_ms_per_line": round(base_cpu_per_line * 1000, 2),
        "ratio_cpu": round(base_cpu_per_line * args.lines / fast_cpu, 1),
        "load_avg_start": [round(x, 2) for x in load_start], "load_avg_end": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"validate {args.lines} lines ({size_mb:.1f} MB, {workers} process(es)): {fast_s:.1f} s wall, "
          f"{fast_cpu:.1f} s CPU (workers included)")
    print(f"obvious loop: {per_line * 1000:.1f} ms/line on {len(sample)} lines -> {base_full:.0f} s for {args.lines}")
    print(f"same loop with this project's analyzer: {same_s / len(sample) * 1000:.1f} ms/line "
          f"(ratio {result['ratio_same_analyzer']}x)")
    print(f"CPU-time ratio: {result['ratio_cpu']}x (loop {result['baseline_cpu_ms_per_line']} ms CPU/line); "
          f"load average {result['load_avg_start']} -> {result['load_avg_end']} on {os.cpu_count()} cores")
    print(f"ratio: {result['ratio']}x; recall fast {result['fast_recall_all']}, "
          f"baseline (sample) {result['baseline_recall_sample']}, fast (same sample) {result['fast_recall_sample']}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    atomic_write_json(RESULTS_DIR / f"validate_{stamp}.json", result)


if __name__ == "__main__":
    main()
