"""FastAPI's own errors (unknown path, wrong method, unparsable body) in OpenAI's error shape, not `{"detail": ...}`."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from datapilot_pipeline.lib.serving.protocol import APIError

_CODES = {401: "invalid_api_key", 404: "not_found", 405: "method_not_allowed", 413: "request_too_large",
          504: "timeout"}


def _shape(status: int, message: str, code: str | None) -> JSONResponse:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}},
                        status_code=status)


async def _http_error(request: Any, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404:
        detail = f"Unknown path {request.url.path}; this server answers /v1/chat/completions and /v1/models"
    return _shape(exc.status_code, detail, _CODES.get(exc.status_code))


async def _validation_error(request: Any, exc: RequestValidationError) -> JSONResponse:
    first = (exc.errors() or [{}])[0]
    return _shape(400, f"invalid request: {first.get('msg', 'malformed')}", "invalid_value")


async def _api_error(request: Any, exc: APIError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def install_error_handlers(app: Any) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(APIError, _api_error)
