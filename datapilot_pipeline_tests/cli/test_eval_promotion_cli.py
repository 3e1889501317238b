"""Promotion scenarios through `datapilot eval` with three OpenAI-compatible endpoints (few-shot, candidate,
champion) on a 40-example holdout: the decision printed, written to the report, and acted on by `model_promotion`
(the same decision function), which moves the `champion` alias only on a promotion."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.atomic import atomic_write_jsonl
from datapilot_pipeline.lib.evaluation.promotion import decide_promotion
from datapilot_pipeline_tests import eval_server
from datapilot_pipeline_tests.eval_fixtures import holdout
from datapilot_pipeline_tests.eval_server import server, url  # noqa: F401 - server is a fixture

N = 40
MIX = ["valid", "hallucinated"] * (N // 2)  # per example 1 and 1/2: 75% over the holdout
ONE_BETTER = MIX[:1] + ["valid"] + MIX[2:]  # the mix, one example better
ALL_VALID = ["valid"] * N
POOR = ["hallucinated", "truncated"] * (N // 2)  # 1/2 and a schema failure (0): 25%
REFERENCES = {"better than few_shot", "better than champion"}

SCENARIOS = {
    # name: (few-shot, candidate, champion or None, promote, rules that fail)
    "identical replies": (MIX, MIX, MIX, False, REFERENCES),
    "equal but one example better": (POOR, ONE_BETTER, MIX, False, {"better than champion"}),
    "better than few-shot, worse than the champion": (POOR, MIX, ALL_VALID, False, {"better than champion"}),
    "clearly better, with a champion": (POOR, ALL_VALID, MIX, True, set()),
    "clearly better, no champion yet": (POOR, ALL_VALID, None, True, set()),
}


def _eval(server, home: Path, monkeypatch, few, candidate, champion) -> tuple[int, dict]:
    monkeypatch.setitem(eval_server.CANNED, "fs", few)
    monkeypatch.setitem(eval_server.CANNED, "ft", candidate)
    monkeypatch.setitem(eval_server.CANNED, "ch", champion or [])
    path = atomic_write_jsonl(home / "holdout.jsonl", holdout(N))
    argv = ["eval", "--holdout", str(path), "--fewshot-endpoint", url(server, "fs"), "--finetuned-endpoint",
            url(server, "ft"), "--shot-count", "0", "--bootstrap", "100"]
    if champion is not None:
        argv += ["--champion-endpoint", url(server, "ch"), "--champion-model-name", "champ"]
    before = set((home / "reports").glob("eval_*.json"))
    rc = main(argv)
    (report,) = set((home / "reports").glob("eval_*.json")) - before
    return rc, json.loads(report.read_text())


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_promotion_scenarios_through_the_cli(name, server, home, monkeypatch, capsys):
    few, candidate, champion, promote, fails = SCENARIOS[name]
    rc, saved = _eval(server, home, monkeypatch, few, candidate, champion)
    out = capsys.readouterr().out
    assert rc == 0
    decision = saved["promotion"]
    assert decision["promote"] is promote
    assert {r["name"] for r in decision["rules"] if not r["passed"]} == fails
    assert decision == decide_promotion(saved).as_dict()  # the report holds the shared function's decision
    assert f"promotion: {'PROMOTE' if promote else 'do not promote'}" in out
    assert "| holdout size | 40 examples | >= 30 | pass |" in out
    if champion is None:
        assert "champion" not in saved and "| better than champion | no champion yet: few-shot is the bar |" in out
        assert {s["arm"] for s in server.seen} == {"fs", "ft"}
    else:
        assert saved["champion"]["model"] == f"champ @ {url(server, 'ch')}" and saved["champion"]["n"] == N
        assert {s["model"] for s in server.seen if s["arm"] == "ch"} == {"champ"}
        assert len([s for s in server.seen if s["arm"] == "ch"]) == N
    if name == "identical replies":
        assert "(identical scores on all 40 examples)" in out
    if name == "equal but one example better":
        assert "the arms differ on 1 of 40 examples: too few to tell" in out


def test_model_promotion_acts_on_the_cli_report(server, home, monkeypatch, tmp_path):
    """The asset takes the CLI's decision (one function): the alias stays on a refusal and moves on a promotion."""
    from mlflow.tracking import MlflowClient

    from datapilot_pipeline.defs.evaluation import PromotionConfig, model_promotion
    from datapilot_pipeline.lib.evaluation.tracking import log_evaluation
    from datapilot_pipeline_tests.model_fixtures import register_version

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for k, name in enumerate(["equal but one example better", "clearly better, with a champion"]):
        few, candidate, champion, promote, _ = SCENARIOS[name]
        _, saved = _eval(server, home, monkeypatch, few, candidate, champion)
        adapter = tmp_path / f"adapter{k}"
        adapter.mkdir()
        (adapter / "adapter_model.safetensors").write_bytes(b"not really weights %d" % k)
        lineage = register_version(home, tmp_path / "base", adapter)
        scores = {"report": saved, "tracking_uri": uri, "mlflow_run_id": log_evaluation(saved, uri),
                  "model_uri": lineage["model_uri"], "version": lineage["version"],
                  "training_run_id": lineage["run_id"], "report_path": saved["report_path"]}
        out = model_promotion(dg.build_asset_context(), PromotionConfig(), evaluation_scores=scores)
        assert out.value["promote"] is promote and out.value["rules"] == saved["promotion"]["rules"], name
        assert out.value["alias"] == ("champion" if promote else None)
        aliases = client.get_registered_model("datapilot-insights").aliases
        assert aliases.get("champion") == (int(lineage["version"]) if promote else None), name
        version = client.get_model_version("datapilot-insights", lineage["version"])
        assert version.tags["promotion.decision"] == ("promote" if promote else "reject")
