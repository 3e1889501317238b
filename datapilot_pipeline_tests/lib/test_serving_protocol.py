"""Request checks in the API process: every client mistake a 4xx in OpenAI's shape, before the model; the reply
bound a request gets by default; sampling settings carried to the engine."""

from __future__ import annotations

import json
import time

import pytest

from datapilot_pipeline.lib.prompts import build_messages
from datapilot_pipeline.lib.serving.chat import messages_to_prompt
from datapilot_pipeline.lib.serving.protocol import (
    APIError, Preparer, contract_reply_tokens, parse_request, schema_reply_tokens,
)
from datapilot_pipeline_tests.eval_fixtures import holdout, seeds
from datapilot_pipeline_tests.serving_fixtures import contract_texts

CONTEXT = 4096


@pytest.fixture(scope="module")
def preparer(tmp_path_factory) -> Preparer:
    from transformers import AutoTokenizer

    from datapilot_pipeline.lib.generation.modeling import build_tiny_tokenizer

    folder = build_tiny_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer", contract_texts(), vocab_size=400)
    return Preparer(AutoTokenizer.from_pretrained(folder), CONTEXT, max_reply_tokens=2000)


def _prepare(preparer: Preparer, **body):
    body.setdefault("messages", [{"role": "user", "content": "hello"}])
    return preparer.prepare(parse_request(json.dumps(body).encode()))


def _refused(preparer: Preparer, status: int = 400, **body) -> APIError:
    with pytest.raises(APIError) as caught:
        _prepare(preparer, **body)
    assert caught.value.status == status
    shape = caught.value.body()["error"]
    assert set(shape) == {"message", "type", "param", "code"} and shape["message"]
    return caught.value


def test_messages_flatten_to_the_evaluation_prompt():
    from datapilot_pipeline.lib.prompts import build_prompt

    eda = holdout(1)[0]["compact_eda"]
    for shots in (0, 2):
        assert messages_to_prompt(build_messages(eda, seeds(shots))) == build_prompt(eda, seeds(shots))


def test_a_prompt_over_the_context_is_refused_at_once_with_context_length_exceeded(preparer):
    began = time.perf_counter()
    error = _refused(preparer, messages=[{"role": "user", "content": "revenue 1520.4 " * 7000}])  # ~100 KB
    assert time.perf_counter() - began < 5  # tokenizing, not generating (generous for a loaded 2-core runner)
    assert error.code == "context_length_exceeded" and error.param == "messages" and str(CONTEXT) in error.message
    roomy = Preparer(preparer.tokenizer, CONTEXT)  # no reply cap of its own: the context is the limit
    room = CONTEXT - len(_prepare(roomy).job.input_ids)
    error = _refused(roomy, max_tokens=room + 1)
    assert error.code == "context_length_exceeded" and f"{room + 1} in the completion" in error.message
    assert _prepare(roomy, max_tokens=room).job.max_tokens == room


@pytest.mark.parametrize("body, param, code", [
    ({"n": 2}, "n", "unsupported_parameter"),
    ({"logprobs": True}, "logprobs", "unsupported_parameter"),
    ({"presence_penalty": 0.5}, "presence_penalty", "unsupported_parameter"),
    ({"logit_bias": {"12": 5}}, "logit_bias", "unsupported_parameter"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "unsupported_parameter"),
    ({"best_of": 2}, "best_of", "unknown_parameter"),
    ({"temperature": 2.5}, "temperature", "invalid_value"),
    ({"top_p": 0}, "top_p", "invalid_value"),
    ({"max_tokens": 0}, "max_tokens", "invalid_value"),
    ({"max_tokens": 2001}, "max_tokens", "invalid_value"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "invalid_value"),
    ({"stop": ""}, "stop", "invalid_value"),
    ({"messages": []}, "messages", "invalid_value"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role", "invalid_value"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]}, None, "invalid_value"),
    ({"response_format": {"type": "xml"}}, "response_format.type", "invalid_value"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format.json_schema.schema",
     "invalid_value"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "frobnicate"}}}},
     "response_format", "invalid_value"),
])
def test_what_the_server_cannot_honour_is_refused_not_ignored(preparer, body, param, code):
    error = _refused(preparer, **body)
    assert error.code == code
    if param is not None:
        assert error.param == param


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_a_body_that_is_no_json_object_is_a_400(raw):
    with pytest.raises(APIError) as caught:
        parse_request(raw)
    assert caught.value.status == 400


def test_default_reply_bound_comes_from_the_schema_else_the_contract(preparer):
    from datapilot_pipeline.lib.generation.decoding import fit_bounds, max_output_bytes, output_schema, response_format

    small = output_schema(fit_bounds(400))
    assert _prepare(preparer, response_format=response_format(small)).job.max_tokens == max_output_bytes(small) + 1
    assert contract_reply_tokens() == max_output_bytes(output_schema()) + 1 > 1024  # the old 384/1024 cut answers
    plain = _prepare(preparer)
    assert plain.job.max_tokens == min(contract_reply_tokens(), 2000) and plain.job.grammar is None
    unbounded = {"type": "object", "properties": {"note": {"type": "string"}}}
    assert schema_reply_tokens(unbounded) == contract_reply_tokens()
    assert _prepare(preparer, response_format={"type": "json_object"}).job.grammar is not None
    assert _prepare(preparer, max_tokens=8).job.max_tokens == 8


def test_sampling_settings_stream_and_job_id_reach_the_job(preparer):
    prepared = _prepare(preparer, temperature=0.7, top_p=0.9, seed=11, stop="\n\n", stream=True,
                        stream_options={"include_usage": True}, metadata={"job_id": "job_42"}, user="someone",
                        model="anything")
    job = prepared.job
    assert (job.temperature, job.top_p, job.seed, job.stop, job.stream) == (0.7, 0.9, 11, ("\n\n",), True)
    assert prepared.include_usage and prepared.job_id == "job_42"
    assert _prepare(preparer, user="job_7").job_id == "job_7"
    greedy = _prepare(preparer).job
    assert (greedy.temperature, greedy.top_p, greedy.seed, greedy.stream) == (0.0, 1.0, None, False)
    parts = _prepare(preparer, messages=[{"role": "user", "content": [{"type": "text", "text": "hel"},
                                                                      {"type": "text", "text": "lo"}]}])
    assert parts.messages == [{"role": "user", "content": "hello"}] and parts.job.input_ids == greedy.input_ids


def test_messages_without_text_are_a_400_not_an_empty_prompt(preparer):
    error = _refused(preparer, messages=[{"role": "user", "content": ""}])
    assert error.param == "messages" and "no text" in error.message
