"""Every served request in the audit log (`data/llm_logs/`, `lib.audit`), written off the request path.

A record holds the job id (the request's `metadata.job_id`, else `user`), the served model id and version,
latency, exact token counts, finish reason, status and the PII-masked prompt and reply; never a header, so never
the API key. Masking runs on one background thread; each message's masked text is remembered (the system prompt
and worked examples repeat in every DataPilot request, only the table changes).
"""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from datapilot_pipeline.lib.serving.identity import ServedModel

ARM = "serve"
_REMEMBERED = 256  # masked messages kept


class _RememberingMask:
    def __init__(self, mask: Callable[[str], str] | None = None):
        self._mask = mask
        self._seen: OrderedDict[str, str] = OrderedDict()

    def __call__(self, text: str) -> str:
        if text in self._seen:
            self._seen.move_to_end(text)
            return self._seen[text]
        if self._mask is None:
            from datapilot_pipeline.lib.pii import DEFAULT_CONFIG, mask_text

            self._mask = lambda t: mask_text(t, DEFAULT_CONFIG)
        masked = self._seen[text] = self._mask(text)
        if len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return masked


class ServedAudit:
    """Appends one record per served request, in order, from a single background thread."""

    def __init__(self, directory: Path, served: ServedModel, mask: Callable[[str], str] | None = None):
        from datapilot_pipeline.lib.audit import AuditLog

        self.served = served
        self._log = AuditLog(directory, mask=_RememberingMask(mask))
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, **fields: Any) -> Any:
        if self._pool is None:  # created in the API process (after the fork), not in the parent
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="datapilot-audit")
        return self._pool.submit(self.write, **fields)

    def write(self, *, request_id: str, job_id: str | None, messages: list[dict] | None, response: str | None,
              latency_s: float, prompt_tokens: int | None = None, completion_tokens: int | None = None,
              finish_reason: str | None = None, status: int = 200, error: str | None = None,
              stream: bool = False) -> Path:
        return self._log.record(arm=ARM, model=self.served.id, prompt=messages or "", response=response,
                                latency_s=latency_s, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                example_id=job_id, error=error, job_id=job_id, request_id=request_id,
                                model_version=self.served.version, model_uri=self.served.uri,
                                finish_reason=finish_reason, status=status, stream=stream)
