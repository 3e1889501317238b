"""Picking one request's next token: its schema's allowed tokens (llguidance), nucleus sampling, stop strings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def allowed_tokens(matchers: list[Any], n_tokens: int, width: int) -> Any:
    """The tokens each llguidance matcher allows next, as a bool tensor (rows, width); `n_tokens` is the tokenizer's
    vocabulary, `width` the model's (padded beyond it: those are never allowed)."""
    import torch

    words = torch.full((len(matchers), (n_tokens + 31) // 32), -1, dtype=torch.int32)
    for r, matcher in enumerate(matchers):
        matcher.unsafe_compute_mask_ptr(words[r].data_ptr(), words[r].numel() * words.element_size())
    bits = (words.unsqueeze(-1) >> torch.arange(32, dtype=torch.int32)) & 1
    allowed = bits.view(len(matchers), -1)[:, :width].bool()
    if allowed.shape[1] < width:
        allowed = torch.cat([allowed, allowed.new_zeros((len(matchers), width - allowed.shape[1]))], dim=1)
    return allowed


def sample(logits: Any, temperature: float, top_p: float, generator: Any) -> int:
    """One token from softmax(logits / temperature), restricted to the smallest set with mass >= top_p."""
    import torch

    probs = torch.softmax(logits.cpu() / temperature, dim=-1)
    if top_p < 1.0:
        ordered, order = probs.sort(descending=True)
        outside = ordered.cumsum(-1) - ordered >= top_p  # tokens after the mass is reached
        ordered[outside] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, ordered)
    return int(torch.multinomial(probs, 1, generator=generator))


def find_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the first stop string starts in `text` (None: none there)."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None
