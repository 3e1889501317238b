"""One chat-completions request answered by a local generator, the evaluation's local code path.

The messages are flattened back into the prompt layout of `lib.prompts.build_prompt` (system prompt, a blank
line, the user part), so a request built with `build_messages` reaches the model exactly as the evaluation's
local arm and the training data present it.

`response_format` is handed to the generator: `{"type": "text"}` (or none) asks for nothing; a
`json_object` or `json_schema` format is passed as `generate_all(..., response_format=...)`, which constrains
the reply to that schema (llguidance); a generator without that keyword refuses it with a clear error, so a
client never believes a schema was enforced when it was not.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any


class UnsupportedRequest(ValueError):
    """A request this server cannot honour (answered with HTTP 400)."""


def message_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        part = part if isinstance(part, dict) else part.model_dump()
        if part.get("type") != "text":
            raise UnsupportedRequest(f"content parts of type {part.get('type')!r} are not supported (text only)")
        parts.append(part.get("text") or "")
    return "".join(parts)


def messages_to_prompt(messages: Sequence[dict]) -> str:
    """System and user turns joined as `build_prompt` joins them; an assistant turn continues the text."""
    texts = []
    for message in messages:
        if message.get("role") not in ("system", "user", "assistant", "developer"):
            raise UnsupportedRequest(f"message role {message.get('role')!r} is not supported")
        texts.append(message_text(message.get("content")))
    if not texts:
        raise UnsupportedRequest("messages must not be empty")
    return "\n\n".join(texts)


def _accepts_response_format(generator: Any) -> bool:
    return "response_format" in inspect.signature(generator.generate_all).parameters


def complete(generator: Any, messages: Sequence[dict], response_format: dict | None = None,
             max_tokens: int | None = None) -> dict:
    """`{"content", "prompt_tokens", "completion_tokens", "total_tokens"}` for one request.

    `max_tokens` lowers the generator's reply bound for this request only (never raises it)."""
    prompt = messages_to_prompt(messages)
    kwargs: dict[str, Any] = {}
    kind = (response_format or {}).get("type", "text")
    if kind not in ("text", "json_object", "json_schema"):
        raise UnsupportedRequest(f"response_format type {kind!r} is not supported")
    if kind != "text":
        if not _accepts_response_format(generator):
            raise UnsupportedRequest(f"response_format {kind!r} needs constrained decoding, which this model's "
                                     "generator does not offer yet; send none or {'type': 'text'}")
        kwargs["response_format"] = response_format
    bound = generator.max_new_tokens
    if max_tokens is not None:
        if max_tokens < 1:
            raise UnsupportedRequest(f"max_tokens must be >= 1, got {max_tokens}")
        generator.max_new_tokens = min(bound, max_tokens)
    try:
        gen = generator.generate_all([prompt], [list(messages)], **kwargs)[0]
    finally:
        generator.max_new_tokens = bound
    prompt_tokens, completion_tokens = gen.prompt_tokens or 0, gen.completion_tokens or 0
    return {"content": gen.text, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}
