"""The demo: synthetic reviewed jobs land in the inbox, then every asset of the project is materialized in one
Dagster run against a real instance under the working root (open `make ui` afterwards to browse the run)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

# Small enough to finish on 2 CPU cores in a few minutes; every other setting is the production default.
DEMO_RUN_CONFIG: dict = {}

_HEADLINE_TYPES = (int, float, str)


def _prepare_environment(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DATAPILOT_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_HOME", str(home / ".dagster_home"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    for key, value in {"GX_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                       "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                       "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}.items():
        os.environ.setdefault(key, value)


def _headline(metadata: dict) -> str:
    parts = []
    for key, entry in metadata.items():
        value = getattr(entry, "value", entry)
        if isinstance(value, bool) or not isinstance(value, _HEADLINE_TYPES):
            continue
        if isinstance(value, str) and (len(value) > 60 or "\n" in value):
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(parts[:8])


def run_demo(home: Path, n_jobs: int, seed: int) -> int:
    _prepare_environment(home)
    console = Console()
    import dagster as dg

    from datapilot_pipeline.lib.paths import Workspace
    from datapilot_pipeline.lib.synthetic import write_feedback_files

    workspace = Workspace(home)
    started = time.perf_counter()
    written = write_feedback_files(workspace.inbox, n_jobs=n_jobs, seed=seed)
    console.print(f"[bold]1. feedback[/] {len(written)} synthetic feedback files for {n_jobs} jobs -> {workspace.inbox}")

    from datapilot_pipeline.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    console.print(f"[bold]2. pipeline[/] materializing {len(defs.resolve_asset_graph().get_all_asset_keys())} assets "
                  f"(DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    result = job.execute_in_process(instance=dg.DagsterInstance.get(), run_config=DEMO_RUN_CONFIG,
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
    for event in result.all_events:
        if event.is_step_failure:
            console.print(f"[red]failed:[/] {event.step_key}: {event.step_failure_data.error.message.strip()}")
    console.print(f"run {result.run_id} {'succeeded' if result.success else 'FAILED'} "
                  f"in {time.perf_counter() - started:.1f}s; browse it with `make ui`")
    return 0 if result.success else 1
