"""Few-shot selection and the splits by stable table identity."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from datapilot_pipeline.lib.export.shots import SeedFileError, load_seeds, select_shots
from datapilot_pipeline.lib.export.splits import HoldoutRecord, SplitFractions, assign_splits, split_of, table_identity
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


def _eda(name: str, columns=("revenue", "region")) -> dict:
    return {"dataset": {"name": name, "n_rows": 10, "n_cols": len(columns)}, "columns": {c: {} for c in columns}}


def test_table_identity_survives_rows_and_column_order_but_not_renames():
    base = table_identity(_eda("sales.csv"))
    grown = _eda("sales.csv", ("region", "revenue"))
    grown["dataset"]["n_rows"] = 10_000
    assert table_identity(grown) == base
    assert table_identity(_eda("sales_v2.csv")) != base
    assert table_identity(_eda("sales.csv", ("revenue", "region", "units"))) != base
    assert "sales" not in base  # a table name may hold PII: the identity is a hash only


def test_splits_hit_fractions_over_many_tables():
    tables = [table_identity(_eda(f"t{t}.csv")) for t in range(5000)]
    counts = Counter(assign_splits(tables, lambda t: t).values())
    assert abs(counts["train"] / 5000 - 0.8) < 0.02 and abs(counts["holdout"] / 5000 - 0.1) < 0.015


def test_new_tables_never_move_existing_ones():
    """The defect this rule fixes: adding one table to 200 reassigned 60 of them."""
    first = [table_identity(_eda(f"t{t}.csv")) for t in range(200)]
    before = assign_splits(first, lambda t: t)
    after = assign_splits(first + [table_identity(_eda(f"new{t}.csv")) for t in range(60)], lambda t: t)
    assert all(after[t] == before[t] for t in first)


def test_forced_holdout_wins_over_the_hash():
    tables = [table_identity(_eda(f"t{t}.csv")) for t in range(50)]
    trained = [t for t in tables if split_of(t) == "train"][:3]
    assignment = assign_splits(tables, lambda t: t, forced_holdout=trained)
    assert all(assignment[t] == "holdout" for t in trained)


def test_holdout_record_accumulates_across_exports_and_concurrent_writers(tmp_path):
    import threading

    record = HoldoutRecord(tmp_path / "holdout_tables.json")
    assert record.tables() == set()
    threads = [threading.Thread(target=record.add, args=({f"id{n}", "shared"}, f"export{n}")) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert record.tables() == {f"id{n}" for n in range(8)} | {"shared"}
    record.add({"id0"}, "again")
    data = json.loads((tmp_path / "holdout_tables.json").read_text())
    assert data["tables"]["id0"]["first_holdout"] == "export0"


@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.2), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1)])
def test_bad_fractions_are_refused(fractions):
    with pytest.raises(ValueError):
        SplitFractions(*fractions)


def test_zero_fraction_split_stays_empty():
    tables = [table_identity(_eda(f"t{t}.csv")) for t in range(300)]
    assignment = assign_splits(tables, lambda t: t, SplitFractions(0.9, 0.1, 0.0))
    assert "holdout" not in assignment.values() and "validation" in assignment.values()
