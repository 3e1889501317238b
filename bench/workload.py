"""The benchmark's input: one synthetic feedback stream, generated once, that every size reads a prefix of.

`generate_feedback(n)` is a deterministic stream, so the feedback of the first 1k jobs of a 100k stream is
exactly `generate_feedback(1000)`: generating the largest size once serves every size. Inbox files are
written here with plain writes (no temp file, no fsync): this is benchmark setup, not product code, and the
product's atomic writer would spend most of the setup time in fsync.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator


def generate_step(n_jobs: int, path: str) -> dict:
    """Write the feedback of `n_jobs` jobs as JSONL (one feedback dict per line)."""
    from datapilot_pipeline.lib.synthetic import generate_feedback

    records = 0
    with open(path, "w", encoding="utf-8") as fh:
        for feedback in generate_feedback(n_jobs, seed=0):
            fh.write(json.dumps(feedback, separators=(",", ":")) + "\n")
            records += 1
    return {"records": records, "bytes": Path(path).stat().st_size}


def read_feedback(path: str | Path, n_jobs: int) -> Iterator[dict]:
    """The feedback dicts of the first `n_jobs` jobs of the stream in `path` (re-reviews follow their job)."""
    jobs: set[str] = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            feedback = json.loads(line)
            if feedback["job_id"] not in jobs:
                if len(jobs) == n_jobs:
                    return
                jobs.add(feedback["job_id"])
            yield feedback


def write_inbox(feedback_path: str, n_jobs: int, inbox: str, prefix: str = "") -> dict:
    """Feedback files of the first `n_jobs` jobs in `inbox`, named as reviewers' files are."""
    from datapilot_pipeline.lib.feedback.inbox import feedback_filename

    folder = Path(inbox)
    folder.mkdir(parents=True, exist_ok=True)
    files = size = 0
    for feedback in read_feedback(feedback_path, n_jobs):
        text = json.dumps(feedback, separators=(",", ":"))
        name = prefix + feedback_filename(feedback["job_id"], feedback["created_at"], feedback["feedback_id"])
        (folder / name).write_text(text, encoding="utf-8")
        files += 1
        size += len(text)
    return {"records": files, "bytes": size}
