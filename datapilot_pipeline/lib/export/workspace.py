"""What every export in a working root holds to: the target model's token budget, the record of holdout
tables, and the shipped holdout's tables kept out of training. `datapilot export` and `finetune_dataset`
both pass `export_settings(...)` to `write_export` / `export_dataset`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from datapilot_pipeline.lib.export.splits import HoldoutRecord, table_identity
from datapilot_pipeline.lib.jsonl import iter_jsonl

if TYPE_CHECKING:
    from datapilot_pipeline.lib.paths import Workspace

HOLDOUT_RECORD = "holdout_tables.json"


def holdout_record(workspace: "Workspace") -> HoldoutRecord:
    """`data/finetune_ready/holdout_tables.json`: every table that was ever in a holdout of this root."""
    return HoldoutRecord(workspace.finetune_ready / HOLDOUT_RECORD)


def holdout_tables(path: Path) -> set[str]:
    """Table identities of a holdout file in the seed-example format (e.g. the shipped holdout_test.jsonl)."""
    if not Path(path).is_file():
        return set()
    return {table_identity(row.get("compact_eda") or {}) for _, row in iter_jsonl(path) if isinstance(row, dict)}


def export_settings(workspace: "Workspace", base_model: str | None, max_length: int) -> dict[str, Any]:
    """Keyword arguments of `write_export` for an export in `workspace` aimed at `base_model` (None: the demo
    base model) with `max_length` tokens per sequence."""
    from datapilot_pipeline.lib.generation.token_budget import target_budget

    return {"budget_for": lambda: target_budget(base_model, workspace, max_length),
            "holdout_record": holdout_record(workspace),
            "forced_holdout": holdout_tables(workspace.holdout_path())}
