"""LitServe's `OpenAISpec`, answering as OpenAI does: `/v1/chat/completions` (plain or server-sent events) and
`/v1/models`, every reply naming the served model's id, `finish_reason` and exact `usage`, every error in
OpenAI's shape.

The request is checked and tokenized here, in the API process (`protocol.Preparer`), before it is queued: a bad
request never reaches the worker, so it can never fail the requests batched with it, and a prompt over the
context is refused in milliseconds. The worker (`litapi.EngineLoop`) sends back JSON chunks
`{"text", "finish_reason", "prompt_tokens", "completion_tokens"}` or `{"error", "status"}`; a request is answered
as soon as its own chunk says it is finished.

LitServe 0.2.19's own `OpenAISpec.chat_completion` is replaced because it always says `finish_reason: "stop"`,
echoes the request's `model`, answers errors as `{"detail": ...}` and cannot batch (issue Lightning-AI/LitServe#463).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from litserve.specs.openai import OpenAISpec
from litserve.utils import LitAPIStatus, ResponseBufferItem

from datapilot_pipeline.lib.serving.audit_log import ServedAudit
from datapilot_pipeline.lib.serving.identity import ServedModel
from datapilot_pipeline.lib.serving.protocol import APIError, Prepared, Preparer, parse_request


def error_response(error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


class ChatCompletionsSpec(OpenAISpec):
    def __init__(self, served: ServedModel, preparer: Preparer, audit: ServedAudit | None = None):
        super().__init__()
        self.served, self.preparer, self.audit = served, preparer, audit

    def __getstate__(self) -> dict:
        state = super().__getstate__()  # the worker process needs neither the tokenizer nor the audit log
        state.update(preparer=None, audit=None)
        return state

    def pre_setup(self, lit_api: Any) -> None:
        super().pre_setup(lit_api)  # registers self.chat_completion (this class's) on /v1/chat/completions
        self.add_endpoint("/v1/models", self.list_models, ["GET"])
        self.add_endpoint("/v1/models/{model_id:path}", self.get_model, ["GET"])

    def populate_context(self, context: dict, request: Any) -> None:
        pass

    def decode_request(self, request: Any, context_kwargs: dict | None = None) -> Any:
        return request

    async def list_models(self) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [self.served.card()]})

    async def get_model(self, model_id: str) -> JSONResponse:
        if model_id != self.served.id:
            return error_response(APIError(404, f"The model '{model_id}' does not exist; this server serves "
                                                f"'{self.served.id}'", param="model", code="model_not_found"))
        return JSONResponse(self.served.card())

    async def chat_completion(self, request: Request) -> Response:
        began, request_id = time.perf_counter(), f"chatcmpl-{uuid.uuid4().hex}"
        try:
            chat = parse_request(await request.body())
            prepared = await asyncio.to_thread(self.preparer.prepare, chat)  # tokenizing is CPU work
        except APIError as error:
            self._audit(request_id, None, began, error=error)
            return error_response(error)
        chunks = self._submit(prepared)
        if prepared.job.stream:
            return StreamingResponse(self._events(request_id, prepared, chunks, began),
                                     media_type="text/event-stream")
        text, last = [], {}
        try:
            async for chunk in chunks:
                text.append(chunk["text"])
                last = chunk
        except APIError as error:
            self._audit(request_id, prepared, began, error=error)
            return error_response(error)
        content = "".join(text)
        self._audit(request_id, prepared, began, content, last)
        return JSONResponse({
            "id": request_id, "object": "chat.completion", "created": int(time.time()), "model": self.served.id,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "logprobs": None,
                         "finish_reason": last["finish_reason"]}],
            "usage": _usage(last)})

    async def _submit(self, prepared: Prepared) -> AsyncIterator[dict]:
        """Queue the job for the worker; yield its chunks until the one that finishes it."""
        uid = uuid.uuid4()
        queue: deque = deque()
        event = asyncio.Event()
        self.response_buffer[uid] = ResponseBufferItem(response_queue=queue, event=event)
        try:
            self.request_queue.put((self.response_queue_id, uid, time.monotonic(), prepared.job))
            async for data, status in self.data_streamer(queue, event, send_status=True):
                if status == LitAPIStatus.ERROR:
                    raise APIError(500, "The server had an error while processing your request.",
                                   type="server_error", code="internal_error")
                chunk = json.loads(data)
                if "error" in chunk:
                    raise APIError(chunk.get("status", 500), chunk["error"], type="server_error",
                                   code="timeout" if chunk.get("status") == 504 else "internal_error")
                yield chunk
                if chunk["finish_reason"] is not None:
                    return
        finally:
            self.response_buffer.pop(uid, None)  # later chunks of a finished request are dropped

    async def _events(self, request_id: str, prepared: Prepared, chunks: AsyncIterator[dict],
                      began: float) -> AsyncIterator[str]:
        created = int(time.time())

        def event(delta: dict, finish: str | None = None, **extra: Any) -> str:
            body = {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": self.served.id,
                    "system_fingerprint": None,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
            if prepared.include_usage and "usage" not in extra:
                body["usage"] = None
            return f"data: {json.dumps(body)}\n\n"

        text, last = [], {}
        yield event({"role": "assistant", "content": ""})
        try:
            async for chunk in chunks:
                last = chunk
                if chunk["text"]:
                    text.append(chunk["text"])
                    yield event({"content": chunk["text"]})
            yield event({}, last["finish_reason"])
            if prepared.include_usage:
                body = {"id": request_id, "object": "chat.completion.chunk", "created": created,
                        "model": self.served.id, "system_fingerprint": None, "choices": [], "usage": _usage(last)}
                yield f"data: {json.dumps(body)}\n\n"
            yield "data: [DONE]\n\n"
            self._audit(request_id, prepared, began, "".join(text), last)
        except APIError as error:
            self._audit(request_id, prepared, began, "".join(text), error=error)
            yield f"data: {json.dumps(error.body())}\n\n"

    def _audit(self, request_id: str, prepared: Prepared | None, began: float, content: str | None = None,
               last: dict | None = None, error: APIError | None = None) -> None:
        if self.audit is None:
            return
        last = last or {}
        self.audit.submit(request_id=request_id, job_id=prepared.job_id if prepared else None,
                          messages=prepared.messages if prepared else None, response=content,
                          latency_s=time.perf_counter() - began,
                          prompt_tokens=len(prepared.job.input_ids) if prepared else None,
                          completion_tokens=last.get("completion_tokens"), finish_reason=last.get("finish_reason"),
                          status=error.status if error else 200, error=error.message if error else None,
                          stream=bool(prepared and prepared.job.stream))


def _usage(chunk: dict) -> dict[str, int]:
    prompt, completion = chunk["prompt_tokens"], chunk["completion_tokens"]
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
