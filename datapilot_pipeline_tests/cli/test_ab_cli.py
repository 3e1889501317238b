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
