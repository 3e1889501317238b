"""`datapilot serve` in a real server process: the official `openai` client and `datapilot eval` call it."""

from __future__ import annotations

import inspect
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from datapilot_pipeline.lib.prompts import build_messages, build_prompt
from datapilot_pipeline.lib.tracking import CHAMPION_ALIAS, set_alias
from datapilot_pipeline_tests.eval_fixtures import holdout
from datapilot_pipeline_tests.model_fixtures import build_tiny_with_adapter, register_version

START_TIMEOUT_S = 300  # two cold Python processes (LitServe's API server and its worker) load torch on 2 cores


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_healthy(proc: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"datapilot serve exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("datapilot serve did not become healthy")


@pytest.fixture
def champion_server(home: Path, tmp_path: Path):
    base, adapter = build_tiny_with_adapter(tmp_path / "tiny")
    version = register_version(home, base, adapter)["version"]
    set_alias(f"sqlite:///{home / 'mlflow.db'}", version, CHAMPION_ALIAS)
    port = _free_port()
    env = {**os.environ, "DATAPILOT_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "datapilot_pipeline", "serve", "--port", str(port),
                             "--max-new-tokens", "24"], cwd=home, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_until_healthy(proc, port)
        yield {"port": port, "base": base, "adapter": adapter, "home": home, "env": env}
    finally:
        os.killpg(proc.pid, 15)  # the server and the worker process it started
        proc.wait(timeout=60)


def test_openai_client_and_eval_against_the_served_champion(champion_server):
    from openai import BadRequestError, OpenAI

    from datapilot_pipeline.lib.evaluation.local import LocalGenerator

    port, home = champion_server["port"], champion_server["home"]
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
    eda = holdout(1)[0]["compact_eda"]
    reply = client.chat.completions.create(model="champion", messages=build_messages(eda, []), max_tokens=12)
    text = reply.choices[0].message.content
    assert reply.choices[0].message.role == "assistant" and 0 < reply.usage.completion_tokens <= 12
    # the server answers through the evaluation's local generation path: the same greedy text, token for token
    local = LocalGenerator(base_model=champion_server["base"], adapter_dir=champion_server["adapter"], max_new_tokens=12,
                           constrained=False)
    assert text == local.generate_all([build_prompt(eda, [])], [build_messages(eda, [])])[0].text

    schema = {"type": "json_schema", "json_schema": {"name": "flag", "schema": {
        "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False}}}
    if "response_format" in inspect.signature(local.generate_all).parameters:
        constrained = client.chat.completions.create(model="champion", messages=build_messages(eda, []),
                                                     response_format=schema)
        assert json.loads(constrained.choices[0].message.content) in ({"ok": True}, {"ok": False})
    else:  # never claim a schema was enforced when the generator cannot enforce one
        with pytest.raises(BadRequestError) as refused:
            client.chat.completions.create(model="champion", messages=build_messages(eda, []), response_format=schema)
        assert "constrained decoding" in refused.value.response.text

    (home / "holdout.jsonl").write_text("".join(json.dumps(e) + "\n" for e in holdout(2)))
    out = subprocess.run([sys.executable, "-m", "datapilot_pipeline", "eval", "--holdout", "holdout.jsonl",
                          "--base-model", str(champion_server["base"]), "--shot-count", "0", "--max-new-tokens", "12",
                          "--unconstrained",
                          "--finetuned-endpoint", f"http://127.0.0.1:{port}/v1/chat/completions",
                          "--bootstrap", "100"], cwd=home, env=champion_server["env"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(next((home / "reports").glob("eval_*.json")).read_text())
    assert report["fine_tuned"]["n"] == 2 and report["fine_tuned"]["backend"] == "endpoint"


def test_serve_with_an_unknown_model_is_a_usage_error(home: Path):
    out = subprocess.run([sys.executable, "-m", "datapilot_pipeline", "serve", "--model",
                          "models:/datapilot-insights@champion", "--port", str(_free_port())],
                         cwd=home, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]  # MLflow logs its own lines while it creates the DB
    assert last.startswith("datapilot: error: models:/datapilot-insights@champion is not registered")
