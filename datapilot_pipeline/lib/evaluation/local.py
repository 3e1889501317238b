"""Local generation through `lib.generation.modeling`: batched, greedy, a bounded number of new tokens, through the
tokenizer's chat template when it has one, and by default constrained to the llm_output JSON Schema
(`lib.generation.decoding`) with bounds that fit `max_new_tokens`, so that every reply is a complete, valid answer.

`LocalGenerator.generate_all` is the one entry point for evaluation and serving."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datapilot_pipeline.lib.evaluation.endpoint import Generation

# The reviewed answers run to ~1,750 characters (~600 tokens of the demo base model's tokenizer, 2-4 insights). The
# bounds guarantee a complete answer in the worst case of one byte per token, so 2048 is what lets constrained
# decoding keep 3 insights (`decoding.fit_bounds`; 1024 kept one); a model that closes its answer early stops early.
DEFAULT_MAX_NEW_TOKENS = 2048
DEFAULT_BATCH_SIZE = 4


@dataclass
class LocalGenerator:
    """A base model directory, optionally with a LoRA adapter, loaded once on first use."""

    base_model: Path
    adapter_dir: Path | None = None
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    batch_size: int = DEFAULT_BATCH_SIZE
    name: str | None = None  # what reports call it, e.g. a models:/ URI
    kind: str = "local"
    constrained: bool = True  # schema-constrained decoding (lib.generation.decoding)
    grounded: bool = False  # per-example schema: columns, rows and aggregate keys of the prompt's own EDA
    reply_cache: Path | None = None  # `lib.evaluation.reply_cache` file: replies already generated are read back
    _loaded: tuple[Any, str | None] | None = field(default=None, init=False, repr=False)  # (SharedBase, adapter)
    _cache_counts: dict[str, int] = field(default_factory=lambda: {"hits": 0, "misses": 0}, init=False, repr=False)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return f"{self.base_model}" + (f" + {self.adapter_dir}" if self.adapter_dir else "")

    @property
    def decoding(self) -> dict:
        """What the evaluation report records about how replies were decoded."""
        cache = {"reply_cache": dict(self._cache_counts)} if self.reply_cache is not None else {}
        if not self.constrained:
            return {"constrained": False, **cache}
        from datapilot_pipeline.lib.generation.decoding import describe, fit_bounds

        return {"constrained": True, **describe(fit_bounds(self.max_new_tokens), self.grounded), **cache}

    def schemas(self, prompts: Sequence[str]) -> list[dict] | None:
        """The JSON Schema each prompt's reply is held to (None when unconstrained)."""
        if not self.constrained:
            return None
        from datapilot_pipeline.lib.generation.decoding import fit_bounds, output_schema

        bounds = fit_bounds(self.max_new_tokens)
        if not self.grounded:
            return [output_schema(bounds)] * len(prompts)
        from datapilot_pipeline.lib.prompts import extract_task_eda

        return [output_schema(bounds, extract_task_eda(p)) for p in prompts]

    def _shared(self) -> tuple[Any, str | None]:
        """The base in memory (shared with every other arm on the same base: `modeling.SharedBase`) and this
        arm's adapter name on it (None: the base alone)."""
        from datapilot_pipeline.lib.generation.modeling import SharedBase

        shared, adapter = SharedBase.get(Path(self.base_model), Path(self.adapter_dir) if self.adapter_dir else None)
        self._loaded = (shared, adapter)
        return shared, adapter

    def _load(self) -> tuple[Any, Any]:
        shared, _ = self._shared()
        return shared.model, shared.tokenizer

    def fit_shots(self, compact_eda: dict, shots: Sequence[dict]) -> list[dict]:
        """The longest prefix of `shots` whose prompt leaves room for `max_new_tokens` in the model's context (the
        last worked example goes first), so a default shot count never overflows a small model."""
        from datapilot_pipeline.lib.prompts import fit_shots

        model, tokenizer = self._load()
        limit = getattr(model.config, "max_position_embeddings", None)
        if not shots or not limit:
            return list(shots)
        count = lambda prompt: len(tokenizer(prompt, add_special_tokens=False)["input_ids"])  # noqa: E731
        return fit_shots(compact_eda, shots, count, limit - self.max_new_tokens)

    def _check_length(self, model: Any, n_prompt: int) -> None:
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit and n_prompt + self.max_new_tokens > limit:
            raise ValueError(f"a prompt of {n_prompt} tokens plus {self.max_new_tokens} new tokens exceeds the "
                             f"model's context of {limit}; use fewer shots or a smaller max_new_tokens")

    def generate_all(self, prompts: Sequence[str], conversations: Sequence[Sequence[dict]],
                     on_done: Callable[[int, Generation], None] | None = None,
                     response_format: dict | None = None) -> list[Generation]:
        """Greedy replies, one per prompt: the chat `conversations` through the tokenizer's chat template when it
        has one, else the flat `prompts`. An OpenAI `response_format` (`json_object`, `json_schema`) replaces the
        generator's own schema for these replies; `text` or None keeps it."""
        from datapilot_pipeline.lib.chat_format import render_prompts
        from datapilot_pipeline.lib.generation.modeling import generate

        shared, adapter = self._shared()
        model, tokenizer = shared.model, shared.tokenizer
        requested = requested_schema(response_format)
        schemas = [requested] * len(prompts) if requested is not None else self.schemas(prompts)
        prompts = render_prompts(tokenizer, prompts, conversations)
        lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        for n in lengths:
            self._check_length(model, n)
        cache = keys = None
        found: dict[str, Generation] = {}
        if self.reply_cache is not None:
            from datapilot_pipeline.lib.evaluation.reply_cache import (
                ReplyCache, loaded_model_fingerprint, reply_key, runtime_of,
            )

            cache = ReplyCache(self.reply_cache)
            fingerprint = loaded_model_fingerprint(model, Path(self.base_model),
                                                   Path(self.adapter_dir) if self.adapter_dir else None)
            runtime = runtime_of(model, self.batch_size)
            keys = [reply_key(fingerprint, p, schemas[i] if schemas else None, self.max_new_tokens, runtime)
                    for i, p in enumerate(prompts)]
            found = cache.get_many(keys)
        out: list[Generation | None] = [found.get(keys[i]) if keys else None for i in range(len(prompts))]
        todo = [i for i, gen in enumerate(out) if gen is None]
        self._cache_counts["hits"] += len(prompts) - len(todo)
        self._cache_counts["misses"] += len(todo) if cache is not None else 0
        if on_done is not None:
            for i, gen in enumerate(out):
                if gen is not None:
                    on_done(i, gen)
        for start in range(0, len(todo), self.batch_size):
            indices = todo[start:start + self.batch_size]
            began = time.perf_counter()
            with shared.scope(adapter):
                texts = generate(model, tokenizer, [prompts[i] for i in indices], max_new_tokens=self.max_new_tokens,
                                 batch_size=len(indices), schemas=[schemas[i] for i in indices] if schemas else None)
            per_call = (time.perf_counter() - began) / len(indices)  # one forward pass serves the whole batch
            fresh = {}
            for i, text in zip(indices, texts):
                gen = Generation(text=text, latency_s=per_call, prompt_tokens=lengths[i],
                                 completion_tokens=len(tokenizer(text, add_special_tokens=False)["input_ids"]))
                out[i] = gen
                if keys is not None:
                    fresh[keys[i]] = gen
                if on_done is not None:
                    on_done(i, gen)
            if cache is not None:
                cache.put_many(fresh)  # after every batch: a run killed midway keeps what it generated
        return [gen for gen in out if gen is not None]


def requested_schema(response_format: dict | None) -> dict | None:
    """The JSON Schema an OpenAI `response_format` asks for: any JSON object for `json_object`, the given schema
    for `json_schema`, None for `text` (or none). ValueError for anything else."""
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        schema = ((response_format or {}).get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise ValueError("response_format json_schema needs a JSON Schema object under json_schema.schema")
        return schema
    raise ValueError(f"response_format type {kind!r} is not supported")
