"""Replies of local greedy generation, remembered by everything that decides them.

A greedy reply is a function of the model's files (base weights, adapter, every tokenizer file, chat template,
configs), where and how the model runs (device, dtype, batch size), the rendered prompt, the JSON Schema it was held
to, `max_new_tokens`, the decoding libraries' versions and this project's own code that shapes a reply (prompt
building, chat rendering, schema bounds, constrained decoding, the generation loop: `CODE_MODULES`). Each retrain
evaluates few-shot (the same base model) and the current champion (the same adapter) on a holdout that mostly
repeats the last one: those replies are read back instead of generated again, like lm-evaluation-harness's request
cache. The key covers all of the above, so a changed model, runtime, prompt, schema, library or decoding fix
misses. The model fingerprint hashes every weight file, so it is computed once per loaded model
(`loaded_model_fingerprint` keeps it on the model object), never per call. SQLite in WAL mode under
`$DATAPILOT_HOME/.cache/`; concurrent runs may both write a key, with the same value.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datapilot_pipeline.lib.evaluation.endpoint import Generation

CACHE_VERSION = 2
# Files of a model or adapter folder that decide a reply: weights, configs, and every file a tokenizer or its chat
# template is read from (sentencepiece models, BPE vocabularies and merges, special and added tokens, templates).
MODEL_FILE_PATTERNS = ("*.safetensors", "*.bin", "*.json", "*.model", "*.tiktoken", "*.jinja", "vocab*", "merges*",
                       "tokenizer*", "special_tokens_map*", "added_tokens*", "chat_template*")
# The project's modules whose source shapes a reply beyond the rendered prompt and the schema in the key: prompt
# building, chat rendering and stop tokens, schema bounds, the llguidance processor, the generation loop, this cache.
CODE_MODULES = ("datapilot_pipeline.lib.prompts", "datapilot_pipeline.lib.chat_format",
                "datapilot_pipeline.lib.generation.decoding", "datapilot_pipeline.lib.generation.guided",
                "datapilot_pipeline.lib.generation.modeling",
                "datapilot_pipeline.lib.evaluation.local", "datapilot_pipeline.lib.evaluation.reply_cache")
FINGERPRINT_ATTRIBUTE = "_datapilot_reply_fingerprint"
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


def _model_files(folder: Path) -> list[Path]:
    found = {p for pattern in MODEL_FILE_PATTERNS for p in folder.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.name)


def model_fingerprint(base_model: Path, adapter_dir: Path | None = None) -> str:
    """sha256 over the files that decide a reply (weights, configs, every tokenizer and chat-template file, the
    adapter) and the decoding libraries' versions. Reads every weight file: call it once per loaded model
    (`loaded_model_fingerprint`)."""
    digest = hashlib.sha256(json.dumps({"v": CACHE_VERSION, "libs": _library_versions()}).encode())
    for folder in (Path(base_model), *([Path(adapter_dir)] if adapter_dir else [])):
        for path in _model_files(folder):
            digest.update(path.name.encode() + b"\0")
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            digest.update(b"\0")
        digest.update(b"\1")
    return digest.hexdigest()


def loaded_model_fingerprint(model: Any, base_model: Path, adapter_dir: Path | None = None) -> str:
    """`model_fingerprint` of the folders `model` was loaded from, computed on first use and kept on the model
    object per (base, adapter): one model in memory serves the base alone and each adapter on it
    (`modeling.SharedBase`), and every later call reuses the figure."""
    known = getattr(model, FINGERPRINT_ATTRIBUTE, None)
    if not isinstance(known, dict):
        known = {}
        setattr(model, FINGERPRINT_ATTRIBUTE, known)
    key = (str(Path(base_model).resolve()), str(Path(adapter_dir).resolve()) if adapter_dir else None)
    if key not in known:
        known[key] = model_fingerprint(base_model, adapter_dir)
    return known[key]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of the source of `CODE_MODULES` (read once per process): a fix to decoding or prompting misses."""
    digest = hashlib.sha256()
    for name in CODE_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            raise RuntimeError(f"reply cache: module {name} not found; update CODE_MODULES")
        digest.update(name.encode() + b"\0" + Path(spec.origin).read_bytes() + b"\1")
    return digest.hexdigest()


def runtime_of(model: Any, batch_size: int) -> dict[str, str | int]:
    """Where and how the model computes (device and its name, dtype, batch size: padding in a batch and reduced
    precision change greedy replies), plus `code_fingerprint()`."""
    import torch

    parameter = next(model.parameters())
    device = parameter.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    return {"device": f"{device.type}:{name}", "dtype": str(parameter.dtype), "batch_size": batch_size,
            "code": code_fingerprint()}


def reply_key(fingerprint: str, prompt: str, schema: dict | None, max_new_tokens: int,
              runtime: dict[str, str | int]) -> str:
    """The cache key of one reply: model fingerprint, `runtime_of` the model, prompt, schema and token bound."""
    payload = json.dumps([fingerprint, runtime, prompt, schema, max_new_tokens], sort_keys=True, ensure_ascii=False)
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
