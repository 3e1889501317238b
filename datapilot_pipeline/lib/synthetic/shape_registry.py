"""The table shapes by name: the one module that imports the builders (`shapes.py`, `shapes_ops.py`), which in
turn import only the helpers of `tables.py`, so nothing imports back up."""

from __future__ import annotations

from datapilot_pipeline.lib.synthetic import shapes, shapes_ops
from datapilot_pipeline.lib.synthetic.tables import SyntheticTable

BUILDERS = {**shapes.BUILDERS, **shapes_ops.BUILDERS}
SHAPES = tuple(BUILDERS)  # ("sales", "churn", "web_traffic", "inventory", "hr"): jobs cycle through them in order


def make_table(shape: str, seed: int) -> SyntheticTable:
    """Build one table of a business `shape` (see `SHAPES`), deterministic by `seed`."""
    if shape not in BUILDERS:
        raise ValueError(f"unknown table shape {shape!r}; known: {', '.join(sorted(BUILDERS))}")
    return BUILDERS[shape](seed)
