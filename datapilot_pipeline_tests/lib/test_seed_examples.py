"""The shipped seed (few-shot) and holdout (evaluation) examples: well-formed, grounded, compact,
identical in both copies, and reproducible from `lib.synthetic.seeds`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from datapilot_pipeline.lib.atomic import dumps_compact
from datapilot_pipeline.lib.contracts import CATEGORIES, CompactEDA
from datapilot_pipeline.lib.evidence import check_output
from datapilot_pipeline.lib.paths import Workspace, packaged_data
from datapilot_pipeline.lib.synthetic import seeds

ROOT = Path(__file__).resolve().parents[2]
FILES = ("seed_examples.jsonl", "holdout_test.jsonl")


def _lines(name: str) -> list[str]:
    return packaged_data(name).read_text(encoding="utf-8").splitlines()


def _examples(name: str) -> list[dict]:
    return [json.loads(line) for line in _lines(name)]


@pytest.mark.parametrize("name", FILES)
def test_package_and_workspace_copies_are_identical(name: str) -> None:
    assert packaged_data(name).read_bytes() == (ROOT / "data" / "finetune_samples" / name).read_bytes()


@pytest.mark.parametrize("name", FILES)
def test_every_example_is_grounded(name: str) -> None:
    examples = _examples(name)
    assert len({e["example_id"] for e in examples}) == len(examples)
    for ex in examples:
        assert set(ex) == {"example_id", "compact_eda", "output"}
        CompactEDA.model_validate(ex["compact_eda"])
        assert 4 <= ex["compact_eda"]["dataset"]["n_cols"] <= 7
        check = check_output(ex["output"], ex["compact_eda"])
        assert check.schema_pass, (ex["example_id"], check.error)
        assert check.n_valid_evidence == check.n_insights >= 2, (ex["example_id"], check.insight_problems)
        assert ex["output"]["summary"]
        for insight in ex["output"]["insights"]:
            assert re.search(r"\d", insight["text"]), insight["text"]  # specific: quotes a number
            assert len(insight["recommendation"]["action"].split()) >= 5


def test_seed_set_covers_every_category_and_fits_a_prompt() -> None:
    seed = _examples("seed_examples.jsonl")
    assert len(seed) == 10
    assert {i["category"] for ex in seed for i in ex["output"]["insights"]} == set(CATEGORIES)
    assert max(len(line) for line in _lines("seed_examples.jsonl")) < 2500
    assert "@" not in "".join(_lines("seed_examples.jsonl"))  # no customer PII in prompts


def test_holdout_is_large_and_uses_other_tables() -> None:
    holdout, seed = _examples("holdout_test.jsonl"), _examples("seed_examples.jsonl")
    assert len(holdout) >= 24
    holdout_names = [ex["compact_eda"]["dataset"]["name"] for ex in holdout]
    assert len(set(holdout_names)) == len(holdout_names)
    assert set(holdout_names).isdisjoint(ex["compact_eda"]["dataset"]["name"] for ex in seed)
    seed_edas = {dumps_compact(ex["compact_eda"]) for ex in seed}
    assert not seed_edas & {dumps_compact(ex["compact_eda"]) for ex in holdout}
    assert len({i["category"] for ex in holdout for i in ex["output"]["insights"]}) == len(CATEGORIES)


def test_shipped_files_are_reproducible_from_the_generator() -> None:
    assert [dumps_compact(e) for e in seeds.build_seed_examples()] == _lines("seed_examples.jsonl")
    assert [dumps_compact(e) for e in seeds.build_holdout_examples()] == _lines("holdout_test.jsonl")


def test_an_empty_workspace_falls_back_to_the_packaged_copies(home: Path) -> None:
    ws = Workspace.current()
    assert ws.seed_examples_path() == packaged_data("seed_examples.jsonl")
    assert ws.holdout_path().read_bytes() == packaged_data("holdout_test.jsonl").read_bytes()
