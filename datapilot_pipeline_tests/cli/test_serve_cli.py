"""`datapilot serve` in a real server process, called by the official `openai` client and by `datapilot eval`: keys,
identity, honest replies (finish reasons, usage, streaming, schema-bounded defaults), OpenAI-shaped errors, limits
and the audit log. One server for the module (two cold Python processes load torch: minutes on a loaded runner)."""

from __future__ import annotations

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
from datapilot_pipeline_tests.eval_fixtures import holdout

START_TIMEOUT_S = 600
SECRET = "sk-serve-DO-NOT-LEAK-4242"
KEY_ENV = "DATAPILOT_TEST_SERVE_KEYS"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATAPILOT_HOME": str(home), "DAGSTER_HOME": str(home / ".dagster_home"),
            "DATAPILOT_MLFLOW_URI": f"sqlite:///{home / 'mlflow.db'}", **extra}


def _serve(home: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "datapilot_pipeline", "serve", "--port", str(_free_port()), *args],
                          cwd=home, capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from datapilot_pipeline.lib.tracking import CHAMPION_ALIAS, set_alias
    from datapilot_pipeline_tests.model_fixtures import register_version
    from datapilot_pipeline_tests.serving_fixtures import build_untrained_with_adapter

    home = tmp_path_factory.mktemp("serve") / "home"
    (home / ".dagster_home").mkdir(parents=True)
    base, adapter = build_untrained_with_adapter(home.parent / "tiny")
    version = register_version(home, base, adapter)["version"]
    set_alias(f"sqlite:///{home / 'mlflow.db'}", version, CHAMPION_ALIAS)
    port = _free_port()
    env = _env(home, **{KEY_ENV: f"sk-other-key, {SECRET}"})
    log = open(home.parent / "serve.err", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "datapilot_pipeline", "serve", "--port", str(port),
                             "--api-key-env", KEY_ENV, "--max-batch-size", "4", "--log-level", "warning"],
                            cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"datapilot serve exited with {proc.returncode}: {log.seek(0) or log.read()}"
            assert time.monotonic() < deadline, "datapilot serve did not become healthy"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        yield {"port": port, "base": base, "adapter": adapter, "home": home, "env": env, "version": version,
               "log": log, "url": f"http://127.0.0.1:{port}/v1"}
    finally:
        os.killpg(proc.pid, 15)  # the server, its API process and its worker
        proc.wait(timeout=120)
        log.close()


