"""A client for an OpenAI-compatible chat-completions endpoint, given as the full URL
(e.g. `http://127.0.0.1:8000/v1/chat/completions`).

Timeouts on every request; retries with exponential backoff on 429, 5xx and transport errors
(honouring `Retry-After` up to the backoff cap); bounded concurrency with a thread pool. The API key
is read from an environment variable at call time and only ever placed in the Authorization header:
it is never part of an error message, a report or the audit log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class EndpointError(RuntimeError):
    """The endpoint failed for good (after retries, or with a non-retryable status)."""


@dataclass(frozen=True)
class Generation:
    """One model reply with what the audit log needs; token counts are None when unknown."""

    text: str
    latency_s: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempts: int = 1
    cached: bool = False  # read back from `lib.evaluation.reply_cache`, not generated in this run


def public_url(url: str) -> str:
    """The URL without credentials or query string, safe to write in reports and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint must be an http(s) URL to a chat-completions route, got {public_url(url)!r}")
    return url


@dataclass
class EndpointClient:
    """Chat completions against one URL. `model` is the name sent in the request body."""

    url: str
    model: str = "default"
    api_key_env: str = DEFAULT_API_KEY_ENV
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 0.5  # first wait; doubles per retry
    max_backoff_s: float = 20.0
    max_concurrency: int = 4
    max_tokens: int = 1024
    temperature: float = 0.0
    sleep: Callable[[float], None] = time.sleep
    transport: httpx.BaseTransport | None = None  # tests inject a MockTransport
    # OpenAI structured outputs ({"type": "json_schema", ...}); only for endpoints that support it
    response_format: dict | None = None
    kind: str = "endpoint"

    def __post_init__(self) -> None:
        check_url(self.url)
        if self.max_concurrency < 1 or self.max_retries < 0:
            raise ValueError("max_concurrency must be >= 1 and max_retries >= 0")

    @property
    def label(self) -> str:
        """What reports and the audit log record: the model name sent and where (the URL without secrets)."""
        return f"{self.model} @ {public_url(self.url)}"

    @property
    def decoding(self) -> dict:
        """What the evaluation report records about how replies were decoded."""
        return {"constrained": self.response_format is not None, "via": "response_format"}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        wait = min(self.backoff_s * (2 ** attempt), self.max_backoff_s)
        if response is not None:
            try:
                wait = min(max(wait, float(response.headers.get("retry-after", 0))), self.max_backoff_s)
            except ValueError:
                pass  # an HTTP-date Retry-After: keep the exponential wait
        return wait

    def complete(self, messages: Sequence[dict], client: httpx.Client | None = None) -> Generation:
        """One chat completion; raises `EndpointError` once retries are exhausted."""
        own = client is None
        client = client or self._client()
        body = {"model": self.model, "messages": list(messages), "temperature": self.temperature,
                "max_tokens": self.max_tokens}
        if self.response_format is not None:
            body["response_format"] = self.response_format
        start = time.perf_counter()
        try:
            for attempt in range(self.max_retries + 1):
                response: httpx.Response | None = None
                try:
                    response = client.post(self.url, json=body, headers=self._headers())
                except httpx.TransportError as exc:
                    problem = f"{type(exc).__name__}"
                else:
                    if response.status_code < 300:
                        return self._parse(response, time.perf_counter() - start, attempt + 1)
                    problem = f"HTTP {response.status_code}"
                    if response.status_code not in RETRY_STATUS:
                        raise EndpointError(f"{self.label} answered {problem}; not retrying")
                if attempt < self.max_retries:
                    self.sleep(self._wait(attempt, response))
            raise EndpointError(f"{self.label} failed after {self.max_retries + 1} attempts (last: {problem})")
        finally:
            if own:
                client.close()

    def _parse(self, response: httpx.Response, latency: float, attempts: int) -> Generation:
        try:
            payload = response.json()
            text = payload["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise EndpointError(f"{self.label} returned a body that is not a chat completion") from None
        usage = payload.get("usage") or {}
        return Generation(text=text if isinstance(text, str) else "", latency_s=latency,
                          prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                          attempts=attempts)

    def _client(self) -> httpx.Client:
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        return httpx.Client(timeout=httpx.Timeout(self.timeout_s), limits=limits, transport=self.transport)

    def complete_many(self, conversations: Sequence[Sequence[dict]],
                      on_done: Callable[[int, Generation], None] | None = None) -> list[Generation]:
        """Completions in input order, at most `max_concurrency` requests in flight; `on_done(index,
        generation)` runs as each one finishes (from worker threads)."""

        def one(item: tuple[int, Sequence[dict]]) -> Generation:
            gen = self.complete(item[1], client)
            if on_done is not None:
                on_done(item[0], gen)
            return gen

        with self._client() as client, ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            return list(pool.map(one, enumerate(conversations)))

    def generate_all(self, prompts: Sequence[str], conversations: Sequence[Sequence[dict]],
                     on_done: Callable[[int, Generation], None] | None = None) -> list[Generation]:
        """The evaluation back-end interface: endpoints answer the chat `conversations`."""
        return self.complete_many(conversations, on_done)
