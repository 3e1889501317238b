"""A hostile inbox (hundreds of bad files, one review delivered twice) through ingestion, export and the sensor:
exactly the good reviews are kept, each once; every other entry is counted with its reason where a user looks;
no traceback; nothing is written outside $DATAPILOT_HOME."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg

from datapilot_pipeline.defs.automation import AutomationSettings, new_feedback_sensor
from datapilot_pipeline.defs.export import finetune_dataset, reviewed_examples
from datapilot_pipeline.defs.ingestion import feedback_records
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.export import ExportOptions, export_dataset, load_seeds
from datapilot_pipeline.lib.export.eligibility import is_eligible
from datapilot_pipeline.lib.feedback.ingest import feedback_table, quarantine_table
from datapilot_pipeline.lib.paths import Workspace
from datapilot_pipeline_tests.reliability.conftest import run_cli, snapshot


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hostile_inbox_has_hundreds_of_bad_entries(hostile):
    kinds = {name.rsplit("_", 1)[0].split("Z_", 1)[-1] for name in hostile.bad_files}
    assert len(hostile.bad_files) >= 200 and len(kinds) >= 40
    assert len(hostile.duplicate_files) == 1 and len(hostile.ignored_files) == 2


def test_ingestion_keeps_each_good_review_once_and_quarantines_the_rest(home, tmp_path, hostile, good_feedback,
                                                                       capfd):
    outside = snapshot(tmp_path, skip=home)
    resources = {"workspace": WorkspaceResource(root=str(home))}
    with dg.instance_for_test(temp_dir=str(home / ".dagster_home")) as instance:
        first = dg.materialize([feedback_records], resources=resources, instance=instance)
        second = dg.materialize([feedback_records], resources=resources, instance=instance)
    assert first.success and second.success
    meta = first.asset_materializations_for_node("feedback_records")[0].metadata
    assert meta["ingested_new"].value == len(good_feedback)
    assert meta["duplicates"].value == len(hostile.duplicate_files)
    assert meta["quarantined_new"].value == len(hostile.bad_files)
    reasons = meta["quarantine_reasons"].value
    assert "not UTF-8 text" in reasons and "newer than this pipeline supports" in reasons

    feedback_dir = Workspace(home).feedback_dir
    table = feedback_table(feedback_dir)
    assert sorted(table["feedback_id"]) == sorted(hostile.good_ids)  # each good review once, nothing else
    quarantine = quarantine_table(feedback_dir)
    assert sorted(Path(p).name for p in quarantine["path"]) == sorted(hostile.bad_files)  # ignored ones absent
    assert quarantine["reason"].str.len().min() > 0

    again = second.asset_materializations_for_node("feedback_records")[0].metadata
    assert again["ingested_new"].value == 0 and again["quarantined_new"].value == 0
    assert again["total_feedback"].value == len(good_feedback)
    assert snapshot(tmp_path, skip=home) == outside
    captured = capfd.readouterr()
    assert "Traceback" not in captured.out + captured.err


def test_export_cli_asset_and_lib_agree_with_an_export_of_only_the_good_reviews(
        home, tmp_path, elsewhere, hostile, good_feedback):
    outside = snapshot(tmp_path, skip=home)
    target = home / "data" / "finetune_ready" / "hostile.jsonl"
    proc = run_cli(["export", "--output", str(target)], home, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and proc.stderr == ""
    n_bad = len(hostile.bad_files)
    assert (f"{len(good_feedback)} reviews kept, {n_bad} bad files skipped, "
            f"{len(hostile.duplicate_files)} duplicate deliveries skipped") in proc.stdout
    assert "not UTF-8 text" in proc.stdout  # counts by reason, not only the first names
    assert snapshot(tmp_path, skip=home) == outside

    # The reference: the same export over the good reviews alone, through the library.
    clean = home / "reference" / "finetune_clean.jsonl"
    feedbacks = [FeedbackFile.model_validate(fb) for fb in good_feedback]
    seeds = load_seeds(Workspace(home).seed_examples_path())
    from datapilot_pipeline.lib.export.workspace import export_settings
    from datapilot_pipeline.lib.generation.token_budget import DEFAULT_MAX_LENGTH

    # the same token budget and holdout record the CLI export used (the default target: the tiny model)
    reference = export_dataset(feedbacks, seeds, ExportOptions(), {"prompt-completion": clean},
                               clean.with_name("holdout_clean.jsonl"),
                               **export_settings(Workspace(home), None, DEFAULT_MAX_LENGTH))
    assert reference.n_exported > 0 and "review_superseded" not in reference.discarded
    assert _sha(target) == reference.sha256["prompt-completion"]

    result = dg.materialize([feedback_records, reviewed_examples, finetune_dataset],
                            resources={"workspace": WorkspaceResource(root=str(home))},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert result.output_for_node("finetune_dataset")["sha256"] == reference.sha256["prompt-completion"]


def test_sensor_counts_each_eligible_review_once_and_names_the_rejected(home, tmp_path, hostile, good_feedback):
    outside = snapshot(tmp_path, skip=hostile.path)  # the test itself drops a file into the inbox
    eligible = sum(is_eligible(FeedbackFile.model_validate(fb)) for fb in good_feedback)
    assert 0 < eligible < len(good_feedback)  # the rule matters: not every review is eligible
    resources = {"workspace": WorkspaceResource(root=str(home)),
                 "automation": AutomationSettings(settle_seconds=0.0, export_threshold=1000)}
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=None, resources=resources)
        result = new_feedback_sensor(context)
        skip = result.skip_reason.skip_message
        assert skip.startswith(f"{eligible} eligible new example(s) since the last export")
        rejected = len([n for n in hostile.bad_files if n.endswith(".json")]) - 2  # the folder and the link
        assert f"{rejected} rejected, 1 duplicate)" in skip
        # A second tick with the saved cursor reads nothing again.
        context = dg.build_sensor_context(instance=instance, cursor=result.cursor, resources=resources)
        again = new_feedback_sensor(context)
        assert again.skip_reason.skip_message.startswith(f"{eligible} eligible new example(s)")
        assert "(0 new file(s) this tick" in again.skip_reason.skip_message
        # The same review delivered again in a later tick: still counted once.
        eligible_fb = next(fb for fb in good_feedback if is_eligible(FeedbackFile.model_validate(fb)))
        (hostile.path / "feedback_resent.json").write_text(json.dumps(eligible_fb))
        context = dg.build_sensor_context(instance=instance, cursor=again.cursor, resources=resources)
        resent = new_feedback_sensor(context).skip_reason.skip_message
        assert resent.startswith(f"{eligible} eligible new example(s)") and "0 rejected, 1 duplicate)" in resent
    hostile.path.joinpath("feedback_resent.json").unlink()
    assert snapshot(tmp_path, skip=hostile.path) == outside  # a tick reads only: nothing written, not even under the root
