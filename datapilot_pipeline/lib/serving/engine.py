"""Continuous batching on one causal LM: requests join and leave the running batch between decoding steps.

Every step feeds each active request's last token through one forward pass (one shared KV cache, left-padded),
then picks each request's next token under its own settings: greedy or sampled (temperature, top_p, a seeded
generator per request), masked to its JSON Schema when it has one (llguidance, one matcher per request), cut at
its own `max_tokens` or stop strings. A new request is prefilled on its own and its cache merged into the batch's
(padded on the left); a finished request is dropped from the batch at once, so a short reply never waits for a
long one. Greedy replies are the ones `lib.generation.modeling.generate` gives (tested), so the server answers what the
evaluation's local arm measured.

`Update.completion_tokens` counts the tokens the model produced, the end-of-sequence token included (as vLLM
does); `prompt_tokens` the ids the request was prefilled with.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datapilot_pipeline.lib.serving.sampling import allowed_tokens, find_stop, sample

PREFILL_ROWS = 8  # new requests prefilled per forward pass (bounds the prefill activations of long prompts)


@dataclass(frozen=True)
class Job:
    """One prepared request, as the API process hands it to the worker (plain data: it is pickled)."""

    input_ids: tuple[int, ...]
    max_tokens: int
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    grammar: str | None = None  # llguidance grammar of the request's JSON Schema
    stream: bool = False  # report text as it is decoded (else all of it once, at the end)


@dataclass
class Update:
    """What one request got from a step: new text, and `finish_reason` once it is done."""

    key: Hashable
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    error: str | None = None


@dataclass
class _Row:
    key: Hashable
    job: Job
    generator: Any = None  # torch.Generator for sampling
    matcher: Any = None  # llguidance.LLMatcher
    ids: list[int] = field(default_factory=list)  # generated ids, stop tokens excluded
    produced: int = 0  # tokens the model produced, stop token included
    text: str = ""  # decoded so far
    sent: int = 0  # characters of `text` already reported
    prefix_offset: int = 0  # incremental detokenization window (as TGI and vLLM do it)
    read_offset: int = 0


class Engine:
    """The running batch of one model. Not thread-safe: one worker loop drives it."""

    def __init__(self, model: Any, tokenizer: Any, max_batch_size: int = 8):
        from datapilot_pipeline.lib.chat_format import stop_token_ids

        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self.model, self.tokenizer, self.max_batch_size = model, tokenizer, max_batch_size
        self.stop_ids = stop_token_ids(tokenizer, model)
        self.device = next(model.parameters()).device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]
        self._ll_tokenizer = None
        self._grammar_tokens = len(tokenizer)
        self.rows: list[_Row] = []
        self._cache = self._mask = self._positions = self._last = None

    @property
    def capacity(self) -> int:
        return self.max_batch_size - len(self.rows)

    def reset(self) -> None:
        """Forget every running request (after a failed step)."""
        self.rows = []
        self._cache = self._mask = self._positions = self._last = None

    def add(self, items: Sequence[tuple[Hashable, Job]]) -> list[Update]:
        """Prefill new requests, pick their first token and merge them into the batch."""
        if len(items) > self.capacity:
            raise ValueError(f"{len(items)} new requests but room for {self.capacity}")
        updates: list[Update] = []
        for start in range(0, len(items), PREFILL_ROWS):
            updates += self._prefill(items[start:start + PREFILL_ROWS])
        return updates

    def step(self) -> list[Update]:
        """One token for every active request."""
        import torch

        if not self.rows:
            return []
        n = len(self.rows)
        self._mask = torch.cat([self._mask, self._mask.new_ones((n, 1))], dim=1)
        self._positions = self._positions + 1
        with torch.no_grad():
            out = self.model(input_ids=self._last.view(n, 1), attention_mask=self._mask,
                             position_ids=self._positions.view(n, 1), cache=self._cache, use_cache=True)
        self._cache = out.cache
        return self._accept(list(range(n)), out.logits[:, -1, :])

    def _prefill(self, items: Sequence[tuple[Hashable, Job]]) -> list[Update]:
        import torch
        from transformers import DynamicCache

        rows = [self._new_row(key, job) for key, job in items]
        width = max(len(job.input_ids) for _, job in items)
        ids = torch.full((len(items), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for r, (_, job) in enumerate(items):
            ids[r, width - len(job.input_ids):] = torch.tensor(job.input_ids, dtype=torch.long)
            mask[r, width - len(job.input_ids):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=DynamicCache(),
                             use_cache=True, logits_to_keep=1)
        first = len(self.rows)
        self._merge(out.cache, mask, positions[:, -1])
        self.rows.extend(rows)
        return self._accept(list(range(first, first + len(rows))), out.logits[:, -1, :])

    def _new_row(self, key: Hashable, job: Job) -> _Row:
        import torch

        row = _Row(key=key, job=job)
        if job.temperature > 0:
            seed = job.seed if job.seed is not None else random.getrandbits(63)
            row.generator = torch.Generator().manual_seed(seed)
        if job.grammar is not None:
            import llguidance

            if self._ll_tokenizer is None:
                from datapilot_pipeline.lib.generation.guided import guidance_tokenizer

                self._ll_tokenizer = guidance_tokenizer(self.tokenizer, self.stop_ids)
            row.matcher = llguidance.LLMatcher(self._ll_tokenizer, job.grammar, log_level=0)
        return row

    def _merge(self, cache: Any, mask: Any, positions: Any) -> None:
        """Append prefilled rows to the batch: both caches left-padded to the longer one, then stacked."""
        import torch
        import torch.nn.functional as F

        if self._cache is None:
            self._cache, self._mask, self._positions = cache, mask, positions
            self._last = torch.zeros(mask.shape[0], dtype=torch.long, device=self.device)
            return
        width = max(self._mask.shape[1], mask.shape[1])
        pad = lambda t, dim: F.pad(t, (0, 0) * (t.dim() - 1 - dim) + (width - t.shape[dim], 0))  # noqa: E731
        for mine, theirs in zip(self._cache.layers, cache.layers):
            mine.keys = torch.cat([pad(mine.keys, 2), pad(theirs.keys, 2)])
            mine.values = torch.cat([pad(mine.values, 2), pad(theirs.values, 2)])
        self._mask = torch.cat([pad(self._mask, 1), pad(mask, 1)])
        self._positions = torch.cat([self._positions, positions])
        self._last = torch.cat([self._last, self._last.new_zeros(mask.shape[0])])

    def _drop(self, done: set[int]) -> None:
        """Remove finished rows and the leading columns that are padding for every row left."""
        import torch

        keep = [i for i in range(len(self.rows)) if i not in done]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self._cache = self._mask = self._positions = self._last = None
            return
        index = torch.tensor(keep, device=self.device)
        self._mask, self._positions, self._last = self._mask[index], self._positions[index], self._last[index]
        start = int(self._mask.any(dim=0).nonzero()[0])
        self._mask = self._mask[:, start:]
        for layer in self._cache.layers:
            layer.keys, layer.values = layer.keys[index, :, start:], layer.values[index, :, start:]

    def _accept(self, indices: list[int], logits: Any) -> list[Update]:
        """Pick the next token of rows `indices` from their logits, record it, report, drop finished rows."""
        import torch

        tokens = self._choose([self.rows[i] for i in indices], logits.float())
        self._last[torch.tensor(indices, device=self.device)] = torch.tensor(tokens, device=self.device)
        updates, done = [], set()
        for i, token in zip(indices, tokens):
            update = self._advance(self.rows[i], token)
            if update is not None:
                updates.append(update)
                if update.finish_reason is not None or update.error is not None:
                    done.add(i)
        if done:
            self._drop(done)
        return updates

    def _choose(self, rows: list[_Row], logits: Any) -> list[int]:
        import torch

        constrained = [r for r, row in enumerate(rows) if row.matcher is not None]
        if constrained:
            allowed = allowed_tokens([rows[r].matcher for r in constrained], self._grammar_tokens, logits.shape[1])
            index = torch.tensor(constrained, device=logits.device)
            logits[index] = logits[index].masked_fill(~allowed.to(logits.device), float("-inf"))
        tokens = logits.argmax(dim=-1).tolist()
        for r, row in enumerate(rows):
            if row.generator is not None:
                tokens[r] = sample(logits[r], row.job.temperature, row.job.top_p, row.generator)
        return tokens

    def _advance(self, row: _Row, token: int) -> Update | None:
        job = row.job
        row.produced += 1
        if row.matcher is not None and (not row.matcher.consume_token(token) or row.matcher.is_error()):
            return self._update(row, None, error=f"constrained decoding failed: {row.matcher.get_error()}")
        finish, cut = None, None
        if token in self.stop_ids:
            finish = "stop"
        else:
            row.ids.append(token)
            if job.stream or job.stop:  # else the text is decoded once, at the end
                row.text += self._detokenize(row)
            cut = find_stop(row.text, job.stop)
            if cut is not None:
                row.text, finish = row.text[:cut], "stop"
            elif row.matcher is not None and row.matcher.is_stopped():
                finish = "stop"
        if finish is None and row.produced >= job.max_tokens:
            finish = "length"
        if finish is not None and cut is None:
            # the whole reply decoded at once: exactly what `tokenizer.batch_decode` gives the evaluation
            row.text = self.tokenizer.decode(row.ids, skip_special_tokens=True)
        return self._update(row, finish)

    def _update(self, row: _Row, finish: str | None, error: str | None = None) -> Update | None:
        if error is None and finish is None and not row.job.stream:
            return None
        if finish is None and error is None:
            hold = max((len(s) for s in row.job.stop), default=1) - 1  # a stop string may still be forming
            visible = len(row.text) - hold
            if visible <= row.sent:
                return None
            text, row.sent = row.text[row.sent:visible], visible
        else:
            text, row.sent = row.text[row.sent:], len(row.text)
        return Update(key=row.key, text=text, finish_reason=finish, prompt_tokens=len(row.job.input_ids),
                      completion_tokens=row.produced, error=error)

    def _detokenize(self, row: _Row) -> str:
        """The text the newest token completes (held back while it ends inside a multi-byte character)."""
        before = self.tokenizer.decode(row.ids[row.prefix_offset:row.read_offset], skip_special_tokens=True)
        after = self.tokenizer.decode(row.ids[row.prefix_offset:], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            row.prefix_offset, row.read_offset = row.read_offset, len(row.ids)
            return after[len(before):]
        return ""

