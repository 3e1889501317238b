"""The prompt recipe and holdout a model's lineage carries, as evaluation reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from datapilot_pipeline.lib.evaluation.recipe import holdout_of, recipe_of, recipe_shots
from datapilot_pipeline.lib.prompts import PromptRecipe
from datapilot_pipeline_tests.eval_fixtures import holdout, seeds

RECIPE = {"prompt_version": "v1", "shot_count": 2, "shot_ids": ["seed3", "seed1"], "max_length": None,
          "tokenizer": None}


def test_recipe_from_a_dict_or_a_version_tag_gives_its_shots_in_order():
    import json

    for raw in (RECIPE, json.dumps(RECIPE)):
        recipe = recipe_of({"recipe": raw})
        assert recipe.shot_ids == ("seed3", "seed1") and recipe == PromptRecipe.from_dict(RECIPE)
        per_example = recipe_shots(recipe, seeds(), holdout(2))
        assert [s["example_id"] for s in per_example(holdout(2)[0]["compact_eda"])] == ["seed3", "seed1"]


def test_lineage_without_recipe_or_holdout_falls_back():
    assert recipe_of({"model_uri": "models:/x/1"}) is None and holdout_of({}) is None
    assert holdout_of({"holdout_path": "/d/f_holdout.jsonl"}) == Path("/d/f_holdout.jsonl")


@pytest.mark.parametrize("raw, message", [
    ("{not json", "not JSON"),
    ([1], "must be an object"),
    ({"shot_count": 1, "shot_ids": []}, "0 shot ids for shot_count 1"),
    ({"shot_ids": []}, "at least prompt_version"),
    ({"prompt_version": "v0", "shot_ids": []}, "is not this code's"),
    ({"shot_ids": "seed1"}, "list of example ids"),
])
def test_malformed_recipes_are_errors_not_other_prompts(raw, message):
    with pytest.raises(ValueError, match=message):
        recipe_of({"recipe": raw})


def test_recipe_shots_missing_or_leaking_the_holdout_are_refused():
    with pytest.raises(ValueError, match="not among the seed examples"):
        recipe_shots(recipe_of({"recipe": {"prompt_version": "v1", "shot_ids": ["nope"]}}), seeds(), holdout(1))
    leaky = [*seeds(), holdout(1)[0]]
    with pytest.raises(ValueError, match="are holdout examples"):
        recipe_shots(recipe_of({"recipe": {"prompt_version": "v1", "shot_ids": ["h1"]}}), leaky, holdout(1))
