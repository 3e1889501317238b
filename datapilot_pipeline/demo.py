"""The demo: synthetic reviewed jobs land in the inbox, then every asset of the project is materialized in one
Dagster run against a real instance under the working root (open `make ui` afterwards to browse the run)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from datapilot_pipeline.lib.ab.routing import RoutingConfig

_HEADLINE_TYPES = (int, float, str)
# Where Dagster pickled each value (datapilot_pipeline/defs/storage.py), not the stage's result.
_SKIPPED_KEYS = {"stored_value"}


def _prepare_environment(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DATAPILOT_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_HOME", str(home / ".dagster_home"))
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        from datapilot_pipeline.lib.atomic import atomic_write_text
        from datapilot_pipeline.lib.paths import packaged_data

        atomic_write_text(dagster_home / "dagster.yaml", packaged_data("dagster.yaml").read_text(encoding="utf-8"))
    for key, value in {"GX_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                       "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                       "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}.items():
        os.environ.setdefault(key, value)


def _headline(metadata: dict) -> str:
    parts = []
    for key, entry in metadata.items():
        value = getattr(entry, "value", entry)
        if key in _SKIPPED_KEYS:
            continue
        if isinstance(value, bool) or not isinstance(value, _HEADLINE_TYPES):
            continue
        if isinstance(value, str) and (len(value) > 60 or "\n" in value):
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(parts[:8])


def _demo_job(defs):
    """The code location's `demo_job` (so that the UI knows the demo's run) and how many assets it materializes."""
    job = defs.resolve_job_def("demo_job")
    return job, len(job.asset_layer.selected_asset_keys)


def _print_outcome(console: Console, result) -> None:
    """The figures a reader of the demo wants: the dataset's quality score, the evaluation table, the decision."""
    from rich.markdown import Markdown

    metadata = {e.step_materialization_data.materialization.asset_key.to_user_string():
                e.step_materialization_data.materialization.metadata
                for e in result.get_asset_materialization_events()}
    report = metadata.get("validation_report", {})
    if "quality_score" in report:
        grade = getattr(report.get("grade"), "value", "")
        console.print(f"[bold]dataset quality score[/] {report['quality_score'].value:.1f}/100 ({grade})")
    if "comparison" in metadata.get("evaluation_scores", {}):
        console.print("[bold]evaluation on the holdout[/] (few-shot base model vs fine-tuned, 95% bootstrap CIs)")
        table = metadata["evaluation_scores"]["comparison"].value.replace("\u2060", "")  # joiners: for the UI only
        console.print(Markdown(table))
    promotion = metadata.get("model_promotion", {})
    if "promoted" in promotion:
        verdict = "promoted to @champion" if promotion["promoted"].value else "not promoted"
        console.print(f"[bold]promotion[/] {promotion['model_uri'].value}: {verdict}")
        console.print(Markdown(promotion["rules"].value))
    if "evaluation_scores" in metadata:
        from datapilot_pipeline.lib.evaluation.promotion import DEFAULT_MIN_EXAMPLES
        from datapilot_pipeline.lib.evaluation.verdict import verdict_sentence

        scores = result.output_for_node("evaluation_scores")["report"]
        console.print(f"[bold]verdict[/] {verdict_sentence(scores)}")
        held_out = getattr(metadata.get("finetune_dataset", {}).get("n_holdout"), "value", None)
        evaluated = scores["fine_tuned"]["n"]
        if held_out and evaluated < held_out:
            console.print(f"[bold]holdout[/] the export held out {held_out} examples; the demo evaluates the first "
                          f"{evaluated} (evaluation_scores' max_examples) so that local generation on CPU stays short")
        if not (scores.get("promotion") or {}).get("promote"):
            console.print(f"[bold]next[/] more reviewed jobs grow the holdout (promotion needs {DEFAULT_MIN_EXAMPLES} "
                          "examples) and the training set: `datapilot demo --jobs N` for more synthetic ones, "
                          "`datapilot review` for real ones; `datapilot eval --holdout PATH` evaluates a whole holdout")


def run_demo(home: Path, n_jobs: int, seed: int, routing: RoutingConfig | None = None,
             base_model: str | None = None) -> int:
    _prepare_environment(home)
    console = Console()
    if not console.is_terminal:  # piped or logged: no 80-column wrap that splits run ids and paths
        console = Console(width=200)
    import dagster as dg

    from datapilot_pipeline.lib.paths import Workspace
    from datapilot_pipeline.lib.synthetic import write_feedback_files

    workspace = Workspace(home)
    started = time.perf_counter()
    written = write_feedback_files(workspace.inbox, n_jobs=n_jobs, seed=seed, routing=routing)
    console.print(f"[bold]1. feedback[/] {len(written)} synthetic feedback files for {n_jobs} jobs -> {workspace.inbox}")

    from datapilot_pipeline.definitions import defs
    from datapilot_pipeline.defs.demo import demo_run_config

    job, n_assets = _demo_job(defs)
    console.print(f"[bold]2. pipeline[/] materializing {n_assets} assets in one run "
                  f"(DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    result = job.execute_in_process(instance=dg.DagsterInstance.get(), run_config=demo_run_config(base_model),
                                    raise_on_error=False)

    table = Table(title="datapilot demo", show_lines=False)
    table.add_column("stage")
    table.add_column("result", overflow="fold")
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        table.add_row(mat.asset_key.to_user_string(), _headline(mat.metadata))
    for event in result.get_asset_check_evaluations():
        status = "[green]passed[/]" if event.passed else f"[red]failed ({event.severity.value})[/]"
        table.add_row(f"check {event.check_name}", f"{status} {_headline(event.metadata)}")
    console.print(table)
    _print_outcome(console, result)
    for event in result.all_events:
        if event.is_step_failure:
            console.print(f"[red]failed:[/] {event.step_key}: {event.step_failure_data.error.message.strip()}")
    console.print(f"run {result.run_id} {'succeeded' if result.success else 'FAILED'} "
                  f"in {time.perf_counter() - started:.1f}s; browse it with `make ui`")
    return 0 if result.success else 1
