"""One chat-completions request checked and turned into an engine `Job`, in the API process, before any model work.

Every client mistake is a 4xx in OpenAI's error shape (`{"error": {"message", "type", "param", "code"}}`), never a
500 and never a silent no-op: unknown fields are refused (as OpenAI does), sampling settings are honoured
(`temperature`, `top_p`, `seed`, `stop`), the ones this server cannot honour are refused with 400 (`n` > 1,
`logprobs`, penalties, `logit_bias`, tools). The prompt is tokenized here, so a prompt longer than the model's
context is answered `context_length_exceeded` without reaching the model.

Reply bound: a request's `max_tokens` (or `max_completion_tokens`), else the bound its JSON Schema implies
(`lib.generation.decoding.max_output_bytes`: every token adds at least one byte), else the insights contract's bound, so a
default reply is never cut before a contract answer could complete. Defaults are greedy, as the evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from datapilot_pipeline.lib.serving.chat import messages_to_prompt
from datapilot_pipeline.lib.serving.engine import Job

MAX_STOP_SEQUENCES = 4  # OpenAI's limit


class APIError(Exception):
    """An error reply in OpenAI's shape."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[_Part] | None = None
    name: str | None = None


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The fields of OpenAI's chat-completions request this server knows; any other field is refused."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    messages: list[_Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1)
    stream: bool | None = False
    stream_options: _StreamOptions | None = None
    response_format: dict[str, Any] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias: dict[str, float] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None  # DataPilot's job id travels as metadata.job_id
    store: bool | None = None


@dataclass(frozen=True)
class Prepared:
    """A checked request: the engine's job plus what the reply and the audit log need."""

    job: Job
    messages: list[dict[str, str]]
    include_usage: bool
    job_id: str | None


