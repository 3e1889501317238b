"""Few-shot example selection, shared by export and evaluation so both build identical prompts.

A seed example is `{"example_id", "compact_eda", "output"}` (the seed-example and holdout format).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from datapilot_pipeline.lib.jsonl import JsonlError, iter_jsonl


class SeedFileError(ValueError):
    """A seed-example file that cannot be used; the message is one line."""


def load_seeds(path: str | os.PathLike) -> list[dict]:
    """Read a seed-example JSONL file; raises `SeedFileError` naming the first bad line."""
    path = Path(path)
    if not path.is_file():
        raise SeedFileError(f"no seed examples at {path}")
    seeds = []
    try:
        for number, row in iter_jsonl(path):
            if not isinstance(row, dict) or not {"example_id", "compact_eda", "output"} <= row.keys():
                raise SeedFileError(f"{path.name} line {number}: expected example_id, compact_eda and output")
            seeds.append(row)
    except JsonlError as exc:
        raise SeedFileError(str(exc)) from None
    return seeds


def _dataset_name(seed: dict) -> str | None:
    dataset = (seed.get("compact_eda") or {}).get("dataset") or {}
    return dataset.get("name")


def _categories(seed: dict) -> set[str]:
    return {i.get("category") for i in (seed.get("output") or {}).get("insights") or [] if isinstance(i, dict)}


def select_shots(seeds: list[dict], shot_count: int, exclude_ids: Iterable[str] = frozenset(),
                 exclude_datasets: Iterable[str] = frozenset()) -> list[dict]:
    """Up to `shot_count` seeds, chosen deterministically to cover as many insight categories as possible.

    Seeds whose `example_id` is in `exclude_ids` (the example itself, holdout examples) or whose table
    is in `exclude_datasets` (the task's own table, holdout tables) are never chosen. Greedy: each pick
    adds the most categories not yet shown, ties broken by `example_id`; the result is in pick order and
    does not depend on the order of `seeds`."""
    if shot_count <= 0:
        return []
    banned_ids, banned_tables = set(exclude_ids), set(exclude_datasets)
    pool = sorted((s for s in seeds if str(s["example_id"]) not in banned_ids
                   and _dataset_name(s) not in banned_tables), key=lambda s: str(s["example_id"]))
    chosen: list[dict] = []
    shown: set[str] = set()
    while pool and len(chosen) < shot_count:
        best = max(range(len(pool)), key=lambda n: (len(_categories(pool[n]) - shown), -n))
        pick = pool.pop(best)
        shown |= _categories(pick)
        chosen.append(pick)
    return chosen