def _audit_records(home: Path, until, timeout_s: float = 180) -> list[dict]:
    """The audit records once `until(records)` holds (they are written off the request path)."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = [json.loads(line) for path in (home / "data" / "llm_logs").glob("*.jsonl")
                   for line in path.read_text().splitlines() if line.strip()]
        if until(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def _client(server, key: str = SECRET):
    from openai import OpenAI

    return OpenAI(base_url=server["url"], api_key=key, max_retries=0, timeout=300)


def test_keys_identity_and_error_shapes_with_the_openai_client(server):
    from openai import AuthenticationError, BadRequestError

    for key in ("", "sk-wrong"):
        with pytest.raises(AuthenticationError) as refused:
            _client(server, key or "unset").models.list()
        assert refused.value.status_code == 401 and refused.value.body["code"] == "invalid_api_key"
    assert httpx.get(server["url"] + "/models").status_code == 401  # no Authorization header at all
    served = f"datapilot-insights/{server['version']}"
    models = _client(server, "sk-other-key").models.list().data
    assert [m.id for m in models] == [served] and "champion" in models[0].model_extra["aliases"]

    client = _client(server)
    for bad, param in (({"n": 2}, "n"), ({"logprobs": True}, "logprobs"), ({"frequency_penalty": 1.0}, "frequency_penalty")):
        with pytest.raises(BadRequestError) as refused:
            client.chat.completions.create(model=served, messages=[{"role": "user", "content": "hi"}], **bad)
        assert refused.value.body["param"] == param and refused.value.body["code"] == "unsupported_parameter"
    began = time.monotonic()
    with pytest.raises(BadRequestError) as refused:  # ~100 KB prompt: refused before the model, in well under a second
        client.chat.completions.create(model=served, messages=[{"role": "user", "content": "revenue 9800.0 " * 7000}])
    assert refused.value.body["code"] == "context_length_exceeded" and time.monotonic() - began < 10
    began = time.monotonic()
    huge = httpx.post(server["url"] + "/chat/completions", content=b'{"messages": "' + b"x" * 5_000_000 + b'"}',
                      headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}, timeout=60)
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_too_large"
    assert time.monotonic() - began < 10


def test_replies_say_what_served_them_why_they_ended_and_what_they_cost(server):
    from datapilot_pipeline.lib.generation.decoding import fit_bounds, output_schema, response_format
    from datapilot_pipeline.lib.evaluation.local import LocalGenerator
    from datapilot_pipeline.lib.contracts import LLMOutput
    from datapilot_pipeline.lib.normalize import normalize_output, parse_output_text

    client, served = _client(server), f"datapilot-insights/{server['version']}"
    eda = holdout(1)[0]["compact_eda"]
    messages = build_messages(eda, [])
    cut = client.chat.completions.create(model="champion", messages=messages, max_tokens=8,
                                         metadata={"job_id": "job_serve_1"})
    assert cut.model == served and cut.choices[0].finish_reason == "length"
    assert cut.usage.completion_tokens == 8 and cut.usage.total_tokens == cut.usage.prompt_tokens + 8
    # the evaluation's local generation path gives the same greedy text, token for token
    local = LocalGenerator(base_model=server["base"], adapter_dir=server["adapter"], max_new_tokens=8, constrained=False)
    assert cut.choices[0].message.content == local.generate_all([build_prompt(eda, [])], [messages])[0].text

    stream = client.chat.completions.create(model=served, messages=messages, max_tokens=8, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == cut.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 8 and {c.model for c in chunks} == {served}

    # no max_tokens: the bound is the schema's longest answer, so the reply completes and is contract JSON
    contract = response_format(output_schema(fit_bounds(300)))
    answer = client.chat.completions.create(model=served, messages=messages, response_format=contract)
    assert answer.choices[0].finish_reason == "stop"
    LLMOutput.model_validate(normalize_output(parse_output_text(answer.choices[0].message.content)))

    records = _audit_records(server["home"], until=lambda rs: any(r["job_id"] == "job_serve_1" for r in rs))
    mine = [r for r in records if r["job_id"] == "job_serve_1"]
    assert len(mine) == 1 and mine[0]["model"] == served and mine[0]["model_version"] == server["version"]
    assert mine[0]["completion_tokens"] == 8 and mine[0]["finish_reason"] == "length" and mine[0]["latency_s"] > 0
    assert any(r["status"] == 400 for r in records)  # refused requests are recorded too
    server["log"].seek(0)
    for text in [server["log"].read()] + [p.read_text() for p in (server["home"] / "data" / "llm_logs").glob("*")]:
        assert SECRET not in text and "sk-other-key" not in text


def test_datapilot_eval_scores_the_served_model_through_its_key(server):
    home = server["home"]
    (home / "holdout.jsonl").write_text("".join(json.dumps(e) + "\n" for e in holdout(2)))
    out = subprocess.run([sys.executable, "-m", "datapilot_pipeline", "eval", "--holdout", "holdout.jsonl",
                          "--base-model", str(server["base"]), "--shot-count", "0", "--max-new-tokens", "12",
                          "--unconstrained", "--finetuned-endpoint", server["url"] + "/chat/completions",
                          "--api-key-env", "DATAPILOT_TEST_CLIENT_KEY", "--bootstrap", "100"],
                         cwd=home, env={**server["env"], "DATAPILOT_TEST_CLIENT_KEY": SECRET}, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    report = json.loads(next((home / "reports").glob("eval_*.json")).read_text())
    assert report["fine_tuned"]["n"] == 2 and report["fine_tuned"]["backend"] == "endpoint"


def test_an_alias_that_points_nowhere_names_what_is_registered_and_the_command(server, tmp_path):
    from datapilot_pipeline.lib.generation.modeling import DEMO_BASE_DIR
    from datapilot_pipeline_tests.model_fixtures import register_version

    home = tmp_path / "home"
    home.mkdir()
    out = _serve(home, env=_env(home))  # nothing registered: points at the base model
    assert out.returncode == 2 and "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]  # MLflow logs its own lines while it creates the DB
    assert last.startswith("datapilot: error: models:/datapilot-insights@champion is not registered")
    assert last.endswith("datapilot serve --model " + str(DEMO_BASE_DIR))  # a model that is there
    register_version(home, server["base"], server["adapter"])  # training registers a candidate; nothing promoted
    out = _serve(home, env=_env(home))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].endswith(
        "registered: version 1 (candidate)); serve an unpromoted one with: "
        "datapilot serve --model models:/datapilot-insights@candidate")


@pytest.mark.parametrize("args, says", [
    (["--host", "0.0.0.0"], "refusing to serve on 0.0.0.0 without an API key"),
    (["--api-key-env", "DATAPILOT_TEST_UNSET_KEYS"], "DATAPILOT_TEST_UNSET_KEYS: the variable is unset"),
    (["--host", "10.1.2.3", "--insecure-no-auth"], "--host must be one of"),
])
def test_unsafe_or_impossible_settings_refuse_to_start(tmp_path, args, says):
    out = _serve(tmp_path, *args, env=_env(tmp_path))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and says in out.stderr
