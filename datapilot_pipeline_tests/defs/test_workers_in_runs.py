"""`export_job` in a real Dagster run on its defaults (no run config, as the sensor sends none) starts worker processes
for the export's masking and the validation's chunks when the machine has a core to spare, and writes what one
process writes. The test machine is busy (`make test` keeps both cores working), so the sampled use of the cores
(`workers.busy_cores`) is set to an idle machine's, or a busy one's; the chunk sizes are cut so that 150 jobs make
many chunks. Everything else is the default path: the worker count is the rule's own choice."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline.lib import workers
from datapilot_pipeline.lib.export import pipeline
from datapilot_pipeline.lib.synthetic import write_feedback_files
from datapilot_pipeline.lib.validation import report as report_mod


def _export_job_run(root: Path, monkeypatch: pytest.MonkeyPatch, busy: float) -> tuple[dict, dict, str, list]:
    """(finetune_dataset's value, the validation report, the clean file's sha256, (function, processes) of each
    `ordered_map` call)."""
    from datapilot_pipeline.definitions import defs

    (root / ".dagster_home").mkdir(parents=True)
    monkeypatch.setenv("DATAPILOT_HOME", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / ".dagster_home"))
    monkeypatch.chdir(root)
    write_feedback_files(root / "feedback_inbox", n_jobs=150, seed=0)
    monkeypatch.setattr(workers, "busy_cores", lambda cores: busy)
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: {0, 1})
    asked: list[tuple[str, int]] = []
    real_map = workers.ordered_map

    def recording_map(fn, items, n, *args, **kwargs):
        asked.append((getattr(fn, "func", fn).__name__, n))
        return real_map(fn, items, n, *args, **kwargs)

    monkeypatch.setattr(workers, "ordered_map", recording_map)
    monkeypatch.setattr(pipeline, "ordered_map", recording_map)
    job = defs.resolve_job_def("export_job")
    with dg.instance_for_test(temp_dir=str(root / ".dagster_home")) as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        assert result.success, [e.message for e in result.all_events if e.is_step_failure]
    dataset = result.output_for_node("finetune_dataset")
    report_path = result.output_for_node("validation_report", "validation_report")["report_path"]
    report = json.loads(Path(report_path).read_text())
    return dataset, report, result.output_for_node("training_dataset")["sha256"], asked


def _comparable(report: dict) -> dict:
    """The report less what names the run or its home: its files (the tokenizer's by its sha256), its time."""
    out = {k: v for k, v in report.items() if k not in ("source", "created_at")}
    out["recipe"] = {k: v for k, v in report["recipe"].items() if k != "path"}
    out["recipe"]["recipe"] = {k: v for k, v in report["recipe"]["recipe"].items() if k != "tokenizer"}
    return out


def test_export_job_starts_workers_on_an_idle_machine_and_writes_what_one_process_writes(tmp_path: Path,
                                                                                          monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "MASK_CHUNK", 10)  # 150 jobs -> 15 chunks: more than the inline ones
    monkeypatch.setattr(pipeline, "LINES_CHUNK", 10)
    monkeypatch.setattr(pipeline, "INLINE_CHUNKS", 2)
    monkeypatch.setattr(report_mod, "PARALLEL_MIN_BYTES", 1)  # the small file counts as large
    monkeypatch.setattr(report_mod, "CHUNK_LINES", 16)
    monkeypatch.delenv(pipeline.WORKERS_ENV, raising=False)
    monkeypatch.delenv(report_mod.WORKERS_ENV, raising=False)

    idle_dataset, idle_report, idle_clean, idle_asked = _export_job_run(tmp_path / "idle", monkeypatch, busy=0.1)
    busy_dataset, busy_report, busy_clean, busy_asked = _export_job_run(tmp_path / "busy", monkeypatch, busy=1.9)

    # finetune_dataset's masking and measuring, then its lines (the token budget goes to the workers as its portable
    # form), validation_report's chunks and training_dataset's (the clean file is made from a second validation of
    # the same bytes): two worker processes each
    assert idle_asked == [("_mask_chunk", 2), ("_lines_chunk", 2), ("_worker_chunk", 2), ("_worker_chunk", 2)]
    assert busy_asked == []  # one process: ordered_map never called
    assert idle_report["source"]["sha256"] == idle_dataset["sha256"]
    assert idle_dataset["sha256_by_file"] == busy_dataset["sha256_by_file"]  # the same bytes in every file
    assert idle_dataset["n_examples"] == busy_dataset["n_examples"] > 100
    assert _comparable(idle_report) == _comparable(busy_report)
    assert idle_clean == busy_clean
    assert idle_report["great_expectations"]["evaluated"] == 9
