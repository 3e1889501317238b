"""What evaluation needs from a model's lineage: the holdout its export wrote and the prompt recipe it was
trained with (so the fine-tuned arm is prompted as in training, never with a second default).

The lineage dict is the `fine_tuned_model` value (or a registered version's tags). Its `recipe` is
`lib.prompts.PromptRecipe.to_dict()` (or that dict as JSON text, on a version tag). A lineage without one (a model
trained before recipes travelled) gives None, and the caller falls back to the configured holdout and shot count.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from datapilot_pipeline.lib.prompts import PromptRecipe, recipe_budget, shots_for


def recipe_of(lineage: dict) -> PromptRecipe | None:
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
    return PromptRecipe.from_dict(raw)


def holdout_of(lineage: dict) -> Path | None:
    """The holdout file the model's own export wrote, or None when the lineage names none."""
    path = lineage.get("holdout_path")
    return Path(path) if path and path != "None" else None


def recipe_shots(recipe: PromptRecipe, seeds: Sequence[dict], holdout: Sequence[dict]) -> Callable[[dict], list[dict]]:
    """Per holdout example, the worked examples the recipe puts in its prompt (the longest prefix of the recipe's
    shots that fits its token budget, none from the example's own table), as in the recipe's training data.
    ValueError when a shot is missing from the seeds or is a holdout example (it would leak the answer)."""
    by_id = {s.get("example_id") for s in seeds}
    held = {e["example_id"] for e in holdout}
    missing = [i for i in recipe.shot_ids if i not in by_id]
    if missing:
        raise ValueError(f"the prompt recipe's worked examples {missing} are not among the seed examples")
    leaked = [i for i in recipe.shot_ids if i in held]
    if leaked:
        raise ValueError(f"the prompt recipe's worked examples {leaked} are holdout examples")
    budget = recipe_budget(recipe) if recipe.shot_ids else None
    return lambda compact_eda: shots_for(recipe, compact_eda, seeds, budget)
