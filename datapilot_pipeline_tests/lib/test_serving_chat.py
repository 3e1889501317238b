"""One chat request -> the local generator: the prompt layout, max_tokens and response_format handling (the real
server and model are exercised in cli/test_serve_cli.py)."""

from __future__ import annotations

import pytest

from datapilot_pipeline.lib.evaluation.endpoint import Generation
from datapilot_pipeline.lib.prompts import build_messages, build_prompt
from datapilot_pipeline.lib.serving.chat import UnsupportedRequest, complete, messages_to_prompt
from datapilot_pipeline_tests.eval_fixtures import holdout, seeds


class Recorder:
    """Stands in for `LocalGenerator` (same attributes and call shape) and records what it was asked."""

    def __init__(self, max_new_tokens: int = 50):
        self.max_new_tokens = max_new_tokens
        self.calls: list[tuple] = []

    def generate_all(self, prompts, conversations, on_done=None):
        self.calls.append((list(prompts), self.max_new_tokens))
        return [Generation(text="{}", latency_s=0.0, prompt_tokens=7, completion_tokens=2)]


class ConstrainedRecorder(Recorder):
    def generate_all(self, prompts, conversations, on_done=None, response_format=None):
        self.calls.append((list(prompts), self.max_new_tokens, response_format))
        return [Generation(text="{}", latency_s=0.0, prompt_tokens=7, completion_tokens=2)]


@pytest.mark.parametrize("shots", [0, 2])
def test_messages_flatten_to_the_evaluation_prompt(shots):
    eda = holdout(1)[0]["compact_eda"]
    assert messages_to_prompt(build_messages(eda, seeds(shots))) == build_prompt(eda, seeds(shots))
    parts = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert messages_to_prompt(parts) == "ab"


def test_max_tokens_lowers_the_bound_for_one_request_only():
    gen = Recorder(max_new_tokens=50)
    reply = complete(gen, [{"role": "user", "content": "x"}], max_tokens=10)
    assert reply == {"content": "{}", "prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    complete(gen, [{"role": "user", "content": "x"}], max_tokens=500)
    assert [bound for _, bound in gen.calls] == [10, 50] and gen.max_new_tokens == 50


def test_response_format_is_passed_through_or_refused():
    schema = {"type": "json_schema", "json_schema": {"name": "insights", "schema": {"type": "object"}}}
    plain = Recorder()
    complete(plain, [{"role": "user", "content": "x"}], {"type": "text"})
    with pytest.raises(UnsupportedRequest, match="constrained decoding"):
        complete(plain, [{"role": "user", "content": "x"}], schema)
    constrained = ConstrainedRecorder()
    complete(constrained, [{"role": "user", "content": "x"}], schema)
    assert constrained.calls[0][2] == schema
    for bad in ({"type": "xml"},):
        with pytest.raises(UnsupportedRequest):
            complete(constrained, [{"role": "user", "content": "x"}], bad)
    with pytest.raises(UnsupportedRequest, match="role"):
        messages_to_prompt([{"role": "tool", "content": "x"}])
