"""Training data: prompt/completion JSONL -> train/validation splits that fit the sequence length.

The length rule is `lib.generation.token_budget.sequence_tokens`, the one export fits prompts with and validation
counts over-length lines with, so a dataset exported for this model and tokenizer loses no line here.

TRL truncates long sequences silently: an example whose completion is cut away then trains the model on
a JSON answer without its end (or on nothing at all). Here such examples are dropped and counted
instead, and a run left with no completion tokens raises `NoTrainableTokensError`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datapilot_pipeline.lib.jsonl import iter_jsonl
from datapilot_pipeline.lib.generation.token_budget import sequence_tokens


class NoTrainableTokensError(ValueError):
    """Nothing would be learnt: no example's completion fits in `max_seq_length`."""


@dataclass
class PreparedData:
    train: list[dict[str, str]]
    validation: list[dict[str, str]]
    dropped_truncated: int = 0
    train_completion_tokens: int = 0
    train_tokens: int = 0
    split_source: str = "metadata"  # "metadata" (export's metadata.split) or "random"
    notes: list[str] = field(default_factory=list)



def load_examples(path: Path) -> list[dict[str, Any]]:
    """Rows with string `prompt` and `completion`; a malformed line is a `ValueError` naming it."""
    rows = []
    for number, row in iter_jsonl(path):
        if not (isinstance(row, dict) and isinstance(row.get("prompt"), str)
                and isinstance(row.get("completion"), str)):
            raise ValueError(f"{path}:{number}: needs string fields 'prompt' and 'completion'")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no examples")
    return rows


def split_examples(rows: list[dict[str, Any]], validation_fraction: float, seed: int) -> tuple[list, list, str]:
    """Export's `metadata.split` when every row has one; else a seeded random split."""
    splits = [(row.get("metadata") or {}).get("split") for row in rows]
    if all(s in ("train", "validation") for s in splits):
        train = [r for r, s in zip(rows, splits) if s == "train"]
        return train, [r for r, s in zip(rows, splits) if s == "validation"], "metadata"
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = int(round(len(rows) * validation_fraction))
    if validation_fraction > 0 and len(rows) >= 5:
        n_val = max(1, n_val)
    val_ids = set(order[:n_val])
    return ([r for i, r in enumerate(rows) if i not in val_ids], [r for i, r in enumerate(rows) if i in val_ids],
            "random")


def _fits(row: dict[str, Any], tokenizer: Any, max_len: int) -> tuple[bool, int, int]:
    """(fits whole with some completion, total tokens, completion tokens): the budget export and validation use."""
    total, completion = sequence_tokens(tokenizer, row["prompt"], row["completion"])
    return total <= max_len and completion > 0, total, completion


def prepare_data(path: Path, tokenizer: Any, max_seq_length: int, validation_fraction: float,
                 seed: int) -> PreparedData:
    """Load, split, drop examples whose completion would not fit, and check something is left to learn."""
    train_rows, val_rows, source = split_examples(load_examples(path), validation_fraction, seed)
    out = PreparedData(train=[], validation=[], split_source=source)
    for rows, target, is_train in ((train_rows, out.train, True), (val_rows, out.validation, False)):
        for row in rows:
            fits, total, completion = _fits(row, tokenizer, max_seq_length)
            if not fits:
                out.dropped_truncated += 1
                continue
            target.append({"prompt": row["prompt"], "completion": row["completion"]})
            if is_train:
                out.train_tokens += total
                out.train_completion_tokens += completion
    if not out.train or out.train_completion_tokens == 0:
        raise NoTrainableTokensError(
            f"no trainable tokens in {path}: {out.dropped_truncated} of {len(train_rows) + len(val_rows)} examples "
            f"do not fit max_seq_length={max_seq_length} with their completion; raise it or shorten the prompts")
    if out.dropped_truncated:
        out.notes.append(f"dropped {out.dropped_truncated} examples longer than {max_seq_length} tokens")
    return out
