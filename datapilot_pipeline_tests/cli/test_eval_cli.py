from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.atomic import atomic_write_jsonl
from datapilot_pipeline_tests.eval_fixtures import holdout, seeds
from datapilot_pipeline_tests.eval_server import SECRET, server, url  # noqa: F401 - server is a fixture


def _workspace_files(home: Path, n: int = 7) -> Path:
    atomic_write_jsonl(home / "data" / "finetune_samples" / "seed_examples.jsonl", seeds())
    return atomic_write_jsonl(home / "holdout.jsonl", holdout(n))


def test_eval_against_endpoints_prints_the_table_and_decision(server, home, monkeypatch, capsys):
    monkeypatch.setenv("MY_KEY", SECRET)
    path = _workspace_files(home)
    rc = main(["eval", "--holdout", str(path), "--fewshot-endpoint", url(server, "fs"), "--finetuned-endpoint",
               url(server, "ft"), "--api-key-env", "MY_KEY", "--shot-count", "2", "--bootstrap", "200",
               "--min-examples", "7"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "| schema_pass_rate | 42.9% [" in out and "| 100.0% [100.0%, 100.0%] |" in out
    assert "promotion: PROMOTE" in out and "| holdout size | 7 examples | >= 7 | pass |" in out
    assert "| better than few_shot | 92.9% vs 28.6% per example: difference +64.3%, lower bound" in out
    assert "| better than champion | no champion yet: few-shot is the bar |" in out
    (report,) = (home / "reports").glob("eval_*.json")
    saved = json.loads(report.read_text())
    assert saved["few_shot"]["evidence_accuracy"] == pytest.approx(4 / 6) and saved["few_shot"]["shot_count"] == 2
    assert saved["promotion"]["promote"] is True and saved["promotion"]["numbers"]["min_examples"] == 7
    assert {"name": "holdout size", "observed": "7 examples", "needs": ">= 7", "passed": True} in saved["promotion"]["rules"]
    assert {s["auth"] for s in server.seen} == {f"Bearer {SECRET}"}
    assert list((home / "data" / "llm_logs").glob("llm_calls_*.jsonl"))
    assert not any(SECRET in p.read_text(errors="ignore") for p in home.rglob("*") if p.is_file())


def test_max_examples_and_report_dir(server, home, capsys):
    path = _workspace_files(home)
    rc = main(["eval", "--holdout", str(path), "--fewshot-endpoint", url(server, "fs"), "--finetuned-endpoint",
               url(server, "ft"), "--max-examples", "2", "--report-dir", str(home / "out"), "--bootstrap", "100"])
    assert rc == 0
    (report,) = (home / "out").glob("eval_*.json")
    saved = json.loads(report.read_text())
    # examples 1-2: few-shot valid + truncated, fine-tuned valid + hallucinated
    assert saved["few_shot"]["schema_pass_rate"] == 0.5 and saved["fine_tuned"]["evidence_accuracy"] == 0.75
    assert len(server.seen) == 4
    out = capsys.readouterr().out  # 0% schema pass in neither arm, but 2 examples: the rules table says why not
    assert "promotion: do not promote" in out and "| holdout size | 2 examples | >= 30 | FAIL |" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("argv_tail, message", [
    (["--finetuned-model", "/no/such/model"], "not found"),
    (["--finetuned-endpoint", "ftp://x/y"], "http(s) URL"),
    (["--finetuned-endpoint", "URL_DOWN", "--max-retries", "0"], "failed after 1 attempts"),
    (["--fewshot-endpoint", "http://a/b", "--base-model", "x", "--finetuned-model", "y"], "not allowed with"),
    ([], "one of the arguments --finetuned-endpoint --finetuned-model is required"),
    (["--finetuned-model", "y", "--schema-target", "2"], "--schema-target"),
    (["--finetuned-model", "y", "--min-gain", "1.5"], "--min-gain must be in [0, 1), got 1.5"),
    (["--finetuned-model", "y", "--alpha", "0.7"], "--alpha"),
    (["--finetuned-model", "y", "--champion", "x", "--champion-endpoint", "http://a/b"], "not allowed with"),
    (["--finetuned-model", "y", "--min-examples", "1"], "--min-examples"),
])
def test_bad_input_is_one_line_and_exit_2(home, capsys, argv_tail, message):
    path = _workspace_files(home, 2)
    down = f"http://127.0.0.1:{_free_port()}/v1/chat/completions"
    argv = ["eval", "--holdout", str(path), "--fewshot-endpoint", down, "--max-retries", "0"]
    if "--base-model" in argv_tail:
        argv = ["eval", "--holdout", str(path)]
    argv += [down if a == "URL_DOWN" else a for a in argv_tail]
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(argv))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_holdout_line_is_named(home, capsys):
    path = home / "bad.jsonl"
    path.write_text(json.dumps(holdout(1)[0]) + "\n{not json\n")
    rc = main(["eval", "--holdout", str(path), "--fewshot-endpoint", "http://127.0.0.1:9/x", "--finetuned-endpoint",
               "http://127.0.0.1:9/y"])
    assert rc == 2 and "bad.jsonl:2: not JSON" in capsys.readouterr().err
