"""Local generation through `lib.modeling`: batched, greedy, a bounded number of new tokens."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datapilot_pipeline.lib.evaluation.endpoint import Generation

DEFAULT_MAX_NEW_TOKENS = 384
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
    _loaded: tuple[Any, Any] | None = field(default=None, init=False, repr=False)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return f"{self.base_model}" + (f" + {self.adapter_dir}" if self.adapter_dir else "")

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from datapilot_pipeline.lib.modeling import load_causal_lm

            self._loaded = load_causal_lm(Path(self.base_model), Path(self.adapter_dir) if self.adapter_dir else None)
        return self._loaded

    def _check_length(self, model: Any, n_prompt: int) -> None:
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit and n_prompt + self.max_new_tokens > limit:
            raise ValueError(f"a prompt of {n_prompt} tokens plus {self.max_new_tokens} new tokens exceeds the "
                             f"model's context of {limit}; use fewer shots or a smaller max_new_tokens")

    def generate_all(self, prompts: Sequence[str], conversations: Sequence[Sequence[dict]],
                     on_done: Callable[[int, Generation], None] | None = None) -> list[Generation]:
        """Greedy replies to the flat `prompts` (chat `conversations` are for endpoints and ignored here)."""
        from datapilot_pipeline.lib.modeling import generate

        model, tokenizer = self._load()
        lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        for n in lengths:
            self._check_length(model, n)
        out: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = list(prompts[start:start + self.batch_size])
            began = time.perf_counter()
            texts = generate(model, tokenizer, batch, max_new_tokens=self.max_new_tokens, batch_size=len(batch))
            per_call = (time.perf_counter() - began) / len(batch)  # one forward pass serves the whole batch
            for offset, text in enumerate(texts):
                gen = Generation(text=text, latency_s=per_call, prompt_tokens=lengths[start + offset],
                                 completion_tokens=len(tokenizer(text, add_special_tokens=False)["input_ids"]))
                out.append(gen)
                if on_done is not None:
                    on_done(start + offset, gen)
        return out
