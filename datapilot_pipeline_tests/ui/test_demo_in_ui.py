"""The Dagster UI after `datapilot demo`, as a new user opens it: the dataset's Checks tab lists its gates, the
demo's job is known to the code location, the launchpad config of `reviewed_examples` changes what it writes, the
metadata reads well (rounded numbers, the dataset's own path, links to MLflow), and no run starts by itself.

Runs the real demo (about 80 s on 2 idle cores) and `dagster dev`, then headless Debian chromium (see
test_browser.py). Screenshots go to $DATAPILOT_UI_SHOTS (default: a temporary folder, printed). To iterate on this
file, point $DATAPILOT_UI_DEMO_HOME at a root where `datapilot demo` already ran: the demo is then not run again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline_tests.defs.test_display import assert_readable
from datapilot_pipeline_tests.ui.test_browser import STARTUP_TIMEOUT_S, _chromium, _dismiss_welcome, _serve

pytestmark = pytest.mark.long_running(seconds=360)  # about, in `make test` (scheduling.py)

DATASET_CHECKS = ("has_no_pii", "few_schema_errors", "few_duplicates", "fits_token_budget", "quality_score_ok")
DEMO_TIMEOUT_S = 2400  # the whole demo on 2 CPU cores, generation included; CI machines vary
RUN_TIMEOUT_S = 180
SENSOR_WATCH_S = 120  # most to wait for the sensor's first tick (every 30 s once the daemon is up)

SENSOR_TICKS = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 5) { status timestamp } } }
  }
}"""

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
RUNS = """
query { runsOrError { ... on Runs { results { runId jobName status tags { key value } } } } }"""


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    reuse = os.environ.get("DATAPILOT_UI_DEMO_HOME")
    if reuse:
        return Path(reuse)
    if _chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium, or scripts/install_browser.sh as root)")
    home = tmp_path_factory.mktemp("demo_home")
    env = {**os.environ, "DATAPILOT_HOME": str(home), "DAGSTER_HOME": str(home / ".dagster_home")}
    out = subprocess.run([sys.executable, "-m", "datapilot_pipeline", "demo"], cwd=home, env=env,
                         capture_output=True, text=True, timeout=DEMO_TIMEOUT_S)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return home


@pytest.fixture(scope="module")
def instance(demo_home: Path):
    with dg.DagsterInstance.from_config(str(demo_home / ".dagster_home")) as inst:
        yield inst


@pytest.fixture(scope="module")
def ui(demo_home: Path, tmp_path_factory):
    with _serve(demo_home, tmp_path_factory.mktemp("ui_log") / "dagster_dev.log") as url:
        yield {"url": url, "started": time.monotonic()}


@pytest.fixture(scope="module")
def page(ui):
    if _chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must run scripts/install_browser.sh first")
        pytest.skip("chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        tab = browser.new_page(viewport={"width": 1440, "height": 900})
        tab.set_default_timeout(30_000)
        tab.goto(f"{ui['url']}/asset-groups")
        _dismiss_welcome(tab)
        yield tab
        browser.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("DATAPILOT_UI_SHOTS") or tempfile.mkdtemp(prefix="datapilot_demo_ui_"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        data = json.loads(response.read())
    assert "errors" not in data, data["errors"]
    return data["data"]


def _runs(url: str) -> list[dict]:
    return _graphql(url, RUNS)["runsOrError"]["results"]


def _demo_run(instance) -> dg.DagsterRun:
    runs = [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(job_name="demo_job"))]
    assert runs, "the demo left no demo_job run"
    return runs[-1]  # the first one


def _shot(page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / name), full_page=True)


def _demo_metadata(instance) -> dict:
    """Asset name -> the metadata of its materialization in the demo's run."""
    run = _demo_run(instance)
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return {r.event_log_entry.dagster_event.asset_key.to_user_string():
            r.event_log_entry.dagster_event.event_specific_data.materialization.metadata for r in records}


def test_demo_metadata_reads_well(instance) -> None:
    run = _demo_run(instance)
    metadata = _demo_metadata(instance)
    assert {"finetune_dataset", "fine_tuned_model", "evaluation_scores"} <= set(metadata)
    for meta in metadata.values():
        assert_readable(meta)  # no 17-digit floats anywhere
    dataset = metadata["finetune_dataset"]
    assert Path(dataset["path"].value).name.endswith(".jsonl") and Path(dataset["path"].value).is_file()
    assert "storage" in dataset["stored_value"].value  # where Dagster pickled the value, under its own key
    for asset in ("fine_tuned_model", "evaluation_scores"):
        assert isinstance(metadata[asset]["mlflow_run"], dg.UrlMetadataValue), asset
        assert metadata[asset]["mlflow_run"].value.startswith("http://127.0.0.1:5000/#/runs/")
    checks = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in checks]
    on_dataset = {e.check_name for e in evaluations if e.asset_key == dg.AssetKey("finetune_dataset")}
    assert on_dataset == set(DATASET_CHECKS)
    for evaluation in evaluations:
        assert_readable(evaluation.metadata)


