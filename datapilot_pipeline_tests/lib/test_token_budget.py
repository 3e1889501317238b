"""One token budget: export fits prompts to it, validation counts with it, training drops by it; the prompt
recipe travels with the dataset. Realistic synthetic reviews (lib.synthetic), the real tiny tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.export import ExportOptions, export_dataset, load_seeds
from datapilot_pipeline.lib.export.pipeline import default_output, holdout_path_for
from datapilot_pipeline.lib.export.splits import SplitFractions
from datapilot_pipeline.lib.export.workspace import export_settings, holdout_record
from datapilot_pipeline.lib.paths import Workspace
from datapilot_pipeline.lib.prompts import PromptRecipe, extract_task_eda, prompt_for, read_recipe, recipe_path_for
from datapilot_pipeline.lib.synthetic import generate_feedback
from datapilot_pipeline.lib.generation.token_budget import TokenBudget

RECIPE_KEYS = {"prompt_version", "shot_count", "shot_ids", "max_length", "tokenizer", "tokenizer_sha256",
               "base_model", "completion_reserve"}


@pytest.fixture(scope="module")
def feedbacks() -> list[FeedbackFile]:
    return [FeedbackFile.model_validate(f) for f in generate_feedback(70, seed=3)]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


def _export(root: Path, feedbacks, max_length: int = 2048, **opts):
    ws = Workspace(root)
    out = default_output(ws.finetune_ready, "prompt-completion")
    seeds = load_seeds(ws.seed_examples_path())
    result = export_dataset(feedbacks, seeds, ExportOptions(**opts), {"prompt-completion": out}, holdout_path_for(out),
                            **export_settings(ws, None, max_length))
    return result, out, seeds


@pytest.fixture(scope="module")
def default_export(root, feedbacks):
    return _export(root, feedbacks)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_exported_line_fits_and_training_keeps_them_all(default_export):
    from transformers import AutoTokenizer

    from datapilot_pipeline.lib.training.data import prepare_data

    result, out, _ = default_export
    recipe = read_recipe(out)
    assert set(recipe.to_dict()) == RECIPE_KEYS and recipe.max_length == 2048 and recipe.shot_count == 3
    rows = _rows(out)
    assert rows and all(r["metadata"]["sequence_tokens"] <= 2048 for r in rows)
    assert all("null" not in r["prompt"] for r in rows)  # compact EDAs carry no null keys
    tokenizer = AutoTokenizer.from_pretrained(recipe.tokenizer, local_files_only=True)
    data = prepare_data(out, tokenizer, recipe.max_length, 0.1, 0)
    assert data.dropped_truncated == 0 and len(data.train) + len(data.validation) == len(rows)


def test_validation_counts_with_the_recipe_and_agrees_with_training(default_export, root):
    from datapilot_pipeline.lib.validation.report import validate_dataset

    _, out, _ = default_export
    report = validate_dataset(out, workspace=Workspace(root), run_gx=False).report
    assert report["tokens"]["exact"] and report["tokens"]["max_tokens"] == 2048
    assert report["tokens"]["over_max_count"] == 0 and report["recipe"]["problems"] == []
    # The same file counted against a smaller budget: validation's over-length lines are training's drops.
    from transformers import AutoTokenizer

    from datapilot_pipeline.lib.training.data import prepare_data

    small = validate_dataset(out, workspace=Workspace(root), max_tokens=1500, run_gx=False).report["tokens"]
    tokenizer = AutoTokenizer.from_pretrained(read_recipe(out).tokenizer, local_files_only=True)
    dropped = prepare_data(out, tokenizer, 1500, 0.1, 0).dropped_truncated
    assert small["over_max_count"] == dropped > 0 and small["drop_rate"] == round(dropped / len(_rows(out)), 4)


def test_a_larger_budget_holds_worked_examples_a_smaller_one_leaves_out_lines(root, feedbacks):
    big, big_out, _ = _export(root, feedbacks, max_length=4096)
    shots = [r["metadata"]["shot_count"] for r in _rows(big_out)]
    assert max(shots) >= 1 and all(r["metadata"]["sequence_tokens"] <= 4096 for r in _rows(big_out))
    small, small_out, _ = _export(root, feedbacks, max_length=1400)
    assert small.discarded.get("over_token_budget", 0) > 0
    assert all(r["metadata"]["sequence_tokens"] <= 1400 for r in _rows(small_out))


def test_prompt_for_rebuilds_the_exported_prompt_from_the_recipe(root, feedbacks):
    result, out, seeds = _export(root, feedbacks, max_length=4096)
    recipe = PromptRecipe.from_dict(json.loads(recipe_path_for(out).read_text()))
    for row in _rows(out)[:8]:
        built = prompt_for(recipe, extract_task_eda(row["prompt"]), seeds)
        assert built.prompt == row["prompt"] and built.shot_ids == row["metadata"]["shot_ids"]
        assert built.messages[0]["role"] == "system" and built.messages[-1]["role"] == "user"


def test_recipe_round_trips_and_refuses_another_prompt_version():
    recipe = PromptRecipe(shot_ids=("a", "b"), max_length=1024, tokenizer="/t", tokenizer_sha256="ab",
                          completion_reserve=300)
    assert PromptRecipe.from_dict(recipe.to_dict()) == recipe and recipe.to_dict()["shot_count"] == 2
    with pytest.raises(ValueError, match="prompt version"):
        PromptRecipe.from_dict({**recipe.to_dict(), "prompt_version": "v0"})


def test_a_tokenizer_that_is_not_the_recipes_is_refused(default_export, tmp_path):
    from datapilot_pipeline.lib.generation.modeling import build_tiny_tokenizer
    from datapilot_pipeline.lib.generation.token_budget import TokenizerMismatchError

    other = TokenBudget.load(build_tiny_tokenizer(tmp_path / "other", ["something else entirely"] * 3))
    with pytest.raises(TokenizerMismatchError):
        other.check(read_recipe(default_export[1]).tokenizer_sha256)


def test_holdout_tables_are_recorded_and_never_trained_on_later(root, feedbacks, default_export):
    result, out, _ = default_export
    held = {json.dumps(r["compact_eda"]["dataset"]["name"]) for r in _rows(result.paths["holdout"])}
    assert held and holdout_record(Workspace(root)).tables()
    # Later data: the same tables and more. No table held out before is in the new training file.
    more = [FeedbackFile.model_validate(f) for f in generate_feedback(110, seed=3)]
    later, later_out, _ = _export(root, more)
    trained = {json.dumps(r["metadata"]["dataset_name"]) for r in _rows(later_out)}
    assert not held & trained
    assert held <= {json.dumps(r["compact_eda"]["dataset"]["name"]) for r in _rows(later.paths["holdout"])}


def test_a_sample_with_no_holdout_table_writes_no_holdout_file(tmp_path, feedbacks):
    from datasets import load_dataset

    result, out, _ = _export(tmp_path, feedbacks, sample=5, fractions=SplitFractions(1.0, 0.0, 0.0))
    assert "holdout" not in result.paths and not holdout_path_for(out).exists()
    assert load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf")).num_rows == 5


def test_the_shipped_holdout_tables_are_never_trained_on(tmp_path, feedbacks):
    from datapilot_pipeline_tests.lib.export_fixtures import make_feedback

    shipped = _rows(Workspace(tmp_path).holdout_path())[0]
    job = make_feedback(job_id="shipped_table_job", eda=shipped["compact_eda"], output=shipped["output"])
    result, out, _ = _export(tmp_path, [*feedbacks, job], fractions=SplitFractions(1.0, 0.0, 0.0))
    assert "shipped_table_job" not in {r["metadata"]["job_id"] for r in _rows(out)}
    assert "shipped_table_job" in {r["example_id"] for r in _rows(result.paths["holdout"])}


def test_the_common_prefix_is_the_one_a_walk_over_both_finds() -> None:
    import random

    from datapilot_pipeline.lib.generation.token_budget import _common_prefix

    def walked(a: list[int], b: list[int]) -> int:
        n = 0
        for x, y in zip(a, b):
            if x != y:
                break
            n += 1
        return n

    rng = random.Random(3)
    cases = [([], []), ([], [1]), ([1], []), ([1, 2], [1, 2]), ([1, 2, 3], [1, 2]), ([5], [6])]
    for _ in range(3000):
        b = [rng.randrange(4) for _ in range(rng.randrange(0, 60))]
        a = b[:rng.randrange(0, len(b) + 1)] + [rng.randrange(4) for _ in range(rng.randrange(0, 5))]
        cases.append((a, b))
    for a, b in cases:
        assert _common_prefix(a, b) == walked(a, b), (a, b)
    assert sum(0 < walked(a, b) < min(len(a), len(b)) for a, b in cases) > 500  # the halving branch ran


def test_a_rendered_eda_builds_the_prompt_a_plain_one_builds(feedbacks) -> None:
    from datapilot_pipeline.lib.prompts import RenderedEda, build_messages, build_prompt

    shots = [{"compact_eda": f.compact_eda.model_dump(), "output": f.llm_output.model_dump()} for f in feedbacks[:2]]
    for f in feedbacks[2:12]:
        eda = f.compact_eda.model_dump()
        rendered = RenderedEda(eda)
        assert build_prompt(rendered, shots) == build_prompt(eda, shots)
        assert build_prompt(rendered, []) == build_prompt(eda, []) and "_json" in rendered.__dict__
        assert build_messages(rendered, shots) == build_messages(eda, shots)
        assert json.dumps(rendered) == json.dumps(eda)
