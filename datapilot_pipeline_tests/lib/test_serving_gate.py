"""The gate in front of every route: API keys (401 in OpenAI's shape, keys never echoed) and the body cap (413 before
the route reads or parses anything, declared length or not)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from datapilot_pipeline.lib.serving.gate import Gate

KEYS = ("sk-first-DO-NOT-LEAK", "sk-second-DO-NOT-LEAK")


class Echo:
    """An ASGI app that records the bodies it was given."""

    def __init__(self):
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send):
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"%d" % len(body)})


def _call(gate: Gate, method: str, path: str, **kwargs) -> httpx.Response:
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gate), base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {KEYS[0]}"},
                                     {"Authorization": "Bearer"}, {"Authorization": f"Bearer {KEYS[0]}x"}])
def test_requests_without_a_right_key_get_401_in_openai_shape(headers):
    app = Echo()
    response = _call(Gate(app, KEYS), "POST", "/v1/chat/completions", headers=headers, content=b"{}")
    assert response.status_code == 401 and app.bodies == []
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
    assert all(key not in response.text for key in KEYS)


def test_every_configured_key_opens_every_route_and_health_needs_none():
    app = Echo()
    gate = Gate(app, KEYS)
    for key in KEYS:
        assert _call(gate, "GET", "/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert _call(gate, "GET", "/health").status_code == 200
    assert _call(Gate(app, ()), "GET", "/v1/models").status_code == 200  # no key configured: open (loopback only)


def test_a_body_over_the_cap_is_413_and_never_reaches_the_route():
    app = Echo()
    gate = Gate(app, KEYS, max_body_bytes=1000)
    auth = {"Authorization": f"Bearer {KEYS[1]}"}
    ok = _call(gate, "POST", "/v1/chat/completions", headers=auth, content=b"x" * 1000)
    assert ok.status_code == 200 and app.bodies == [b"x" * 1000]

    declared = _call(gate, "POST", "/v1/chat/completions", headers=auth, content=b"x" * 5_000_000)
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "request_too_large"

    async def chunks():  # no Content-Length: counted while it arrives
        for _ in range(5):
            yield b"y" * 400

    chunked = _call(gate, "POST", "/v1/chat/completions", headers=auth, content=chunks())
    assert chunked.status_code == 413
    assert app.bodies == [b"x" * 1000]  # neither refused body reached the route
