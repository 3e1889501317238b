"""Export stage benchmark: synthetic reviewed jobs -> fine-tuning files, and the cost of PII masking.

    python -m bench.bench_export [--sizes 10000 100000] [--shots 3]

Per size, in a fresh process: generate and parse the feedback (not timed), then time the export
(consensus, splits, masking, prompt-completion + holdout files). Masking is compared with the obvious
baseline, Presidio's analyzer called on every string of every example (no prefilter, no dedup, no
batching), measured on a subsample and reported per example; and with masking the rendered prompt text,
which shows how many plain numbers such as `1683.75` Presidio would have rewritten.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.harness import Row, format_table, measure

BASELINE_SAMPLE = 200


def _feedbacks(n_jobs: int, feedback_path: str | None = None):
    """The feedback of the first `n_jobs` synthetic jobs, generated or read from a `bench.workload` JSONL."""
    from datapilot_pipeline.lib.contracts import FeedbackFile
    from datapilot_pipeline.lib.synthetic import generate_feedback

    if feedback_path is not None:
        from bench.workload import read_feedback

        return [FeedbackFile.model_validate(d) for d in read_feedback(feedback_path, n_jobs)]
    return [FeedbackFile.model_validate(d) for d in generate_feedback(n_jobs, seed=0)]


def _seeds(feedbacks, n: int = 8) -> list[dict]:
    return [{"example_id": f"seed_{k}", "compact_eda": fb.compact_eda.model_dump(),
             "output": fb.llm_output.model_dump(exclude_none=True)} for k, fb in enumerate(feedbacks[:n])]


def export_step(n_jobs: int, shots: int, feedback_path: str | None = None, out_dir: str | None = None) -> dict:
    """Time one export; with `out_dir` the prompt-completion file is kept there (`finetune.jsonl`)."""
    from datapilot_pipeline.lib.export import ExportOptions, export_dataset, review_feedback
    from datapilot_pipeline.lib.export.masking import Masker
    from datapilot_pipeline.lib.pii import get_analyzer

    feedbacks = _feedbacks(n_jobs, feedback_path)
    seeds = _seeds(feedbacks)
    get_analyzer()  # built once per process (~1 s); not part of the per-export cost
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_dir or tmp) / "finetune.jsonl"
        started = time.perf_counter()
        result = export_dataset(feedbacks, seeds, ExportOptions(shot_count=shots), {"prompt-completion": out},
                                Path(tmp) / "holdout.jsonl")
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in result.paths.values())
    examples = review_feedback(feedbacks).examples
    started = time.perf_counter()
    Masker.for_content([e.compact_eda for e in examples],
                       [o for e in examples for o in (e.approved_output, e.original_output)])
    mask_seconds = time.perf_counter() - started
    return {"records": len(feedbacks), "exported": result.n_exported, "seconds": seconds, "bytes": size,
            "mask_seconds": mask_seconds, "examples": len(examples)}


def _all_strings(obj, sink):
    if isinstance(obj, str):
        sink.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _all_strings(v, sink)
    elif isinstance(obj, list):
        for v in obj:
            _all_strings(v, sink)


def _plain_presidio():
    """The project's offline recognizers, but Presidio's stock phone recognizer (every default region)."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from datapilot_pipeline.lib.pii import get_analyzer

    base = get_analyzer()
    recognizers = [r for r in base.registry.recognizers if not isinstance(r, PhoneRecognizer)] + [PhoneRecognizer()]
    return AnalyzerEngine(registry=RecognizerRegistry(recognizers=recognizers, supported_languages=["en"]),
                          nlp_engine=base.nlp_engine, supported_languages=["en"])


def baseline_step(n_examples: int) -> dict:
    """Plain Presidio on every string value, one call each, and on the rendered prompt text."""
    from datapilot_pipeline.lib.export import review_feedback
    from datapilot_pipeline.lib.pii import MIN_SCORE, entities, is_plain_number
    from datapilot_pipeline.lib.prompts import build_prompt

    examples = review_feedback(_feedbacks(n_examples)).examples[:n_examples]
    analyzer, types = _plain_presidio(), entities()
    started = time.perf_counter()
    for e in examples:
        strings: list[str] = []
        for part in (e.compact_eda, e.approved_output, e.original_output):
            _all_strings(part, strings)
        for s in strings:
            analyzer.analyze(text=s, language="en", entities=types, score_threshold=MIN_SCORE)
    per_string = (time.perf_counter() - started) / len(examples)
    numbers_hit = 0
    started = time.perf_counter()
    for e in examples:
        prompt = build_prompt(e.compact_eda, [])
        for r in analyzer.analyze(text=prompt, language="en", entities=types, score_threshold=MIN_SCORE):
            numbers_hit += is_plain_number(prompt[r.start:r.end])
    per_prompt = (time.perf_counter() - started) / len(examples)
    return {"examples": len(examples), "per_example_s": per_string, "prompt_per_example_s": per_prompt,
            "numbers_hit": numbers_hit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--shots", type=int, default=3)
    args = parser.parse_args(argv)
    base = measure(baseline_step, BASELINE_SAMPLE).info
    rows, notes = [], []
    for n in args.sizes:
        m = measure(export_step, n, args.shots)
        info = m.info
        mask_per_example = info["mask_seconds"] / info["examples"]
        rows.append(Row("export", n, info["records"], info["seconds"], m.peak_mb, info["bytes"] / 1e6,
                        "presidio on every string (extrap.)", base["per_example_s"] * info["examples"]))
        notes.append(f"{n} jobs: {info['records']} reviews -> {info['exported']} examples in {info['seconds']:.1f} s, "
                     f"{info['bytes'] / 1e6:.1f} MB; masking {mask_per_example * 1e3:.3f} ms/example "
                     f"(baseline {base['per_example_s'] * 1e3:.1f} ms/example)")
    notes.append(f"masking the rendered prompt text instead: {base['prompt_per_example_s'] * 1e3:.1f} ms/example and "
                 f"{base['numbers_hit']} plain numbers flagged as PII in {base['examples']} examples")
    print(format_table(rows))
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
