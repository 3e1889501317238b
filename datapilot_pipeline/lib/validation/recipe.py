"""The token budget a dataset is validated against, and whether its lines follow its prompt recipe.

The budget is the recipe's (`<stem>_recipe.json`: tokenizer folder checked by sha256, max length), so
validation counts over-length lines exactly as training will drop them. An explicit tokenizer or max
length overrides it; a dataset without a recipe is counted with the workspace's base model tokenizer when
one exists, else estimated (`tokens.TokenCounter`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from datapilot_pipeline.lib.prompts import PromptRecipe, read_recipe, recipe_path_for
from datapilot_pipeline.lib.generation.token_budget import DEFAULT_MAX_LENGTH, TokenBudget

if TYPE_CHECKING:
    from datapilot_pipeline.lib.paths import Workspace
    from datapilot_pipeline.lib.validation.records import Record


SIBLING_SUFFIXES = ("_holdout", "_validation")  # files export writes beside `<stem>.jsonl`, under its recipe


def recipe_file(dataset: Path) -> Path:
    """Where the recipe of `dataset` lies: `<stem>_recipe.json`, or for the holdout and validation files export
    writes beside a dataset (`<stem>_holdout.jsonl`, `<stem>_validation.jsonl`) the dataset's own recipe."""
    dataset = Path(dataset)
    own = recipe_path_for(dataset)
    if own.is_file():
        return own
    for suffix in SIBLING_SUFFIXES:
        if dataset.stem.endswith(suffix):
            sibling = recipe_path_for(dataset.with_name(dataset.stem.removesuffix(suffix) + dataset.suffix))
            if sibling.is_file():
                return sibling
    return own


def dataset_recipe(dataset: Path) -> PromptRecipe | None:
    """`lib.prompts.read_recipe` of the file `recipe_file` names (None when there is none)."""
    path = recipe_file(dataset)
    return read_recipe(path.with_name(path.name.removesuffix("_recipe.json") + ".jsonl"))


def dataset_budget(dataset: Path, tokenizer_path: str | Path | None, max_tokens: int | None,
                   workspace: "Workspace | None") -> tuple[TokenBudget | None, dict]:
    """(budget or None for the estimate, the report's `recipe` section without line checks)."""
    problems: list[str] = []
    try:
        recipe = dataset_recipe(dataset)
    except ValueError as exc:
        recipe, problems = None, [str(exc)]
    length = max_tokens or (recipe.max_length if recipe and recipe.max_length else DEFAULT_MAX_LENGTH)
    budget = None
    if tokenizer_path is not None:
        budget = TokenBudget.load_for_counting(tokenizer_path, length)
    elif recipe is not None and recipe.tokenizer:
        if Path(recipe.tokenizer).is_dir():
            budget = TokenBudget.load_for_counting(recipe.tokenizer, length, recipe.base_model)
        else:
            problems.append(f"the recipe's tokenizer {recipe.tokenizer} is missing: lengths are estimated")
    elif workspace is not None:
        from datapilot_pipeline.lib.generation.modeling import default_tiny_model_dir, tiny_tokenizer_exists

        tiny = default_tiny_model_dir(workspace)
        budget = TokenBudget.load_for_counting(tiny, length) if tiny_tokenizer_exists(tiny) else None
    if budget is not None and recipe is not None and recipe.tokenizer_sha256 \
            and budget.tokenizer_hash != recipe.tokenizer_sha256:
        problems.append(f"tokenizer {budget.tokenizer_path} is not the one the recipe counted with "
                        f"(sha256 {budget.tokenizer_hash[:12]} != {recipe.tokenizer_sha256[:12]})")
    section = {"path": str(recipe_file(dataset)) if recipe else None, "max_length": length,
               "recipe": recipe.to_dict() if recipe else None, "problems": problems}
    return budget, section


def line_problems(recipe: PromptRecipe | None, records: list["Record"]) -> list[str]:
    """Lines whose metadata contradicts the recipe (prompt version, worked examples not the recipe's prefix)."""
    if recipe is None:
        return []
    out = []
    for rec in records:
        meta = rec.metadata or {}
        if "prompt_version" in meta and meta["prompt_version"] != recipe.prompt_version:
            out.append(f"line {rec.line}: prompt version {meta['prompt_version']!r}, recipe {recipe.prompt_version!r}")
        shots = meta.get("shot_ids")
        if isinstance(shots, list) and not set(map(str, shots)) <= set(recipe.shot_ids):
            out.append(f"line {rec.line}: worked examples {shots} are not the recipe's {list(recipe.shot_ids)}")
    return out
