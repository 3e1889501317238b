"""What evaluation needs from a model's lineage: the holdout its export wrote and the prompt recipe it was
trained with (so the fine-tuned arm is prompted as in training, never with a second default).

The lineage dict is the `fine_tuned_model` value (or a registered version's tags). Its `recipe` is
`PromptRecipe.to_dict()`: keys `prompt_version`, `shot_count`, `shot_ids`, `max_seq_length`, `tokenizer`.
A lineage without these keys (a model trained before recipes travelled) gives None, and the caller falls
back to the configured holdout and shot count.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

RECIPE_KEYS = ("prompt_version", "shot_count", "shot_ids", "max_seq_length", "tokenizer")


@dataclass(frozen=True)
class RecipeView:
    """The fields of a prompt recipe evaluation uses."""

    prompt_version: str | None
    shot_ids: tuple[str, ...]
    max_seq_length: int | None
    tokenizer: str | None

    def as_dict(self) -> dict:
        return {"prompt_version": self.prompt_version, "shot_count": len(self.shot_ids),
                "shot_ids": list(self.shot_ids), "max_seq_length": self.max_seq_length, "tokenizer": self.tokenizer}


def recipe_of(lineage: dict) -> RecipeView | None:
    """The lineage's prompt recipe, or None when it carries none. A recipe given as JSON text (a version tag)
    is parsed; a malformed one raises ValueError rather than silently evaluating with other prompts."""
    raw = lineage.get("recipe")
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"prompt recipe is not JSON: {raw[:80]!r}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"prompt recipe must be an object, got {type(raw).__name__}")
    ids = raw.get("shot_ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError("prompt recipe shot_ids must be a list of example ids")
    if raw.get("shot_count") is not None and raw["shot_count"] != len(ids):
        raise ValueError(f"prompt recipe names {len(ids)} shot ids for shot_count {raw['shot_count']}")
    return RecipeView(prompt_version=raw.get("prompt_version"), shot_ids=tuple(ids),
                      max_seq_length=raw.get("max_seq_length"), tokenizer=raw.get("tokenizer"))


def holdout_of(lineage: dict) -> Path | None:
    """The holdout file the model's own export wrote, or None when the lineage names none."""
    path = lineage.get("holdout_path")
    return Path(path) if path else None


def recipe_shots(recipe: RecipeView, seeds: Sequence[dict], holdout: Sequence[dict]) -> list[dict]:
    """The recipe's worked examples, in its order, from the seed examples. ValueError when one is missing or is
    a holdout example (it would leak the answer)."""
    by_id = {s.get("example_id"): s for s in seeds}
    held = {e["example_id"] for e in holdout}
    missing = [i for i in recipe.shot_ids if i not in by_id]
    if missing:
        raise ValueError(f"the prompt recipe's worked examples {missing} are not among the seed examples")
    leaked = [i for i in recipe.shot_ids if i in held]
    if leaked:
        raise ValueError(f"the prompt recipe's worked examples {leaked} are holdout examples")
    return [by_id[i] for i in recipe.shot_ids]
