"""The structural expectations as a Great Expectations suite over one row per line.

Runs in an ephemeral context (nothing written to disk, `GX_ANALYTICS_ENABLED=false`); great_expectations
is imported only here, inside the function, because importing it takes seconds.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import types

SUITE_NAME = "finetune_dataset_structure"
FORMATS = ["prompt-completion", "openai-chat", "bedrock", "preference", "seed-example"]  # records.parse_record's


def _expectations(gx, max_tokens: int, min_rows: int) -> list:
    e = gx.expectations
    return [
        e.ExpectTableRowCountToBeBetween(min_value=min_rows),
        e.ExpectColumnValuesToBeInSet(column="is_object", value_set=[True]),
        e.ExpectColumnValuesToBeInSet(column="format", value_set=FORMATS),
        e.ExpectColumnValuesToBeBetween(column="prompt_chars", min_value=1),
        e.ExpectColumnValuesToBeBetween(column="completion_chars", min_value=1),
        e.ExpectColumnValuesToBeInSet(column="schema_ok", value_set=[True]),
        e.ExpectColumnValuesToBeBetween(column="n_insights", min_value=1, max_value=20),
        e.ExpectColumnValuesToBeBetween(column="total_tokens", max_value=max_tokens),
        e.ExpectColumnValuesToBeUnique(column="content_key"),
    ]


def preload() -> None:
    """Import Great Expectations now (what `run_suite` would do first), e.g. while other processes work."""
    _import_great_expectations()


class _ModuleOnFirstUse(types.ModuleType):
    """Stands for a module while Great Expectations is imported; the first attribute read imports the real one."""

    def __getattr__(self, name: str):
        _drop_stand_in(self)
        return getattr(importlib.import_module(self.__name__), name)


def _drop_stand_in(stand_in: types.ModuleType) -> None:
    """Take `stand_in` out of `sys.modules` and off its parent package, where it still is."""
    module = stand_in.__name__
    if sys.modules.get(module) is stand_in:
        del sys.modules[module]
    parent_name, _, attribute = module.rpartition(".")
    parent = sys.modules.get(parent_name) if parent_name else None
    if parent is not None and parent.__dict__.get(attribute) is stand_in:
        delattr(parent, attribute)


# Imported by one expectation this suite does not use (`expect_column_kl_divergence_to_be_less_than`), at import
# time: `from scipy import stats` (~1.1 s of CPU and ~55 MB) and `import altair` (~0.25 s).
_DEFERRED = ("scipy.stats", "altair")


def _import_great_expectations():
    """`import great_expectations` without importing SciPy's statistics or Altair.

    Importing GX imports every expectation it ships, and one of them, not in this suite, imports `_DEFERRED` at
    import time: a third of the import, for modules nothing here calls then. While GX is imported, each is a stand-in
    that imports the real module on its first attribute read; afterwards the stand-ins leave `sys.modules`, so every
    other `import scipy.stats` (the A/B analysis, the evaluation's paired test) or `import altair` gets the real
    module as usual."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if "great_expectations" in sys.modules:
        import great_expectations
        return great_expectations
    stand_ins = [_ModuleOnFirstUse(name) for name in _DEFERRED if name not in sys.modules]
    for stand_in in stand_ins:
        sys.modules[stand_in.__name__] = stand_in
        parent, _, attribute = stand_in.__name__.rpartition(".")
        if parent:  # `from scipy import stats` reads the package's attribute
            setattr(importlib.import_module(parent), attribute, stand_in)
    try:
        import great_expectations
    finally:
        for stand_in in stand_ins:
            _drop_stand_in(stand_in)
    return great_expectations


def run_suite(rows: list[dict], max_tokens: int, min_rows: int) -> dict:
    """Validate `rows` (keys: line, is_object, format, prompt_chars, completion_chars, schema_ok,
    n_insights, total_tokens, content_key); returns a JSON-ready summary with per-expectation results."""
    gx = _import_great_expectations()
    import pandas as pd

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars on stderr
    batch_definition = (context.data_sources.add_pandas("finetune")
                        .add_dataframe_asset("lines").add_batch_definition_whole_dataframe("all_lines"))
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    for expectation in _expectations(gx, max_tokens, min_rows):
        suite.add_expectation(expectation)
    frame = pd.DataFrame(rows, columns=["line", "is_object", "format", "prompt_chars", "completion_chars",
                                        "schema_ok", "n_insights", "total_tokens", "content_key"])
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    outcome = batch.validate(suite, result_format="SUMMARY")
    results = []
    for r in outcome.results:
        config = r.expectation_config
        column = config.kwargs.get("column")
        unexpected = r.result.get("unexpected_count")
        results.append({"expectation": config.type, "column": column, "success": bool(r.success),
                        "unexpected_count": int(unexpected) if unexpected is not None else None,
                        "observed_value": r.result.get("observed_value")})
    stats = outcome.statistics
    return {"suite": SUITE_NAME, "success": bool(outcome.success),
            "evaluated": int(stats["evaluated_expectations"]), "successful": int(stats["successful_expectations"]),
            "results": results}