def parse_request(body: bytes) -> ChatRequest:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise APIError(400, f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object")
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            raise APIError(400, f"Unrecognized request argument supplied: {param}", param=param,
                           code="unknown_parameter") from None
        raise APIError(400, f"invalid {param}: {first['msg']}", param=param, code="invalid_value") from None


def _refuse_unsupported(request: ChatRequest) -> None:
    """Settings this server cannot honour: 400, never silently ignored."""
    unsupported = {
        "n": request.n not in (None, 1),
        "logprobs": bool(request.logprobs),
        "top_logprobs": bool(request.top_logprobs),
        "presence_penalty": bool(request.presence_penalty),
        "frequency_penalty": bool(request.frequency_penalty),
        "logit_bias": bool(request.logit_bias),
        "tools": bool(request.tools),
        "tool_choice": request.tool_choice not in (None, "none"),
    }
    for name, refused in unsupported.items():
        if refused:
            raise APIError(400, f"{name} is not supported by this server (one greedy or sampled choice, no "
                                "log probabilities, penalties or tools); leave it out", param=name,
                           code="unsupported_parameter")


def _stops(stop: str | list[str] | None) -> tuple[str, ...]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > MAX_STOP_SEQUENCES or any(not s for s in stops):
        raise APIError(400, f"stop takes at most {MAX_STOP_SEQUENCES} non-empty strings", param="stop",
                       code="invalid_value")
    return tuple(stops)


def requested_schema(response_format: dict[str, Any] | None) -> dict | None:
    """The JSON Schema a `response_format` asks for (None for text): evaluation's reading, refusals as 400s."""
    from datapilot_pipeline.lib.evaluation.local import requested_schema as schema_of

    try:
        return schema_of(response_format)
    except ValueError as exc:
        kind = (response_format or {}).get("type")
        param = "response_format.json_schema.schema" if kind == "json_schema" else "response_format.type"
        raise APIError(400, f"{exc} (text, json_object, json_schema)" if param.endswith("type") else str(exc),
                       param=param, code="invalid_value") from None


@lru_cache(maxsize=64)
def _grammar(schema_json: str) -> str:
    """The llguidance grammar of a schema, validated (DataPilot sends the same schema every time: compiled once)."""
    import llguidance

    from datapilot_pipeline.lib.generation.guided import compile_grammar

    try:
        grammar = compile_grammar(json.loads(schema_json))
    except (ValueError, TypeError) as exc:
        raise APIError(400, f"response_format schema is not supported: {exc}", param="response_format",
                       code="invalid_value") from None
    problem = llguidance.LLMatcher.validate_grammar(grammar)
    if problem:
        raise APIError(400, f"response_format schema is not supported: {problem}", param="response_format",
                       code="invalid_value")
    return grammar


def schema_reply_tokens(schema: dict | None) -> int:
    """The default reply bound: the schema's worst-case answer plus the end token, else the contract's."""
    from datapilot_pipeline.lib.generation.decoding import max_output_bytes

    if schema is not None:
        try:
            return max_output_bytes(schema) + 1
        except (ValueError, KeyError, TypeError, IndexError):  # a schema with no length bound
            pass
    return contract_reply_tokens()


@lru_cache(maxsize=1)
def contract_reply_tokens() -> int:
    """Tokens that always hold a complete answer under the insights contract's bounded schema."""
    from datapilot_pipeline.lib.generation.decoding import max_output_bytes, output_schema

    return max_output_bytes(output_schema()) + 1


class Preparer:
    """Checks requests against one model's tokenizer and context."""

    def __init__(self, tokenizer: Any, context: int, max_reply_tokens: int | None = None):
        self.tokenizer, self.context, self.max_reply_tokens = tokenizer, context, max_reply_tokens

    def prompt_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The ids the model is prefilled with: chat-templated when the tokenizer has a template (as the evaluation)."""
        from datapilot_pipeline.lib.chat_format import render_prompts

        from jinja2 import TemplateError

        try:
            text = render_prompts(self.tokenizer, [messages_to_prompt(messages)], [list(messages)])[0]
        except (TemplateError, ValueError) as exc:  # e.g. a template that allows no system or developer turn
            raise APIError(400, f"the model's chat template cannot render these messages: {exc}", param="messages",
                           code="invalid_value") from None
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise APIError(400, "the messages hold no text", param="messages", code="invalid_value")
        return ids

    def prepare(self, request: ChatRequest) -> Prepared:
        _refuse_unsupported(request)
        messages = [{"role": m.role, "content": m.content if isinstance(m.content, str)
                     else "".join(p.text for p in m.content or [])} for m in request.messages]
        schema = requested_schema(request.response_format)
        grammar = _grammar(json.dumps(schema, sort_keys=True)) if schema is not None else None
        ids = self.prompt_ids(messages)
        asked = request.max_completion_tokens or request.max_tokens
        if asked is not None and self.max_reply_tokens is not None and asked > self.max_reply_tokens:
            raise APIError(400, f"max_tokens is too large: {asked}; this server replies with at most "
                                f"{self.max_reply_tokens} tokens", param="max_tokens", code="invalid_value")
        if len(ids) + (asked or 1) > self.context:
            wanted = f"{len(ids) + asked} tokens ({len(ids)} in the messages, {asked} in the completion)" if asked \
                else f"{len(ids)} tokens in the messages and no room for a reply"
            raise APIError(400, f"This model's maximum context length is {self.context} tokens. However, you "
                                f"requested {wanted}. Please reduce the length of the messages or completion.",
                           param="messages", code="context_length_exceeded")
        bound = asked or min(schema_reply_tokens(schema), self.max_reply_tokens or self.context,
                             self.context - len(ids))
        temperature = request.temperature or 0.0
        job = Job(input_ids=tuple(ids), max_tokens=bound, temperature=temperature,
                  top_p=request.top_p if request.top_p is not None else 1.0, seed=request.seed,
                  stop=_stops(request.stop), grammar=grammar, stream=bool(request.stream))
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        job_id = (request.metadata or {}).get("job_id") or request.user
        return Prepared(job=job, messages=messages, include_usage=include_usage, job_id=job_id)
