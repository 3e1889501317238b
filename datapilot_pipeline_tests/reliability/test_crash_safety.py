"""SIGKILL at the moment an output is published (export, validation) or in the middle of training: the previous
outputs stay whole, and a re-run converges to what an uninterrupted run writes. Re-materializing with unchanged
inputs gives byte-identical outputs."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.synthetic import write_feedback_files
from datapilot_pipeline_tests.reliability.conftest import REPO

KILLED = -signal.SIGKILL


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _killed_run(home: Path, kind: str, point: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATAPILOT_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "datapilot_pipeline_tests.reliability.killpoint", kind, point, "--",
                           *args], cwd=home, env=env, capture_output=True, text=True, timeout=300)


def _visible(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


def test_export_killed_before_publishing_keeps_the_previous_files_and_a_rerun_converges(home: Path):
    inbox = home / "feedback_inbox"
    out = home / "data" / "finetune_ready"
    target, recipe = out / "finetune_crash.jsonl", out / "finetune_crash_recipe.json"
    args = ["export", "--output", str(target), "--shot-count", "1"]
    write_feedback_files(inbox, 12, seed=5)
    assert main(args) == 0
    before = {p: _sha(p) for p in (target, recipe)}
    visible = _visible(out)

    write_feedback_files(inbox, 8, seed=6)  # new reviews: the next export differs
    killed = _killed_run(home, "replace", target.name, args)
    assert killed.returncode == KILLED, killed.stderr
    assert {p: _sha(p) for p in (target, recipe)} == before
    assert _visible(out) == visible  # no half-written file under a real name

    reference = home / "reference" / "finetune_ref.jsonl"
    assert main([*args[:2], str(reference), *args[3:]]) == 0  # what an uninterrupted export writes
    assert main(args) == 0
    assert _sha(target) == _sha(reference) != before[target]
    held, held_ref = out / "finetune_crash_holdout.jsonl", reference.with_name("finetune_ref_holdout.jsonl")
    assert held.exists() == held_ref.exists() and (not held.exists() or _sha(held) == _sha(held_ref))


def test_validation_killed_before_publishing_the_clean_file_keeps_the_previous_one(home: Path):
    write_feedback_files(home / "feedback_inbox", 12, seed=7)
    data = home / "data" / "finetune_ready"
    first, second = data / "finetune_a.jsonl", data / "finetune_b.jsonl"
    assert main(["export", "--output", str(first), "--shot-count", "0"]) == 0
    write_feedback_files(home / "feedback_inbox", 6, seed=8)
    assert main(["export", "--output", str(second), "--shot-count", "0"]) == 0
    clean, reports = home / "clean" / "training.jsonl", home / "reports"

    def validate(dataset: Path) -> list[str]:
        return ["validate", str(dataset), "--report-dir", str(reports), "--write-clean", str(clean), "--min-score", "0"]

    assert main(validate(first)) == 0
    before, old_reports = _sha(clean), {p.name: _sha(p) for p in reports.iterdir()}
    killed = _killed_run(home, "replace", clean.name, validate(second))
    assert killed.returncode == KILLED, killed.stderr
    assert _sha(clean) == before and _visible(clean.parent) == {clean.name}
    assert {name: _sha(reports / name) for name in old_reports} == old_reports

    reference = home / "clean" / "reference.jsonl"
    assert main([*validate(second)[:-3], str(reference), "--min-score", "0"]) == 0
    assert main(validate(second)) == 0
    assert _sha(clean) == _sha(reference) != before


def test_rematerializing_with_unchanged_inputs_gives_identical_outputs(home: Path):
    from datapilot_pipeline.defs.export import finetune_dataset, reviewed_examples
    from datapilot_pipeline.defs.ingestion import feedback_records
    from datapilot_pipeline.defs.resources import WorkspaceResource
    from datapilot_pipeline.defs.validation import training_dataset, validation_report

    write_feedback_files(home / "feedback_inbox", 16, seed=9)
    assets = [feedback_records, reviewed_examples, finetune_dataset, validation_report, training_dataset]
    run_config = {"ops": {"finetune_dataset": {"config": {"shot_count": 1}},
                          "validation_report": {"config": {"min_score": 0, "max_duplicate_rate": 1.0,
                                                           "max_schema_error_rate": 1.0}}}}

    def hashes() -> dict[str, str]:
        result = dg.materialize(assets, resources={"workspace": WorkspaceResource(root=str(home))},
                                run_config=run_config, instance=dg.DagsterInstance.ephemeral())
        assert result.success
        meta = {node: result.asset_materializations_for_node(node)[0].metadata
                for node in ("finetune_dataset", "training_dataset")}
        reviewed = Path(result.output_for_node("reviewed_examples")["path"])
        return {"finetune_dataset": meta["finetune_dataset"]["sha256"].value,
                "training_dataset": meta["training_dataset"]["sha256"].value, "reviewed_examples": _sha(reviewed)}

    first = hashes()
    assert hashes() == first
