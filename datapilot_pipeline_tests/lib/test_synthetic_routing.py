"""The demo's synthetic traffic is routed by the project's own A/B routing: the variant a synthetic job result (and
its reviews) says served it is what `datapilot route JOB_ID` answers in the same workspace."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.ab.assignment import assign_variant
from datapilot_pipeline.lib.ab.routing import RoutingConfig, load_routing
from datapilot_pipeline.lib.synthetic import generate_jobs, write_feedback_files


def _route(job_id: str, capsys) -> dict:
    assert main(["route", job_id]) == 0
    return json.loads(capsys.readouterr().out)


def test_synthetic_jobs_carry_the_variant_datapilot_route_gives(home: Path, capsys) -> None:
    jobs = list(generate_jobs(120, seed=4))  # the README's way to get job results to review
    served = Counter(job["variant"] for job in jobs)
    assert min(served["few_shot"], served["fine_tuned"]) > 0.3 * len(jobs)  # 50/50 by default
    for job in jobs:
        assert _route(job["job_id"], capsys)["variant"] == job["variant"], job["job_id"]


def test_the_workspace_routing_config_routes_the_demo_traffic(home: Path, capsys) -> None:
    (home / "ab_routing.json").write_text(json.dumps({"split": 0.2, "salt": "exp-7"}), encoding="utf-8")
    routing = load_routing(home)  # what `datapilot demo` passes to the generator
    paths = write_feedback_files(home / "feedback_inbox", 80, seed=2, routing=routing)
    served = {}
    for path in paths:
        review = json.loads(path.read_text(encoding="utf-8"))
        assert served.setdefault(review["job_id"], review["variant"]) == review["variant"]  # every review agrees
    assert Counter(served.values())["fine_tuned"] < 0.4 * len(served)  # the config's 20%, not the default 50%
    for job_id, variant in served.items():
        assert variant == assign_variant(job_id, 0.2, "exp-7") == _route(job_id, capsys)["variant"]
    assert any(assign_variant(job_id) != variant for job_id, variant in served.items())  # the default would differ


def test_plan_jobs_takes_its_split_from_the_config() -> None:
    everyone = {job["variant"] for job in generate_jobs(30, seed=1, routing=RoutingConfig(split=1.0))}
    no_one = {job["variant"] for job in generate_jobs(30, seed=1, routing=RoutingConfig(split=0.0))}
    assert (everyone, no_one) == ({"fine_tuned"}, {"few_shot"})


def test_demo_refuses_a_bad_routing_file_before_generating_anything(home: Path, capsys) -> None:
    (home / "ab_routing.json").write_text('{"split": 2}', encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(["demo", "--jobs", "3"]))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "ab_routing.json" in err and len(err.strip().splitlines()) == 1
    assert not (home / "feedback_inbox").exists()
