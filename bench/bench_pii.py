"""PII masking cost per exported record: `Masker.for_content` over the reviewed synthetic jobs.

    python bench/bench_pii.py [--jobs 1000] [--repeat 3]

Runs on whichever `datapilot_pipeline` is first on the path, so the same script measures the code
before and after a change (`PYTHONPATH=<old checkout> python bench/bench_pii.py`). It imports only
the package. The analyzer is built before timing; the best of `--repeat` runs is reported, as wall time
and as this process's CPU time (the figure to compare on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import time


def mask_cost(n_jobs: int, repeat: int) -> dict:
    from datapilot_pipeline.lib.contracts import FeedbackFile
    from datapilot_pipeline.lib.export import review_feedback
    from datapilot_pipeline.lib.export.masking import Masker
    from datapilot_pipeline.lib.pii import get_analyzer
    from datapilot_pipeline.lib.synthetic import generate_feedback

    feedbacks = [FeedbackFile.model_validate(d) for d in generate_feedback(n_jobs, seed=0)]
    examples = review_feedback(feedbacks).examples
    edas = [e.compact_eda for e in examples]
    outputs = [o for e in examples for o in (e.approved_output, e.original_output)]
    get_analyzer()
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        Masker.for_content(edas, outputs)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
    return {"jobs": n_jobs, "records": len(examples), "seconds": round(best, 3),
            "ms_per_record": round(best / len(examples) * 1e3, 4),
            "cpu_ms_per_record": round(best_cpu / len(examples) * 1e3, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(mask_cost(args.jobs, args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
