"""Token counts of prompts and completions, and which lines training would drop as too long.

With a tokenizer available locally (a saved Hugging Face tokenizer folder, never a download) the counts
are exact and a line is over length exactly when training would drop it: `lib.generation.token_budget.TokenBudget`
measures prompt + completion + EOS the way the trainer does. Validation takes the tokenizer and max length
from the dataset's prompt recipe (`<stem>_recipe.json`, written by export). Without any tokenizer the
counts are estimated as ceil(characters / CHARS_PER_TOKEN): about 4 characters per token is the usual
figure for English with BPE tokenizers; JSON with many digits and punctuation tokenizes denser, so the
estimate tends to be low by 10-30% on compact EDAs and the over-length count is a lower bound.
"""

from __future__ import annotations

import math
from pathlib import Path

from datapilot_pipeline.lib.generation.line_tokens import line_ids
from datapilot_pipeline.lib.generation.token_budget import DEFAULT_MAX_LENGTH, TokenBudget

CHARS_PER_TOKEN = 4.0
DEFAULT_MAX_TOKENS = DEFAULT_MAX_LENGTH
MAX_DROP_RATE = 0.10  # training may drop fewer than this share of lines as too long (a blocking check)


class TokenCounter:
    """Counts tokens of many texts at once; `method` says whether counts are exact or estimated."""

    def __init__(self, tokenizer_path: str | Path | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
                 budget: TokenBudget | None = None) -> None:
        self.max_tokens = budget.max_length if budget is not None else max_tokens
        self.budget = budget
        self.method = f"estimate: ceil(chars / {CHARS_PER_TOKEN:g})"
        if budget is None and tokenizer_path is not None:
            path = Path(tokenizer_path)
            if not path.exists():
                raise FileNotFoundError(f"tokenizer not found locally: {path}")
            self.budget = TokenBudget.load(path, max_tokens)
        if self.budget is not None:
            self.method = f"tokenizer: {Path(self.budget.tokenizer_path).name}"

    @property
    def exact(self) -> bool:
        return self.budget is not None

    def count(self, texts: list[str]) -> list[int]:
        if self.budget is None or not texts:  # a tokenizer called on no text raises IndexError
            return [math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts]
        cutter = line_ids(self.budget.tokenizer)
        if cutter is not None:  # no special tokens are added there: the same ids as add_special_tokens=False
            return [len(cutter(t)) for t in texts]
        encoded = self.budget.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def fits(self, prompt: str, completion: str, prompt_tokens: int, completion_tokens: int) -> bool:
        """Whether training keeps the line: the trainer's own count with a tokenizer, else the estimate."""
        if self.budget is not None:
            return self.budget.fits(prompt, completion)
        return prompt_tokens + completion_tokens <= self.max_tokens and completion_tokens > 0


def _stats(values: list[int]) -> dict:
    if not values:
        return {"mean": 0.0, "max": 0, "total": 0}
    return {"mean": round(sum(values) / len(values), 1), "max": max(values), "total": sum(values)}


def token_summary(lines: list[int], prompt_tokens: list[int], completion_tokens: list[int], counter: "TokenMethodLike",
                  max_tokens: int = DEFAULT_MAX_TOKENS, fits: list[bool | None] | None = None) -> dict:
    """The report's `tokens` section: prompt/completion/total stats, the lines training would drop as too long
    (`fits`; without it, lines whose total exceeds `max_tokens`) and their share of the usable lines."""
    totals = [p + c for p, c in zip(prompt_tokens, completion_tokens)]
    if fits is None or any(f is None for f in fits):
        fits = [total <= max_tokens for total in totals]
    over = [line for line, ok in zip(lines, fits) if not ok]
    rate = len(over) / len(lines) if lines else 0.0
    return {"method": counter.method, "exact": counter.exact, "max_tokens": max_tokens,
            "prompt": _stats(prompt_tokens), "completion": _stats(completion_tokens), "total": _stats(totals),
            "over_max_lines": over, "over_max_count": len(over), "drop_rate": round(rate, 4),
            "max_drop_rate": MAX_DROP_RATE}


TokenMethodLike = object  # anything with `method` and `exact` (TokenCounter, facts.TokenMethod)
