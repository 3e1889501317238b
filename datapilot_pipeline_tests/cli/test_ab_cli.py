"""`datapilot ab-test` and `datapilot route`: reports, printed tables, routing config, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.ab.assignment import assign_variant
from datapilot_pipeline.lib.ab.routing import load_routing, route
from datapilot_pipeline_tests.ab_fixtures import arm, review, write


def test_ab_test_writes_the_report_and_prints_the_table(home: Path, capsys):
    control = arm("few_shot", 60, ["aarr", "arrr", "aaar"], [3, 4])
    treated = arm("fine_tuned", 60, ["aaaa", "aaar", "aaaa"], [4, 4])
    write(home / "in", control + treated + [review("nolabel", None, "aaaa")])
    (home / "in" / "broken.json").write_text("{not json")
    code = main(["ab-test", "--inbox", str(home / "in"), "--report-dir", str(home / "r"), "--mde", "0.3"])
    captured = capsys.readouterr()
    assert code == 0 and "1 unusable feedback file(s)" in captured.err
    (path,) = (home / "r").glob("ab_test_*.json")
    report = json.loads(path.read_text())
    assert report["verdict"] == "promote" and report["unit"] == "job" and report["p_value"] < 0.05
    assert report["variants"]["few_shot"]["jobs"] == report["variants"]["fine_tuned"]["jobs"] == 60
    assert report["variants"]["fine_tuned"]["approval_rate"] == pytest.approx(11 / 12)
    assert report["excluded"] == {"reviews_without_variant": 1} and report["design"]["mde"] == 0.3
    assert "fine_tuned       60     91.7%" in captured.out and "verdict: promote" in captured.out


def test_ab_test_on_defaults_with_an_empty_workspace(home: Path, capsys):
    assert main(["ab-test"]) == 0
    report = json.loads(next((home / "reports").glob("ab_test_*.json")).read_text())
    assert report["verdict"] == "keep collecting" and report["p_value"] is None
    assert report["jobs_needed_per_variant"] == 664  # the planning assumptions: 1507 insights x DE 2.2 / 5
    assert "keep collecting" in capsys.readouterr().out


def _last_report(home: Path) -> dict:
    return json.loads(max((home / "reports").glob("ab_test_*.json")).read_text())


def test_ab_test_on_defaults_sees_the_jobs_ingested_into_the_store(home: Path, capsys):
    from datapilot_pipeline.lib.feedback.ingest import ingest_inbox

    write(home / "feedback_inbox", arm("few_shot", 40, ["aarr"], [3]) + arm("fine_tuned", 40, ["aaar"], [4]))
    ingest_inbox(home / "feedback_inbox", home / "data" / "feedback", settle_s=0)
    assert not list((home / "feedback_inbox").glob("feedback_*.json"))  # the inbox was emptied into the store
    write(home / "feedback_inbox", arm("fine_tuned", 45, ["aaar"], [4])[40:])  # arrived since: still in the inbox
    assert main(["ab-test"]) == 0
    report = _last_report(home)
    assert report["variants"]["few_shot"]["jobs"] == 40 and report["variants"]["fine_tuned"]["jobs"] == 45
    assert report["experiment"]["models"] == {"few_shot": "m", "fine_tuned": "m"}
    assert "fine_tuned       45" in capsys.readouterr().out


def test_one_answer_per_experiment_and_changed_parameters_refused(home: Path, capsys):
    control = arm("few_shot", 60, ["aarr", "arrr", "aaar"], [3, 4])
    treated = arm("fine_tuned", 60, ["aaaa", "aaar", "arrr"], [4, 4])
    write(home / "feedback_inbox", control + treated)
    assert main(["ab-test", "--mde", "0.3"]) == 0  # the first read fixes the plan and, at N, the decision
    first = _last_report(home)
    assert first["verdict"] != "keep collecting" and first["analysed_jobs_per_variant"] == first["jobs_needed_per_variant"]
    assert (home / "data" / "ab" / f"{first['experiment']['id']}.plan.json").is_file()
    write(home / "feedback_inbox", arm("fine_tuned", 50, ["rrrr"], [1], day0=30, prefix="late_")
          + arm("few_shot", 50, ["aaaa"], [5], day0=30, prefix="late_"))
    capsys.readouterr()
    assert main(["ab-test"]) == 0 and main(["ab-test", "--mde", "0.3", "--alpha", "0.05"]) == 0
    again = _last_report(home)
    keys = ("verdict", "p_value", "jobs_needed_per_variant", "approval_test", "analysed_jobs", "design")
    assert {k: again[k] for k in keys} == {k: first[k] for k in keys}
    assert again["variants"]["fine_tuned"]["jobs"] == 110
    n_reports = len(list((home / "reports").glob("ab_test_*.json")))
    assert main(["ab-test", "--mde", "0.2"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--mde 0.2" in err and "fixed once per experiment" in err
    assert len(list((home / "reports").glob("ab_test_*.json"))) == n_reports  # nothing written


def test_plan_ahead_of_a_new_release(home: Path, capsys):
    assert main(["ab-test", "--plan"]) == 2  # nothing to plan yet
    assert "no experiment to plan yet" in capsys.readouterr().err
    write(home / "feedback_inbox", arm("few_shot", 30, ["aarr"], [3], model="fs") + arm("fine_tuned", 30, ["aarr"], [3], model="ft-1"))
    assert main(["ab-test", "--plan", "--fine-tuned-model", "ft-2", "--mde", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "fine_tuned ft-2 vs few_shot fs" in out and "datapilot ab-test --plan" in out and "30 jobs per variant" in out
    assert main(["ab-test", "--plan", "--fine-tuned-model", "ft-2", "--mde", "0.3"]) == 0  # the same plan: fine
    assert main(["ab-test", "--plan", "--fine-tuned-model", "ft-2", "--mde", "0.25"]) == 2
    capsys.readouterr()
    write(home / "feedback_inbox", arm("few_shot", 30, ["aarr", "arrr"], [3], day0=20, prefix="b_", model="fs")
          + arm("fine_tuned", 30, ["aaaa", "aaar"], [4], day0=20, prefix="b_", model="ft-2"))
    assert main(["ab-test"]) == 0  # the current experiment is ft-2's, read with the plan fixed ahead
    report = _last_report(home)
    assert report["experiment"]["models"]["fine_tuned"] == "ft-2" and report["design"]["mde"] == 0.3
    assert report["experiment"]["planned_by"] == "datapilot ab-test --plan" and report["verdict"] == "promote"
    assert [e["models"]["fine_tuned"] for e in report["experiments"]] == ["ft-1", "ft-2"]
    assert report["experiments"][0]["jobs"] == {"few_shot": 30, "fine_tuned": 30}  # never pooled with ft-2
    assert main(["ab-test", "--fine-tuned-model", "ft-1"]) == 0
    assert _last_report(home)["experiment"]["models"]["fine_tuned"] == "ft-1"
    assert main(["ab-test", "--few-shot-model", "fs"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["ab-test", "--mde", "0"], "--mde: must be between 0 and 1"),
    (["ab-test", "--power", "x"], "expected a number"),
    (["ab-test", "--inbox", "/no/such/dir"], "is not a directory"),
    (["route", "../etc"], "job id must match"),
])
def test_bad_usage_exits_2_with_one_line(home: Path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_route_is_sticky_and_follows_the_config_file(home: Path, capsys):
    assert main(["route", "job_42"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert default["variant"] == assign_variant("job_42") and default["job_id"] == "job_42"
    assert default["endpoint"] == ("http://127.0.0.1:8000/v1/chat/completions" if default["variant"] == "fine_tuned"
                                   else "https://api.openai.com/v1/chat/completions")
    (home / "ab_routing.json").write_text(json.dumps({
        "split": 0.2, "salt": "exp-2", "endpoints": {"fine_tuned": "http://champion:9000/v1/chat/completions"}}))
    config = load_routing(home)
    routes = [route(f"job_{k}", config) for k in range(10_000)]
    tuned = [r for r in routes if r.variant == "fine_tuned"]
    assert abs(len(tuned) / 10_000 - 0.2) < 0.02  # binomial sd 0.004 and {r.endpoint for r in tuned} == {"http://champion:9000/v1/chat/completions"}
    assert all(r.variant == assign_variant(r.job_id, 0.2, "exp-2") for r in routes)
    assert main(["route", "job_7"]) == 0 and json.loads(capsys.readouterr().out) == route("job_7").to_dict()


@pytest.mark.parametrize("config, message", [
    ("{", "malformed JSON"),
    ('{"split": 1.5}', "split"),
    ('{"splitt": 0.5}', "splitt"),
    ('{"endpoints": {"fine_tuned": "ftp://x"}}', "http(s) URL"),
])
def test_route_refuses_a_bad_config(home: Path, capsys, config, message):
    (home / "ab_routing.json").write_text(config)
    assert main(["route", "job_1"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
