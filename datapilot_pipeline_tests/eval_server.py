"""A local OpenAI-compatible chat-completions server (threaded http.server) with canned replies per arm.

`/fs/...` and `/ft/...` answer the holdout example named `holdout_<k>.csv` with `CANNED[arm][k - 1]`;
`server.script` lists error statuses to answer first; every request is recorded in `server.seen`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from datapilot_pipeline.lib.prompts import extract_task_eda
from datapilot_pipeline_tests.eval_fixtures import reply

SECRET = "sk-test-DO-NOT-LEAK-4242"
CANNED = {
    "fs": ["valid", "truncated", "wrong_enum", "missing_field", "prose", "wrong_row", "hallucinated"],
    "ft": ["valid", "hallucinated", "fenced", "valid", "valid", "valid", "valid"],
}


class CannedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.seen: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.script: list[int] = []  # status codes to answer before the canned reply


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output quiet
        pass

    def do_POST(self):
        server: CannedServer = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            status = server.script.pop(0) if server.script else 200
        try:
            time.sleep(0.02)
            arm = self.path.split("/")[1]
            user = body["messages"][-1]["content"]
            with server.lock:
                server.seen.append({"arm": arm, "auth": self.headers.get("Authorization"),
                                    "shots": user.count("### Example"), "model": body["model"]})
            if status != 200:
                self._send(status, {"error": {"message": "try later"}}, {"Retry-After": "0"})
                return
            name = extract_task_eda(user)["dataset"]["name"]  # holdout_<k>.csv
            kind = CANNED[arm][int(name.split("_")[1].split(".")[0]) - 1]
            self._send(200, {"choices": [{"message": {"role": "assistant", "content": reply(kind)}}],
                             "usage": {"prompt_tokens": len(user) // 4, "completion_tokens": 50}})
        finally:
            with server.lock:
                server.in_flight -= 1

    def _send(self, status: int, payload: dict, headers: dict | None = None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server():
    """A running CannedServer on 127.0.0.1 (an ephemeral port)."""
    srv = CannedServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(server: CannedServer, arm: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{arm}/v1/chat/completions"
