"""What a request must pass before any route sees it: the API key, then the body size, answered in OpenAI's error
shape. A pure ASGI middleware, so a refused body is never read past the cap and never parsed.

Keys are compared in constant time and never logged or echoed. `/health` stays open (load balancers probe it).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from typing import Any

OPEN_PATHS = ("/health",)
# A refused body up to this size is read and dropped before the 413 goes out: a client still writing its body when
# the server closes the connection sees a reset instead of the answer. A bigger one is cut off at once.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


def error_body(message: str, type: str, code: str | None, param: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type, "param": param, "code": code}}).encode()


async def send_error(send: Any, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """API keys (`Authorization: Bearer KEY`; none configured: open) and a request-body cap in bytes."""

    def __init__(self, app: Any, keys: Sequence[str] = (), max_body_bytes: int = 256 * 1024):
        self.app, self.max_body_bytes = app, max_body_bytes
        self._keys = [k.encode() for k in keys]

    def _authorized(self, scope: dict) -> bool:
        if not self._keys or scope["path"] in OPEN_PATHS:
            return True
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        token = token.strip()
        return any(hmac.compare_digest(token, key) for key in self._keys)  # no early exit on the first match

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._authorized(scope):
            await send_error(send, 401, error_body(
                "Incorrect API key provided. Send it as 'Authorization: Bearer <key>'.", "invalid_request_error",
                "invalid_api_key"), [(b"www-authenticate", b"Bearer")])
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(receive, send, drain=int(declared) <= DRAIN_LIMIT_BYTES)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        # Read the whole body here, counting (a chunked upload declares no length), then replay it to the route.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(receive, send, drain=more)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the client's disconnect, as uvicorn does
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, receive: Any, send: Any, drain: bool) -> None:
        read = 0
        while drain and read <= DRAIN_LIMIT_BYTES:
            message = await receive()
            read += len(message.get("body", b""))
            drain = message["type"] == "http.request" and message.get("more_body", False)
        await send_error(send, 413, error_body(
            f"Request body too large: this server accepts at most {self.max_body_bytes} bytes.",
            "invalid_request_error", "request_too_large"), [(b"connection", b"close")])
