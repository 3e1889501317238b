"""One answer per experiment: the plan fixed at the first read, the decision taken once on the first N jobs of
each variant and returned by every later read, parameters that contradict the plan refused, and one experiment
per pair of model versions (a new fine-tuned release starts a new one; releases are never pooled in one arm)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from datapilot_pipeline.lib.ab.experiments import ExperimentKey, ExperimentStore, Selector, split_experiments
from datapilot_pipeline.lib.ab.jobs import job_table
from datapilot_pipeline.lib.ab.report import PlanConflict, ab_report
from datapilot_pipeline_tests.ab_fixtures import arm, noisy_arm, parsed, review

GOOD, MIXED = ["aaaa", "aaar", "aaaa"], ["aarr", "arrr", "aaar"]


def _read(store: ExperimentStore, reviews: list[dict], **kwargs) -> dict:
    return ab_report(job_table(parsed(*reviews)), store=store, **kwargs)


def test_the_answer_taken_at_the_horizon_never_moves(tmp_path: Path):
    rng = random.Random(7)
    control = noisy_arm("few_shot", 200, 0.55, rng)
    treated = noisy_arm("fine_tuned", 200, 0.62, rng)
    store = ExperimentStore(tmp_path / "ab")
    first = _read(store, control[:20] + treated[:20], mde=0.15)  # 40 jobs: the planning assumptions
    assert first["verdict"] == "keep collecting" and first["p_value"] is None
    n = first["jobs_needed_per_variant"]
    assert n == 74 and first["jobs_still_needed"] == {"few_shot": n - 20, "fine_tuned": n - 20}
    # re-planned from more data (what every read used to do), the horizon would move; the stored plan does not
    assert ab_report(job_table(parsed(*control, *treated)), mde=0.15)["jobs_needed_per_variant"] != n
    short = _read(store, control[:90] + treated[:n - 1])
    assert short["verdict"] == "keep collecting" and short["jobs_still_needed"] == {"few_shot": 0, "fine_tuned": 1}
    at = _read(store, control[:90] + treated[:n])  # both variants reach N: decided once, on the first N of each
    assert at["verdict"] in ("promote", "keep") and 0.001 < at["p_value"] < 0.999
    assert at["analysed_jobs_per_variant"] == n == at["jobs_needed_per_variant"]
    assert at["analysed_jobs"]["few_shot"] == [r["job_id"] for r in control[:n]]
    # more jobs after N, of the opposite sign, and a late-ingested review dated into the first N, change nothing
    late = [review("late_0001", "fine_tuned", "rrrr", overall=1, created_at="2026-11-01T10:00:00Z"),
            *arm("fine_tuned", 60, ["rrrr"], [1], day0=40, prefix="late_")]
    for reviews in (control + treated, control + treated + late, control[:150] + treated + late):
        again = _read(store, reviews, mde=0.15)  # the plan's own parameters are accepted
        keys = ("verdict", "p_value", "approval_test", "guardrails", "analysed_jobs", "jobs_needed_per_variant",
                "design", "reasons")
        assert {k: again[k] for k in keys} == {k: at[k] for k in keys}
        assert again["experiment"]["decided_at"] == at["experiment"]["decided_at"]
    assert again["variants"]["fine_tuned"]["jobs"] == 200 + 61  # the counts keep growing, for monitoring
    with pytest.raises(PlanConflict) as exc:
        _read(store, control + treated, mde=0.1)
    message = str(exc.value)
    assert "--mde 0.1" in message and "fixed once per experiment" in message and "\n" not in message
    with pytest.raises(PlanConflict, match="--alpha 0.01"):
        _read(store, control + treated, alpha=0.01)


def test_a_new_release_starts_a_new_experiment(tmp_path: Path):
    before = arm("few_shot", 12, MIXED, [3], prefix="pre_", model="fs")  # days 1-4: nothing to compare with yet
    first = arm("few_shot", 60, MIXED, [3, 4], day0=5, model="fs") + arm("fine_tuned", 60, GOOD, [4], day0=5, model="ft-1")
    second = (arm("few_shot", 45, MIXED, [3, 4], day0=25, prefix="b_", model="fs")
              + arm("fine_tuned", 45, ["rrrr", "arrr"], [3], day0=25, prefix="b_", model="ft-2"))
    straggler = [review("ft1_late", "fine_tuned", "aaaa", created_at="2026-12-20T10:00:00Z", model="ft-1")]
    store = ExperimentStore(tmp_path / "ab")
    report = _read(store, before + first + second + straggler, mde=0.3)
    ft1, ft2 = ExperimentKey("fs", "ft-1"), ExperimentKey("fs", "ft-2")
    assert [e["models"] for e in report["experiments"]] == [ft1.to_dict(), ft2.to_dict()]
    assert report["experiment"]["id"] == ft2.id  # the current experiment: the latest release
    assert report["variants"]["fine_tuned"]["jobs"] == 45 and report["variants"]["few_shot"]["jobs"] == 45
    assert report["verdict"] == "keep" and "lower" in report["reasons"][0]
    old = report["experiments"][0]
    assert old["verdict"] == "promote" and old["jobs"] == {"few_shot": 60, "fine_tuned": 61}
    assert report["excluded"] == {"jobs_outside_any_experiment": 12}
    # each release's jobs stay in their own arm: read the first experiment by its release
    by_release = _read(store, before + first + second + straggler, experiment=Selector("ft-1"))
    assert by_release["experiment"]["id"] == ft1.id and by_release["p_value"] == old["p_value"]
    assert all(j.startswith("fine_tuned_") for j in by_release["analysed_jobs"]["fine_tuned"])
    assert by_release["variants"]["few_shot"]["jobs"] == 60  # control jobs of the ft-2 period go to ft-2
    # the mde applies to the selected experiment only; the other keeps its plan
    with pytest.raises(PlanConflict):
        _read(store, before + first + second, mde=0.2)
    with pytest.raises(LookupError):
        _read(store, first, experiment="no-such-id")


def test_jobs_are_split_by_the_release_live_when_they_were_reviewed():
    reviews = (arm("few_shot", 6, MIXED, [3], model="fs") + arm("fine_tuned", 3, GOOD, [4], day0=2, model="ft-1")
               + arm("fine_tuned", 3, GOOD, [4], day0=3, prefix="b_", model="ft-2")
               + [review("mixed", "fine_tuned", "aaaa", model="ft-1"), review("mixed", "fine_tuned", "aaaa",
                                                                               reviewer="bob", model="ft-2")])
    table = job_table(parsed(*reviews))
    assert table.excluded["jobs_with_conflicting_models"] == 1
    experiments, outside = split_experiments(table.jobs)
    assert [j.job_id for j in outside] == ["few_shot_0000", "few_shot_0001", "few_shot_0002"]  # day 1
    assert [(e.key.fine_tuned, [j.job_id for j in e.jobs]) for e in experiments] == [
        ("ft-1", ["few_shot_0003", "few_shot_0004", "few_shot_0005", "fine_tuned_0000", "fine_tuned_0001",
                  "fine_tuned_0002"]),  # day 2, in review order (time, then job id)
        ("ft-2", ["b_fine_tuned_0000", "b_fine_tuned_0001", "b_fine_tuned_0002"])]


def test_plans_and_decisions_are_written_once(tmp_path: Path):
    store, other = ExperimentStore(tmp_path / "ab"), ExperimentStore(tmp_path / "ab")
    key = ExperimentKey("fs", "ft/1 beta")
    assert store.plan(key) is None and "/" not in key.id and key.id != ExperimentKey("fs2", "ft/1 beta").id
    kept = store.save_plan(key, {"planned_at": "first", "design": {"mde": 0.1}})
    assert other.save_plan(key, {"planned_at": "second", "design": {"mde": 0.2}}) == kept  # the first writer wins
    assert json.loads((tmp_path / "ab" / f"{key.id}.plan.json").read_text())["planned_at"] == "first"
    assert [p.name for p in (tmp_path / "ab").iterdir()] == [f"{key.id}.plan.json"]  # no temp file left
    (tmp_path / "ab" / f"{key.id}.plan.json").write_text("{broken")
    with pytest.raises(ValueError, match="unreadable experiment plan"):
        store.plan(key)
