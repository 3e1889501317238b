"""Feedback store benchmark: the cost of ingesting one new file when the store already holds N reviews.

The store is filled with N reviews (copies of synthetic ones under new feedback_ids, inserted in bulk, with their
decisions), then `--new` fresh feedback files land in the inbox and one `ingest_inbox` run is timed end to end
(read, parse, check evidence, one transaction per batch, move to the archive, totals). The per-file cost must not
grow with N: only the run's new rows are written, and the lookups are by index.

    .venv/bin/python -m bench.bench_store [--sizes 0 10000 100000] [--new 200] [--store-url URL]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from datapilot_pipeline.lib.feedback import store
from datapilot_pipeline.lib.atomic import atomic_write_json, dumps_compact
from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.feedback.ingest import ingest_inbox
from datapilot_pipeline.lib.feedback.tables import decision_rows, feedback_row
from datapilot_pipeline.lib.synthetic import generate_feedback, write_feedback_files

RESULTS_DIR = Path(__file__).parent / "results"
TEMPLATES = 50


def prefill(url: str, n: int, chunk: int = 5000) -> float:
    """Insert `n` reviews (and their decisions) in bulk; returns the seconds it took."""
    templates = [FeedbackFile.model_validate(raw) for raw in generate_feedback(TEMPLATES, seed=1)]
    started = time.perf_counter()
    for start in range(0, n, chunk):
        feedback, decisions = [], []
        for i in range(start, min(n, start + chunk)):
            review = templates[i % len(templates)].model_copy(update={"feedback_id": str(uuid.uuid4())})
            raw = dumps_compact(review.model_dump(mode="json"))
            feedback.append(feedback_row(review, f"prefill_{i}.json", raw, "0" * 64, "2026-01-01T00:00:00Z"))
            decisions.extend(decision_rows(review))
        with store.write_transaction(url) as conn:
            store.insert_rows(conn, "feedback", feedback)
            store.insert_rows(conn, "decisions", decisions)
    return time.perf_counter() - started


def measure(size: int, new: int, work: Path, url: str | None) -> dict:
    out = work / f"store_{size}"
    store_url = url or store.store_url_for(out)
    fill_s = prefill(store_url, size)
    inbox = work / f"inbox_{size}"
    written = write_feedback_files(inbox, new, seed=size + 7)
    started = time.perf_counter()
    result = ingest_inbox(inbox, out, store_url=store_url, settle_s=0)
    seconds = time.perf_counter() - started
    assert result.total_feedback == size + result.new_feedback and not list(inbox.iterdir())
    db = out / store.SQLITE_NAME
    return {"reviews_in_store": size, "new_files": len(written), "ingest_s": round(seconds, 3),
            "per_new_file_ms": round(1000 * seconds / len(written), 2), "prefill_s": round(fill_s, 1),
            "store_mb": round(db.stat().st_size / 2**20, 1) if db.exists() else None,
            "backend": store.safe_url(store_url).split(":", 1)[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 10_000, 100_000])
    parser.add_argument("--new", type=int, default=200, help="new feedback files per measured run")
    parser.add_argument("--store-url", help="a PostgreSQL URL (each size needs its own empty database)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            rows.append(measure(size, args.new, Path(tmp), args.store_url))
            print(json.dumps(rows[-1]), flush=True)
    atomic_write_json(RESULTS_DIR / "store.json", {"rows": rows})


if __name__ == "__main__":
    main()
