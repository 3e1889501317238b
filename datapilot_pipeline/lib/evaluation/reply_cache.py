"""Replies of local greedy generation, remembered by everything that decides them.

A greedy reply is a function of the model's files (base weights, adapter, tokenizer, chat template), the rendered
prompt, the JSON Schema it was held to, `max_new_tokens` and the decoding libraries' versions. Each retrain
evaluates few-shot (the same base model) and the current champion (the same adapter) on a holdout that mostly
repeats the last one: those replies are read back instead of generated again, like lm-evaluation-harness's
request cache. The key covers all of the above, so a changed model, prompt, schema or library misses. SQLite in WAL
mode under `$DATAPILOT_HOME/.cache/`; concurrent runs may both write a key, with the same value.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from datapilot_pipeline.lib.evaluation.endpoint import Generation

CACHE_VERSION = 1
MODEL_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "adapter_config.json")
_SCHEMA = """CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY, text TEXT NOT NULL, latency_s REAL NOT NULL, prompt_tokens INTEGER,
    completion_tokens INTEGER)"""


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "peft", "llguidance"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def model_fingerprint(base_model: Path, adapter_dir: Path | None = None) -> str:
    """sha256 over the files that decide a reply: weights, configs, tokenizer, adapter; and library versions."""
    digest = hashlib.sha256(json.dumps({"v": CACHE_VERSION, "libs": _library_versions()}).encode())
    for folder in (Path(base_model), *([Path(adapter_dir)] if adapter_dir else [])):
        names = sorted({*(p.name for p in folder.glob("*.safetensors")), *MODEL_FILES})
        for name in names:
            path = folder / name
            if path.is_file():
                digest.update(name.encode() + b"\0")
                with open(path, "rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
        digest.update(b"\1")
    return digest.hexdigest()


def reply_key(fingerprint: str, prompt: str, schema: dict | None, max_new_tokens: int) -> str:
    payload = json.dumps([fingerprint, prompt, schema, max_new_tokens], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ReplyCache:
    """Key -> `Generation`, in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(_SCHEMA)
        return connection

    def get_many(self, keys: Iterable[str]) -> dict[str, Generation]:
        keys = list(dict.fromkeys(keys))
        if not keys or not self.path.exists():
            return {}
        found: dict[str, Generation] = {}
        connection = self._connect()
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                rows = connection.execute(
                    f"SELECT key, text, latency_s, prompt_tokens, completion_tokens FROM replies "
                    f"WHERE key IN ({','.join('?' * len(chunk))})", chunk).fetchall()
                for key, text, latency, n_prompt, n_completion in rows:
                    found[key] = Generation(text=text, latency_s=latency, prompt_tokens=n_prompt,
                                            completion_tokens=n_completion, cached=True)
        finally:
            connection.close()
        return found

    def put_many(self, items: dict[str, Generation]) -> None:
        if not items:
            return
        connection = self._connect()
        try:
            with connection:
                connection.executemany(
                    "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?)",
                    [(k, g.text, g.latency_s, g.prompt_tokens, g.completion_tokens) for k, g in items.items()])
        finally:
            connection.close()
