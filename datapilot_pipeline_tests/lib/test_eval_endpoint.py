"""The endpoint arm against a real local OpenAI-compatible HTTP server with canned replies."""

from __future__ import annotations

import json

import httpx
import pytest

from datapilot_pipeline.lib.audit import AuditLog, read_records
from datapilot_pipeline.lib.evaluation.endpoint import EndpointClient, EndpointError, public_url
from datapilot_pipeline.lib.evaluation.promotion import PromotionRules, decide_promotion
from datapilot_pipeline.lib.evaluation.runner import evaluate_arms
from datapilot_pipeline_tests.eval_fixtures import holdout, reply, seeds
from datapilot_pipeline_tests.eval_server import SECRET, server, url  # noqa: F401 - server is a fixture


def test_both_arms_give_exactly_the_hand_computed_rates(server, home, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    few = EndpointClient(url(server, "fs") + "?api_key=" + SECRET, model="base", max_concurrency=3)
    tuned = EndpointClient(url(server, "ft"), model="tuned", max_concurrency=3)
    result = evaluate_arms(holdout(7), few, tuned, shot_count=3, seeds=seeds(), audit=AuditLog(home / "data" / "llm_logs"),
                           report_dir=home / "reports", n_bootstrap=200)
    fs, ft = result.report["few_shot"], result.report["fine_tuned"]
    # few-shot: valid, wrong_row, hallucinated pass the schema: 3/7; valid evidence (2 + 1 + 1) / 6
    assert (fs["n"], fs["schema_pass_rate"], fs["evidence_accuracy"]) == (7, pytest.approx(3 / 7), pytest.approx(4 / 6))
    # fine-tuned: all pass (one fenced); the hallucinated aggregate loses one insight of 14
    assert (ft["n"], ft["schema_pass_rate"], ft["evidence_accuracy"]) == (7, 1.0, pytest.approx(13 / 14))
    assert set(fs["schema_errors"]) == {"h2", "h3", "h4", "h5"} and ft["schema_errors"] == {}
    assert fs["shot_count"] == 3 and ft["shot_count"] == 0
    assert sorted(s["shots"] for s in server.seen if s["arm"] == "fs") == [3] * 7
    assert sorted(s["shots"] for s in server.seen if s["arm"] == "ft") == [0] * 7
    assert {s["auth"] for s in server.seen} == {f"Bearer {SECRET}"} and {s["model"] for s in server.seen} == {"base", "tuned"}
    assert server.max_in_flight <= 3

    saved = json.loads(result.report_path.read_text())
    assert result.report_path.parent == home / "reports" and result.report_path.name.startswith("eval_")
    assert saved["few_shot"]["schema_pass_rate"] == pytest.approx(3 / 7)
    # the model name sent is recorded beside the URL, whose query string (and its key) is dropped
    assert saved["few_shot"]["model"] == f"base @ {url(server, 'fs')}"
    # per example (a schema failure scores 0): few-shot 2/7, fine-tuned 6.5/7; better, but on 7 examples only
    assert saved["promotion"] == decide_promotion(saved).as_dict()
    decision = decide_promotion(saved)
    assert [r.name for r in decision.rules if not r.passed] == ["holdout size"]
    assert decision.numbers["diff_vs_few_shot"] == pytest.approx(6.5 / 7 - 2 / 7)
    assert saved["per_example"]["few_shot"]["schema_pass"] == [1, 0, 0, 0, 0, 1, 1]
    assert saved["per_example"]["example_id"] == [f"h{k}" for k in range(1, 8)]
    assert decide_promotion(saved, PromotionRules(min_examples=7)).promote

    records = [r for p in (home / "data" / "llm_logs").glob("*.jsonl") for r in read_records(p)]
    assert len(records) == 14 and {r["arm"] for r in records} == {"few_shot", "fine_tuned"}
    assert {r["model"] for r in records if r["arm"] == "fine_tuned"} == {f"tuned @ {url(server, 'ft')}"}
    assert all(r["completion_tokens"] == 50 and r["latency_s"] > 0 for r in records)
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="ignore"), path


def test_retries_429_and_5xx_with_exponential_backoff(server):
    server.script = [429, 503, 500]
    waits: list[float] = []
    client = EndpointClient(url(server, "ft"), max_retries=4, backoff_s=0.5, sleep=waits.append)
    conversation = [{"role": "user", "content": "### Task\nCompact EDA:\n"
                     + json.dumps(holdout(1)[0]["compact_eda"]) + "\nInsights:\n"}]
    gen = client.complete(conversation)
    assert gen.attempts == 4 and json.loads(gen.text)["insights"][0]["id"] == "i1"
    assert waits == [0.5, 1.0, 2.0]


def test_gives_up_after_the_retry_budget_and_on_client_errors(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.script = [502] * 3
    waits: list[float] = []
    client = EndpointClient(url(server, "ft"), max_retries=2, sleep=waits.append)
    with pytest.raises(EndpointError, match="after 3 attempts") as info:
        client.complete([{"role": "user", "content": "x"}])
    assert SECRET not in str(info.value) and len(waits) == 2
    server.script = [400]
    with pytest.raises(EndpointError, match="HTTP 400; not retrying"):
        client.complete([{"role": "user", "content": "x"}])


def test_transport_errors_are_retried_and_bodies_checked():
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("refused")
        if calls["n"] == 2:
            return httpx.Response(200, json={"not": "a completion"})
        return httpx.Response(200, json={"choices": [{"message": {"content": "hi"}}]})

    client = EndpointClient("http://model.internal/v1/chat/completions", sleep=lambda s: None,
                            transport=httpx.MockTransport(handler))
    with pytest.raises(EndpointError, match="not a chat completion"):
        client.complete([{"role": "user", "content": "x"}])
    assert client.complete([{"role": "user", "content": "x"}]).text == "hi"


def test_urls_are_checked_and_made_public():
    assert public_url("https://user:pw@host:8443/v1/chat/completions?key=abc") == "https://host:8443/v1/chat/completions"
    with pytest.raises(ValueError, match="http"):
        EndpointClient("ftp://host/x")


def test_a_local_arm_fits_its_worked_examples_to_its_own_context():
    """A backend that knows its context (LocalGenerator.fit_shots) gets the longest prefix of the shots that fits;
    the default 3 worked examples once overflowed the tiny model's 4,096 positions and failed the evaluation."""
    from datapilot_pipeline.lib.evaluation.endpoint import Generation
    from datapilot_pipeline.lib.prompts import build_prompt

    class SmallContext:
        kind, label, decoding = "local", "small", None
        limit = len(build_prompt(holdout(1)[0]["compact_eda"], seeds()[:1])) + 10  # room for one worked example
        seen: list[int] = []

        def fit_shots(self, compact_eda, shots):
            kept = []
            for shot in shots:
                if len(build_prompt(compact_eda, [*kept, shot])) > self.limit:
                    break
                kept.append(shot)
            return kept

        def generate_all(self, prompts, conversations, on_done=None):
            self.seen.extend(len(p) for p in prompts)
            return [Generation(text=reply("valid"), latency_s=0.0) for _ in prompts]

    few = SmallContext()
    result = evaluate_arms(holdout(3), few, SmallContext(), shot_count=3, seeds=seeds(), n_bootstrap=100)
    assert result.report["few_shot"]["shot_count"] == 1 and max(few.seen) <= SmallContext.limit
