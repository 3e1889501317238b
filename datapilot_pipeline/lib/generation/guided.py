"""Greedy generation under a JSON Schema: a transformers logits processor that, at every step, lets through
only the tokens llguidance's matcher allows for each row of the batch (and the end-of-sequence token once the
answer is complete).
"""

from __future__ import annotations

import json
from typing import Any

_TOKENIZERS: dict[int, Any] = {}


def guidance_tokenizer(tokenizer: Any, stop_ids: list[int]) -> Any:
    """llguidance's view of a fast Hugging Face tokenizer (built once per tokenizer, ~1 s for large vocabularies)."""
    import llguidance.hf

    key = id(tokenizer)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = (tokenizer, llguidance.hf.from_tokenizer(tokenizer, n_vocab=None, eos_token=stop_ids))
    return _TOKENIZERS[key][1]


def compile_grammar(schema: dict) -> str:
    import llguidance

    from datapilot_pipeline.lib.generation.decoding import JSON_OPTIONS

    return llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema), defaults=dict(JSON_OPTIONS))


class SchemaLogitsProcessor:
    """Masks each row's logits to the tokens its schema allows; one matcher per row (schemas may differ)."""

    def __init__(self, ll_tokenizer: Any, grammars: list[str], vocab_size: int):
        # llguidance.torch is not imported: its module-level torch.compile costs ~4 s of start-up on CPU.
        import llguidance
        import torch

        self._matchers = [llguidance.LLMatcher(ll_tokenizer, g, log_level=0) for g in grammars]
        for matcher in self._matchers:
            if matcher.is_error():
                raise ValueError(f"the output schema does not compile: {matcher.get_error()}")
        self._bitmask = torch.full((len(grammars), (vocab_size + 31) // 32), -1, dtype=torch.int32)
        self._started = False
        self.mask_seconds = 0.0  # time spent computing masks (reported as the per-token cost)
        self.steps = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import time

        import torch

        began = time.perf_counter()
        if self._started:
            for row, matcher in enumerate(self._matchers):
                if not matcher.is_stopped():
                    matcher.consume_token(int(input_ids[row, -1]))
        self._started = True
        for row, matcher in enumerate(self._matchers):
            if matcher.is_error():
                raise RuntimeError(f"constrained decoding left the schema in row {row}: {matcher.get_error()}")
            words = self._bitmask[row]
            matcher.unsafe_compute_mask_ptr(words.data_ptr(), words.numel() * words.element_size())
        words = self._bitmask.to(scores.device)
        bits = (words.unsqueeze(-1) >> torch.arange(32, device=scores.device, dtype=torch.int32)) & 1
        allowed = bits.view(words.shape[0], -1)[:, :scores.shape[1]].bool()
        if allowed.shape[1] < scores.shape[1]:  # model vocabulary padded beyond the tokenizer's
            pad = torch.zeros(allowed.shape[0], scores.shape[1] - allowed.shape[1], dtype=torch.bool,
                              device=scores.device)
            allowed = torch.cat([allowed, pad], dim=1)
        self.mask_seconds += time.perf_counter() - began
        self.steps += 1
        return scores.masked_fill(~allowed, float("-inf"))

    def all_accepting(self) -> bool:
        return all(m.is_accepting() for m in self._matchers)
