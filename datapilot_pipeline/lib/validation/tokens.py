"""Token counts of prompts and completions.

With a tokenizer available locally (a path to a saved Hugging Face tokenizer, never a download) the
counts are exact. Without one they are estimated as ceil(characters / CHARS_PER_TOKEN): about 4
characters per token is the usual figure for English with BPE tokenizers; JSON with many digits and
punctuation tokenizes denser, so the estimate tends to be low by 10-30% on compact EDAs and the
over-length count is a lower bound.
"""

from __future__ import annotations

import math
from pathlib import Path

CHARS_PER_TOKEN = 4.0
DEFAULT_MAX_TOKENS = 2048  # lib.training's default max_seq_length


class TokenCounter:
    """Counts tokens of many texts at once; `method` says whether counts are exact or estimated."""

    def __init__(self, tokenizer_path: str | Path | None = None) -> None:
        self._tokenizer = None
        self.method = f"estimate: ceil(chars / {CHARS_PER_TOKEN:g})"
        if tokenizer_path is not None:
            path = Path(tokenizer_path)
            if not path.exists():
                raise FileNotFoundError(f"tokenizer not found locally: {path}")
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.method = f"tokenizer: {path.name}"

    @property
    def exact(self) -> bool:
        return self._tokenizer is not None

    def count(self, texts: list[str]) -> list[int]:
        if self._tokenizer is None:
            return [math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts]
        encoded = self._tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]


def _stats(values: list[int]) -> dict:
    if not values:
        return {"mean": 0.0, "max": 0, "total": 0}
    return {"mean": round(sum(values) / len(values), 1), "max": max(values), "total": sum(values)}


def token_summary(lines: list[int], prompt_tokens: list[int], completion_tokens: list[int], counter: TokenCounter,
                  max_tokens: int = DEFAULT_MAX_TOKENS) -> dict:
    """The report's `tokens` section: prompt/completion/total stats and lines over `max_tokens`."""
    totals = [p + c for p, c in zip(prompt_tokens, completion_tokens)]
    over = [line for line, total in zip(lines, totals) if total > max_tokens]
    return {"method": counter.method, "exact": counter.exact, "max_tokens": max_tokens,
            "prompt": _stats(prompt_tokens), "completion": _stats(completion_tokens), "total": _stats(totals),
            "over_max_lines": over, "over_max_count": len(over)}
