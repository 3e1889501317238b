"""Sharded validation: per-shard results merge into the one-pass report, duplicates across shards included."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from datapilot_pipeline.lib.atomic import dumps_compact
from datapilot_pipeline.lib.validation.planted import PLANTED_TYPES, planted_value
from datapilot_pipeline.lib.validation.records import DatasetReadError
from datapilot_pipeline.lib.validation.report import validate_dataset
from datapilot_pipeline.lib.validation.sample_data import example_line, example_lines, shots
from datapilot_pipeline.lib.validation.shards import (
    ShardMismatchError, load_shard, merge_shard_results, save_shard, shard_bounds, validate_shard,
)

N_LINES = 90
VOLATILE = ("created_at", "source", "shards")


def _comparable(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """90 lines with defects placed so that most duplicates cross shard boundaries (blank lines too)."""
    rng = random.Random(3)
    shot_list = shots(0)
    rows: list = example_lines(N_LINES)
    for k, i in enumerate((4, 33, 61, 77)):
        rows[i] = example_line(i, 0, shot_list, contact=planted_value(PLANTED_TYPES[k % len(PLANTED_TYPES)], rng))
    rows[8] = "{not json"
    rows[50] = {"prompt": "p", "metadata": {"job_id": "x"}}
    rows[70] = dict(rows[12], completion='{"insights": [{"id": "i1"}]}')
    rows[85] = rows[2]                      # exact duplicate of line 3, far across shards
    rows[46] = rows[45]                     # exact duplicate of the previous line
    near = dict(rows[9])
    near["completion"] = rows[9]["completion"].replace("far above", "well above")
    rows[80] = near                         # near duplicate of line 10
    near2 = dict(rows[40])
    near2["completion"] = rows[40]["completion"].replace("far above", "way above")
    rows[41] = near2                        # near duplicate of the previous line
    text = "".join((r if isinstance(r, str) else dumps_compact(r)) + "\n" + ("\n" if i == 30 else "")
                   for i, r in enumerate(rows))
    path = tmp_path_factory.mktemp("shards") / "d.jsonl"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def single(dataset: Path) -> dict:
    return validate_dataset(dataset, run_gx=False).report


def test_dataset_has_the_planted_defects(single: dict) -> None:
    # Line 31 is followed by a blank line, so every later row sits one line further down.
    assert single["schema"]["invalid_lines"] == [9, 52, 72]
    assert single["duplicates"]["exact"] == [48, 87]
    assert single["duplicates"]["near"] == [43, 82]
    assert single["duplicates"]["pairs"] == {"48": 47, "87": 3, "43": 42, "82": 10}
    assert len(single["pii"]["lines"]) == 4 and sum(single["pii"]["by_entity"].values()) >= 4


@pytest.mark.parametrize("n_shards", [1, 2, 3, 7, N_LINES])
def test_merged_shards_equal_one_pass(dataset: Path, single: dict, n_shards: int) -> None:
    results = [validate_shard(dataset, k, n_shards) for k in range(n_shards)]
    merged = merge_shard_results(results, run_gx=False)
    assert _comparable(merged) == _comparable(single)
    assert merged["quality_score"] == single["quality_score"] and merged["duplicates"]["near"] == [43, 82]
    assert sum(merged["shards"]["lines"]) == N_LINES


def test_great_expectations_section_survives_the_merge(dataset: Path) -> None:
    one = validate_dataset(dataset).report
    merged = merge_shard_results([validate_shard(dataset, k, 3) for k in range(3)])
    assert merged["great_expectations"] == one["great_expectations"]
    assert _comparable(merged) == _comparable(one)


def test_saved_shards_merge_the_same_in_any_order(dataset: Path, single: dict, tmp_path: Path) -> None:
    paths = [save_shard(validate_shard(dataset, k, 4), tmp_path) for k in range(4)]
    loaded = [load_shard(p) for p in reversed(paths)]
    assert _comparable(merge_shard_results(loaded, run_gx=False)) == _comparable(single)


def test_incomplete_or_mixed_shards_are_refused(dataset: Path, tmp_path: Path) -> None:
    parts = [validate_shard(dataset, k, 3) for k in range(3)]
    with pytest.raises(ShardMismatchError, match="do not make up"):
        merge_shard_results(parts[:2], run_gx=False)
    with pytest.raises(ShardMismatchError, match="do not make up"):
        merge_shard_results(parts + [parts[1]], run_gx=False)
    other = tmp_path / "other.jsonl"
    other.write_text("".join(dumps_compact(r) + "\n" for r in example_lines(6, seed=5)), encoding="utf-8")
    with pytest.raises(ShardMismatchError, match="another dataset"):
        merge_shard_results(parts[:2] + [validate_shard(other, 2, 3)], run_gx=False)
    with pytest.raises(ShardMismatchError, match="no shard"):
        merge_shard_results([], run_gx=False)
    with pytest.raises(ValueError, match="prefilled needs the shared index"):
        merge_shard_results(parts, run_gx=False, prefilled=True)


def test_no_json_object_anywhere_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "text.jsonl"
    path.write_text("hello\nworld\nagain\n", encoding="utf-8")
    with pytest.raises(DatasetReadError, match="no line is a JSON object"):
        merge_shard_results([validate_shard(path, k, 2) for k in range(2)], run_gx=False)


@pytest.mark.parametrize("n_lines,n_shards", [(0, 1), (5, 3), (10, 10), (7, 12), (100_003, 8)])
def test_shard_bounds_cover_every_line_once(n_lines: int, n_shards: int) -> None:
    covered = [p for k in range(n_shards) for p in range(*shard_bounds(n_lines, k, n_shards))]
    assert covered == list(range(n_lines))


@pytest.mark.parametrize("shard,n_shards", [(3, 3), (-1, 2), (0, 0)])
def test_shard_bounds_reject_missing_shards(shard: int, n_shards: int) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        shard_bounds(10, shard, n_shards)
