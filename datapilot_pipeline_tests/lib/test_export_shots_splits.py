"""Few-shot selection and the grouped, stratified splits."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from datapilot_pipeline.lib.export.shots import SeedFileError, load_seeds, select_shots
from datapilot_pipeline.lib.export.splits import SplitFractions, assign_splits
from datapilot_pipeline_tests.lib.export_fixtures import make_seed

SEEDS = [make_seed("s1", "a.csv", ("outlier",)), make_seed("s2", "b.csv", ("outlier", "trend")),
         make_seed("s3", "c.csv", ("quality", "segment", "trend")), make_seed("s4", "d.csv", ("correlation",)),
         make_seed("s5", "e.csv", ("outlier",))]


def test_shots_cover_categories_greedily_and_ignore_input_order():
    picks = [s["example_id"] for s in select_shots(SEEDS, 3)]
    assert picks == ["s3", "s1", "s4"]  # s3 adds 3 categories; then s1 (outlier, id before s2); then s4
    assert [s["example_id"] for s in select_shots(list(reversed(SEEDS)), 3)] == picks


@pytest.mark.parametrize("exclude_ids, exclude_datasets, banned", [
    ({"s3"}, set(), {"s3"}),
    (set(), {"a.csv", "c.csv"}, {"s1", "s3"}),
    ({"s1", "s2", "s3", "s4"}, set(), {"s1", "s2", "s3", "s4"}),
])
def test_shots_never_use_excluded_examples(exclude_ids, exclude_datasets, banned):
    picks = {s["example_id"] for s in select_shots(SEEDS, 5, exclude_ids, exclude_datasets)}
    assert not picks & banned
    assert picks == {s["example_id"] for s in SEEDS} - banned


def test_shot_count_bounds():
    assert select_shots(SEEDS, 0) == []
    assert len(select_shots(SEEDS, 99)) == len(SEEDS)


def test_load_seeds_names_the_bad_line(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text(json.dumps(SEEDS[0]) + "\n\n" + json.dumps({"example_id": "x"}) + "\n")
    with pytest.raises(SeedFileError, match="line 3"):
        load_seeds(path)
    path.write_text("".join(json.dumps(s) + "\n" for s in SEEDS))
    assert [s["example_id"] for s in load_seeds(path)] == ["s1", "s2", "s3", "s4", "s5"]
    with pytest.raises(SeedFileError, match="no seed examples"):
        load_seeds(tmp_path / "missing.jsonl")


def _items(n_tables=60, per_table=3):
    cats = ("outlier", "trend", "quality")
    return [(f"t{t}", cats[t % 3]) for t in range(n_tables) for _ in range(per_table)]


def test_splits_group_by_table_and_hit_fractions_per_category():
    items = _items()
    assignment = assign_splits(items, lambda i: i[0], lambda i: i[1], seed=7)
    assert set(assignment) == {f"t{t}" for t in range(60)}  # one split per table: no leakage possible
    for cat in ("outlier", "trend", "quality"):
        per_split = Counter(assignment[t] for t, c in items if c == cat)
        assert per_split["train"] == 48 and per_split["validation"] == 6 and per_split["holdout"] == 6


def test_splits_are_deterministic_in_seed_and_depend_on_it():
    items = _items()
    a = assign_splits(items, lambda i: i[0], lambda i: i[1], seed=1)
    assert a == assign_splits(list(reversed(items)), lambda i: i[0], lambda i: i[1], seed=1)
    assert a != assign_splits(items, lambda i: i[0], lambda i: i[1], seed=2)


@pytest.mark.parametrize("n_tables", [1, 2, 3])
def test_tiny_inputs_always_have_train(n_tables):
    items = [(f"t{t}", "outlier") for t in range(n_tables)]
    assignment = assign_splits(items, lambda i: i[0], lambda i: i[1])
    assert "train" in assignment.values()


def test_train_present_even_when_train_is_the_smallest_fraction():
    items = [("t0", "outlier"), ("t1", "outlier")]
    assignment = assign_splits(items, lambda i: i[0], lambda i: i[1], SplitFractions(0.1, 0.45, 0.45))
    assert "train" in assignment.values()


@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.2), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1)])
def test_bad_fractions_are_refused(fractions):
    with pytest.raises(ValueError):
        SplitFractions(*fractions)


def test_zero_fraction_split_stays_empty():
    items = _items(30, 1)
    assignment = assign_splits(items, lambda i: i[0], lambda i: i[1], SplitFractions(0.9, 0.1, 0.0))
    assert "holdout" not in assignment.values()
    assert Counter(assignment.values()) == {"train": 27, "validation": 3}