def test_dataset_checks_tab_lists_its_gates(ui, page, shots: Path) -> None:
    from playwright.sync_api import expect

    page.goto(f"{ui['url']}/assets/finetune_dataset?view=checks")
    for name in DATASET_CHECKS:
        expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=STARTUP_TIMEOUT_S * 1000)
    _shot(page, shots, "finetune_dataset_checks.png")
    page.goto(f"{ui['url']}/assets/finetune_dataset")
    expect(page.get_by_text("stored_value", exact=True).first).to_be_visible()
    _shot(page, shots, "finetune_dataset_overview.png")


def test_demo_job_is_known_to_the_ui(ui, page, instance, shots: Path) -> None:
    from playwright.sync_api import expect

    run = _demo_run(instance)
    page.goto(f"{ui['url']}/runs/{run.run_id}")
    expect(page.get_by_text("demo_job", exact=True).first).to_be_visible()
    _shot(page, shots, "demo_run.png")
    page.goto(f"{ui['url']}/locations/datapilot_pipeline/jobs/demo_job")
    expect(page.get_by_text("demo_job").first).to_be_visible()
    expect(page.get_by_text("not found", exact=False)).to_have_count(0)
    _shot(page, shots, "demo_job.png")


def test_launchpad_min_score_changes_reviewed_examples(ui, page, instance, shots: Path) -> None:
    from playwright.sync_api import expect

    key = dg.AssetKey("reviewed_examples")
    before = _demo_metadata(instance)["reviewed_examples"]["n_examples"].value  # the demo's min_score 3
    page.goto(f"{ui['url']}/assets/reviewed_examples")
    page.locator("button", has_text="Materialize").first.click(modifiers=["Shift"])  # shift-click: the launchpad
    expect(page.get_by_text("min_score").first).to_be_visible()
    _shot(page, shots, "reviewed_examples_launchpad.png")
    assert page.get_by_text("shot_count").count() == 0  # the dataset's options are not offered here
    page.keyboard.press("Escape")

    params = {"selector": {"repositoryLocationName": "datapilot_pipeline", "repositoryName": "__repository__",
                           "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": ["reviewed_examples"]}]},
              "runConfigData": {"ops": {"reviewed_examples": {"config": {"min_score": 5}}}}}
    launched = _graphql(ui["url"], LAUNCH, {"params": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while (status := instance.get_run_by_id(run_id).status) not in (dg.DagsterRunStatus.SUCCESS,
                                                                     dg.DagsterRunStatus.FAILURE):
        assert time.monotonic() < deadline, f"run {run_id} still {status}"
        time.sleep(2)
    assert status == dg.DagsterRunStatus.SUCCESS
    after = instance.get_latest_materialization_event(key)
    assert after.run_id == run_id
    assert after.asset_materialization.metadata["n_examples"].value < before  # a stricter score keeps fewer
    page.goto(f"{ui['url']}/runs/{run_id}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    _shot(page, shots, "reviewed_examples_min_score_run.png")


def _sensor_ticks(url: str) -> list[dict]:
    selector = {"repositoryLocationName": "datapilot_pipeline", "repositoryName": "__repository__",
                "sensorName": "new_feedback_sensor"}
    found = _graphql(url, SENSOR_TICKS, {"selector": selector})["sensorOrError"]
    return found["sensorState"]["ticks"]


def test_no_run_starts_by_itself(ui, instance) -> None:
    # The daemon evaluates the sensor (on by default) within its first 30 s interval: wait for a finished tick,
    # then for anything it (or a schedule) might have launched to show up.
    deadline = time.monotonic() + SENSOR_WATCH_S
    while time.monotonic() < deadline and not any(t["status"] in ("SKIPPED", "SUCCESS", "FAILURE")
                                                 for t in _sensor_ticks(ui["url"])):
        time.sleep(2)
    ticks = _sensor_ticks(ui["url"])
    assert any(t["status"] == "SKIPPED" for t in ticks), ticks  # evaluated, and it asked for nothing
    time.sleep(3)
    started = [r for r in _runs(ui["url"]) if any(t["key"] == "dagster/sensor_name" or
                                                   t["key"] == "dagster/schedule_name" for t in r["tags"])]
    assert started == []
