"""Vendor backends.

The OpenAI tests are CONTRACT TESTS: they run the real openai SDK against a local HTTP server on
127.0.0.1 that speaks the documented endpoints (`POST /v1/files`, `POST /v1/fine_tuning/jobs`,
`GET /v1/fine_tuning/jobs/{id}`) with the documented response shapes. They check what this code sends
and how it reads the replies; they do not prove OpenAI's service accepts the data.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from datapilot_pipeline.lib.prompts import SYSTEM_PROMPT
from datapilot_pipeline.lib.vendors import chat_rows
from datapilot_pipeline.lib.vendors.anthropic_ft import bedrock_rows, write_bedrock_file
from datapilot_pipeline.lib.vendors.openai_ft import VendorJobFailed, run_openai_finetune
from datapilot_pipeline_tests.training_data import write_dataset


class FakeOpenAI:
    """Records requests; the job is `running` on the first retrieve, then `final_status`."""

    def __init__(self, final_status: str = "succeeded"):
        self.requests: list[tuple[str, str, bytes, str]] = []
        self.final_status = final_status
        self.retrieves = 0

    def job(self, status: str) -> dict:
        done = status == "succeeded"
        return {"id": "ftjob-123", "object": "fine_tuning.job", "created_at": 1, "model": "gpt-4o-mini-2024-07-18",
                "status": status, "training_file": "file-abc", "validation_file": None, "organization_id": "org",
                "result_files": [], "seed": 1, "finished_at": 2 if done else None, "trained_tokens": 42 if done else None,
                "fine_tuned_model": "ft:gpt-4o-mini-2024-07-18:org::x1" if done else None,
                "hyperparameters": {"n_epochs": 2}, "method": {"type": "supervised"},
                "error": {"code": "invalid_file", "message": "bad data", "param": None} if status == "failed" else None}

    def handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, body: dict, code: int = 200):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append(("POST", self.path, body, self.headers.get("Content-Type", "")))
                if self.path == "/v1/files":
                    self._reply({"id": "file-abc", "object": "file", "bytes": len(body), "created_at": 1,
                                 "filename": "train.jsonl", "purpose": "fine-tune", "status": "processed"})
                elif self.path == "/v1/fine_tuning/jobs":
                    self._reply(fake.job("validating_files"))
                else:
                    self._reply({"error": {"message": "not found"}}, 404)

            def do_GET(self):
                fake.requests.append(("GET", self.path, b"", ""))
                if self.path == "/v1/fine_tuning/jobs/ftjob-123":
                    fake.retrieves += 1
                    self._reply(fake.job("running" if fake.retrieves == 1 else fake.final_status))
                else:
                    self._reply({"error": {"message": "not found"}}, 404)

        return Handler


@pytest.fixture
def server():
    started: list[tuple[ThreadingHTTPServer, FakeOpenAI]] = []

    def start(final_status: str = "succeeded") -> tuple[str, FakeOpenAI]:
        fake = FakeOpenAI(final_status)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append((httpd, fake))
        return f"http://127.0.0.1:{httpd.server_address[1]}/v1", fake

    yield start
    for httpd, _ in started:
        httpd.shutdown()


def test_chat_rows_split_the_system_prompt(tmp_path: Path):
    rows = chat_rows(write_dataset(tmp_path / "d.jsonl", 2))
    roles = [m["role"] for m in rows[0]["messages"]]
    assert roles == ["system", "user", "assistant"] and rows[0]["messages"][0]["content"] == SYSTEM_PROMPT
    assert rows[0]["messages"][1]["content"].startswith("### Task")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        chat_rows(bad)


def test_openai_contract_upload_create_poll_and_mlflow(tmp_path: Path, server, home: Path):
    from mlflow.tracking import MlflowClient

    base_url, fake = server()
    dataset = write_dataset(tmp_path / "d.jsonl", 3)
    uri = f"sqlite:///{home / 'mlflow.db'}"
    statuses: list[str] = []
    result = run_openai_finetune(dataset, model="gpt-4o-mini-2024-07-18", n_epochs=2, learning_rate_multiplier=0.5,
                                 base_url=base_url, api_key="sk-test", poll_seconds=0, tracking_uri=uri,
                                 on_status=statuses.append)
    assert result["fine_tuned_model"] == "ft:gpt-4o-mini-2024-07-18:org::x1" and result["status"] == "succeeded"
    upload = fake.requests[0]
    assert upload[:2] == ("POST", "/v1/files") and upload[3].startswith("multipart/form-data")
    assert b'name="purpose"\r\n\r\nfine-tune' in upload[2]
    assert b'"role":"assistant"' in upload[2] and upload[2].count(b'{"messages":') == 3
    create = json.loads(fake.requests[1][2])
    assert create["model"] == "gpt-4o-mini-2024-07-18" and create["training_file"] == "file-abc"
    assert create["method"]["supervised"]["hyperparameters"] == {"n_epochs": 2, "learning_rate_multiplier": 0.5}
    assert [r[1] for r in fake.requests[2:]] == ["/v1/fine_tuning/jobs/ftjob-123"] * 2
    assert statuses[-1] == "job ftjob-123: succeeded"
    run = MlflowClient(uri).get_run(result["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["fine_tuned_model"] == result["fine_tuned_model"]
    assert run.data.params["n_epochs"] == "2"


def test_openai_contract_failed_job_raises_and_marks_the_run(tmp_path: Path, server, home: Path):
    from mlflow.tracking import MlflowClient

    base_url, _ = server("failed")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    with pytest.raises(VendorJobFailed, match="ftjob-123 failed: bad data"):
        run_openai_finetune(write_dataset(tmp_path / "d.jsonl", 2), model="gpt-4o-mini-2024-07-18",
                            base_url=base_url, api_key="sk-test", poll_seconds=0, tracking_uri=uri)
    runs = MlflowClient(uri).search_runs(["1"])
    assert [r.info.status for r in runs] == ["FAILED"]


def test_bedrock_file_and_steps(tmp_path: Path):
    dataset = write_dataset(tmp_path / "d.jsonl", 2)
    path, steps = write_bedrock_file(dataset, tmp_path / "out" / "bedrock.jsonl", n_epochs=2)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == bedrock_rows(dataset) and len(rows) == 2
    assert rows[0]["system"] == SYSTEM_PROMPT and [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]
    assert "create-model-customization-job" in steps and "epochCount=2" in steps and str(path) in steps
