"""The LitServe API class (importable at module level: LitServe pickles it into its worker process)."""

from __future__ import annotations

from typing import Any

import litserve as ls
from fastapi import HTTPException

from datapilot_pipeline.lib.serving.chat import UnsupportedRequest, complete


class ChatCompletionsAPI(ls.LitAPI):
    """OpenAI chat completions answered by a `LocalGenerator` (loaded once per worker in `setup`)."""

    def __init__(self, generator: Any, model_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.model_name = model_name

    def setup(self, device: str) -> None:
        self.generator._load()  # fail at start-up, not on the first request

    def predict(self, request):
        messages = [m.model_dump(exclude_none=True) for m in request.messages]
        # from the request, not the context: the context's plain dict() loses the `schema` alias of json_schema
        response_format = request.response_format.model_dump(by_alias=True) if request.response_format else None
        max_tokens = request.max_completion_tokens or request.max_tokens
        try:
            reply = complete(self.generator, messages, response_format, max_tokens)
        except UnsupportedRequest as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        yield {"role": "assistant", **reply}
