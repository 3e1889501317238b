"""The structural expectations as a Great Expectations suite over one row per line.

Runs in an ephemeral context (nothing written to disk, `GX_ANALYTICS_ENABLED=false`); great_expectations
is imported only here, inside the function, because importing it takes seconds.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import sys

from datapilot_pipeline.lib.import_guards import on_first_use, slot_by_slot_deepcopy, unavailable

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


class SuiteProcess:
    """`run_suite` in a forked process that imports Great Expectations as soon as it starts: the import (~0.85 s of
    CPU) runs beside the caller's work, on the other core, and the caller never holds GX (~230 MB). The caller sends
    the suite's columns (anything with a `frame()`) once, at the end, and gets the summary or the suite's error.
    Fork only from a process with one thread (`workers.start_method`); `close` ends the process, result or not."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end, self._conn), name="great-expectations",
                                        daemon=True)
        self._process.start()
        child_end.close()

    def run(self, columns, max_tokens: int, min_rows: int) -> dict:
        try:
            self._conn.send((columns, max_tokens, min_rows))
            ok, value = self._conn.recv()
        except (EOFError, BrokenPipeError):
            self._process.join(timeout=5)
            raise RuntimeError("the Great Expectations process ended without a result "
                               f"(exit code {self._process.exitcode})") from None
        finally:
            self.close()
        if not ok:
            raise value
        return value

    def close(self) -> None:
        self._conn.close()  # a process still waiting for the columns reads the end of the pipe and exits
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _serve(conn, callers_end) -> None:
    """`SuiteProcess`'s side: import GX, wait for the columns, reply (True, summary) or (False, the error). The fork
    copied the caller's end of the pipe too: closed here, so the caller closing its own ends the wait."""
    callers_end.close()
    try:
        try:
            preload()
            imported = None
        except Exception as exc:  # sent back once asked, with the suite's other errors
            imported = exc
        try:
            columns, max_tokens, min_rows = conn.recv()
        except EOFError:  # the validation ended before its suite: nothing to run
            return
        try:
            if imported is not None:
                raise imported
            reply = (True, run_suite(columns.frame(), max_tokens=max_tokens, min_rows=min_rows))
        except Exception as exc:
            reply = (False, exc)
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError):  # an error that does not pickle: its text
            conn.send((False, RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))
    finally:
        conn.close()


# Imported by one expectation this suite does not use (`expect_column_kl_divergence_to_be_less_than`), at import
# time: `from scipy import stats` (~1.1 s of CPU and ~55 MB) and `import altair` (~0.25 s).
_DEFERRED = ("scipy.stats", "altair")
# GX's optional SQL support (its `sql`, `postgresql` and warehouse extras), imported when installed (~0.4 s of CPU):
# the suite runs on an in-memory pandas frame, as GX runs where SQLAlchemy is not installed.
_SQL_EXTRAS = ("sqlalchemy", "psycopg2")


def _import_great_expectations():
    """`import great_expectations` without what this suite never calls: a third of the import's CPU; and with
    pydantic v1's fields deep-copied slot by slot (`import_guards.slot_by_slot_deepcopy`), a quarter of the rest.

    Importing GX imports every expectation and datasource it ships. One expectation, not in this suite, imports
    `_DEFERRED` at import time: while GX is imported, each is a stand-in that imports the real module on its first
    attribute read, so every later `import scipy.stats` (the A/B analysis, the evaluation's paired test) or
    `import altair` gets the real module. The SQL datasources import `_SQL_EXTRAS` when installed: this import
    leaves them out, and GX records them as not installed for this process (a process that has imported SQLAlchemy
    already, such as Dagster's, keeps it). The project's own `import sqlalchemy` (the feedback store) is unaffected,
    before or after."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if "great_expectations" in sys.modules:
        import great_expectations
        return great_expectations
    with on_first_use(_DEFERRED), unavailable(_SQL_EXTRAS), slot_by_slot_deepcopy(_pydantic_v1_field_classes()):
        import great_expectations
    return great_expectations


def _pydantic_v1_field_classes() -> tuple[type, ...]:
    """What pydantic v1 deep-copies for every field of every model subclass (`ModelMetaclass` copies the base classes'
    fields): GX's import defines hundreds of models on pydantic v1 and copied ~3,800 fields, a quarter of its CPU."""
    from pydantic.v1.class_validators import Validator
    from pydantic.v1.fields import FieldInfo, ModelField

    return ModelField, FieldInfo, Validator


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
