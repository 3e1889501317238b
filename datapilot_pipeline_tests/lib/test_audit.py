from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

from datapilot_pipeline.lib.audit import AuditLog, read_records

EMAIL = "jane.doe@example.com"


def test_records_are_masked_jsonl_with_the_call_details(tmp_path):
    log = AuditLog(tmp_path / "llm_logs", clock=lambda: datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc))
    path = log.record(arm="few_shot", model="http://127.0.0.1:8000/v1/chat/completions",
                      prompt=[{"role": "system", "content": "be careful"},
                              {"role": "user", "content": f"contact {EMAIL} about row 17"}],
                      response=f"mail {EMAIL}", latency_s=0.25, prompt_tokens=12, completion_tokens=3,
                      example_id="h1")
    assert path.name == "llm_calls_20261124.jsonl"
    (row,) = read_records(path)
    assert EMAIL not in path.read_text()
    assert row["prompt"][1]["content"] == "contact <EMAIL_ADDRESS> about row 17"
    assert row["response"] == "mail <EMAIL_ADDRESS>"
    assert (row["arm"], row["example_id"], row["prompt_tokens"], row["completion_tokens"]) == ("few_shot", "h1", 12, 3)
    assert row["latency_s"] == 0.25 and row["ts"] == "2026-11-24T10:00:00Z"


def test_concurrent_appends_never_interleave(tmp_path):
    log = AuditLog(tmp_path, mask=str.upper)
    big = "x" * 20_000  # larger than a pipe buffer: interleaving would corrupt lines

    def worker(n: int) -> None:
        for k in range(25):
            log.record(arm="fine_tuned", model="local", prompt=f"{n}-{k}-{big}", response="ok", latency_s=0.0)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (path,) = tmp_path.glob("llm_calls_*.jsonl")
    lines = path.read_text().splitlines()
    assert len(lines) == 200
    prompts = {json.loads(line)["prompt"].split("-X")[0] for line in lines}
    assert len(prompts) == 200 and all(json.loads(line)["response"] == "OK" for line in lines)
