"""The audit log of every LLM call: one JSONL record per call under `data/llm_logs/`, one file per UTC day.

Prompt and response are PII-masked (`lib.pii.mask_text`, with the same `PiiConfig` as export masking and
validation scanning, `DEFAULT_CONFIG` unless one is given) before they reach disk. Each record is written
with a single `write` on a file opened in append mode, under a per-file lock, so concurrent calls from
threads never interleave lines (and O_APPEND keeps whole small lines intact across processes too).
Credentials never reach this module: callers pass the public endpoint URL as `model`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from datapilot_pipeline.lib.json_codec import jsonl_line

_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.Lock())


def _default_masker(config=None) -> Callable[[str], str]:
    from datapilot_pipeline.lib.pii import DEFAULT_CONFIG, mask_text

    chosen = config or DEFAULT_CONFIG
    return lambda text: mask_text(text, chosen)


def _mask_prompt(prompt: str | list[dict], mask: Callable[[str], str]) -> str | list[dict]:
    if isinstance(prompt, str):
        return mask(prompt)
    return [{**m, "content": mask(m.get("content") or "")} for m in prompt]


class AuditLog:
    """Appends call records to `<directory>/llm_calls_<YYYYMMDD>.jsonl`."""

    def __init__(self, directory: str | os.PathLike, mask: Callable[[str], str] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), pii_config=None):
        self.directory = Path(directory)
        self._mask = mask
        self._pii_config = pii_config
        self._clock = clock

    @property
    def mask(self) -> Callable[[str], str]:
        if self._mask is None:
            self._mask = _default_masker(self._pii_config)
        return self._mask

    def path_for(self, when: datetime) -> Path:
        return self.directory / f"llm_calls_{when.astimezone(timezone.utc):%Y%m%d}.jsonl"

    def record(self, *, arm: str, model: str, prompt: str | list[dict], response: str | None, latency_s: float,
               prompt_tokens: int | None = None, completion_tokens: int | None = None,
               example_id: str | None = None, error: str | None = None, **extra: Any) -> Path:
        """Append one call record; returns the file written."""
        now = self._clock()
        row = {
            "ts": now.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "arm": arm, "model": model, "example_id": example_id,
            "latency_s": round(float(latency_s), 6),
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "prompt": _mask_prompt(prompt, self.mask),
            "response": None if response is None else self.mask(response),
            "error": error, **extra,
        }
        path = self.path_for(now)
        line = jsonl_line(row)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _lock_for(path.resolve()):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(line)
                while view:  # a short write is rare but legal; finish the line before releasing the lock
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        return path


def read_records(path: str | os.PathLike) -> list[dict]:
    """Every record of one audit file (for reports and tests)."""
    import json

    # "\n" only: splitlines() also splits inside JSON strings holding a raw U+2028 or U+0085.
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]
