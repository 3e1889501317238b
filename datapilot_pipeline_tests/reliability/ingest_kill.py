"""Run the ingestion of a working root in a fresh process, SIGKILLed at one of its write points, then re-run it.

    from datapilot_pipeline_tests.reliability.ingest_kill import WRITE_POINTS, run_ingestion
    killed = run_ingestion(home, kill_at=WRITE_POINTS["between two file moves"])
    assert killed.returncode == -signal.SIGKILL
    finished = run_ingestion(home)          # exit 0; its stdout is the run's IngestResult counts as JSON

`home` is a $DATAPILOT_HOME (inbox `home/feedback_inbox`, store under `home/data/feedback` unless
`DATAPILOT_STORE_URL` is set in `env` or in this process). `kill_at` is a `(kind, point)` pair understood by
`killpoint.arm`; the named points below cover every write of one ingestion batch, in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STORE = "datapilot_pipeline.lib.feedback.store"
INGEST = "datapilot_pipeline.lib.feedback.ingest"

WRITE_POINTS: dict[str, tuple[str, str]] = {
    "before the transaction": ("call", f"{STORE}:write_transaction"),
    "after the feedback rows, before the decisions": ("call", f"{STORE}:insert_rows@2"),
    "after the decisions, before the file records": ("call", f"{STORE}:insert_rows@3"),
    "at the commit": ("call", "sqlalchemy.engine.base:RootTransaction._do_commit@2"),  # 1: creating tables
    "after the commit, before any move": ("call", f"{INGEST}:_carry_out@1"),
    "between two file moves": ("call", f"{INGEST}:_carry_out@3"),
    "before a quarantine reason is published": ("call", f"{INGEST}:_write_reason"),
}


def run_ingestion(home: Path, kill_at: tuple[str, str] | None = None, env: dict[str, str] | None = None,
                  timeout: float = 300) -> subprocess.CompletedProcess:
    """One ingestion of `home` in a child process, killed at `kill_at` when given (returncode -SIGKILL)."""
    args = [sys.executable, "-m", __name__, str(home), *(kill_at or ())]
    full_env = {**os.environ, "DATAPILOT_HOME": str(home), "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(args, env=full_env, capture_output=True, text=True, timeout=timeout)


def main(argv: list[str]) -> int:
    home, *kill_at = argv
    from datapilot_pipeline.lib.feedback.ingest import ingest_inbox
    from datapilot_pipeline.lib.paths import Workspace

    if kill_at:
        from datapilot_pipeline_tests.reliability.killpoint import arm

        arm(*kill_at)
    ws = Workspace(Path(home))
    result = ingest_inbox(ws.inbox, ws.feedback_dir)
    print(json.dumps({"new_feedback": result.new_feedback, "new_decisions": result.new_decisions,
                      "duplicates": result.duplicates, "quarantined": result.quarantined,
                      "recovered": result.recovered, "total_feedback": result.total_feedback,
                      "total_decisions": result.total_decisions, "total_quarantined": result.total_quarantined}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
