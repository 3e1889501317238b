"""The Dagster UI as a user sees it: `dagster dev` on loopback, headless Chromium opens the asset graph,
materializes `feedback_records` from the UI and sees the run succeed.

Chromium is Debian's `chromium` package (`scripts/install_browser.sh`); Playwright drives it through
`executable_path`, so no browser is ever downloaded. Without chromium the test skips, except in CI where it fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from datapilot_pipeline.lib.synthetic import write_feedback_files

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
STARTUP_TIMEOUT_S = 60
RUN_TIMEOUT_MS = 45_000
INSTANCE_YAML = """\
# sqlite storage (the default under DAGSTER_HOME) handles one writer well: queue runs and start them one at a time.
run_queue:
  max_concurrent_runs: 1
telemetry:
  enabled: false
"""


def _chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/server_info", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"dagster dev did not serve {url} within {STARTUP_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def chromium_path() -> str:
    path = _chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must run scripts/install_browser.sh first")
        pytest.skip("chromium is not installed (apt-get install chromium, or scripts/install_browser.sh as root)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    return path


@contextlib.contextmanager
def _serve(home: Path, log: Path):
    """`dagster dev` (webserver and daemon) for this project on `home`; yields the base URL."""
    port = _free_port()
    env = {**os.environ, "DATAPILOT_HOME": str(home), "DAGSTER_HOME": str(home / ".dagster_home")}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"),
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, proc, log)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the webserver, daemon and code servers
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def dagster_dev(home: Path, tmp_path: Path):
    """`dagster dev` with a small synthetic inbox; yields the base URL."""
    write_feedback_files(home / "feedback_inbox", n_jobs=6, seed=11)
    (home / ".dagster_home" / "dagster.yaml").write_text(INSTANCE_YAML, encoding="utf-8")
    with _serve(home, tmp_path / "dagster_dev.log") as url:
        yield url


def _dismiss_welcome(page) -> None:
    """A fresh instance greets the first visitor with a community sign-up dialog; skip it."""
    skip = page.get_by_role("button", name="Skip", exact=True)
    try:
        skip.click(timeout=5_000)
    except Exception as exc:  # no dialog on this version/instance: nothing to dismiss
        if "Timeout" not in type(exc).__name__:
            raise


def _open_succeeded_run(page, base_url: str) -> None:
    """Watch the runs list until the run shows Success, then open it."""
    from playwright.sync_api import expect

    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    success = page.get_by_text("Success", exact=True).first
    while True:
        page.goto(f"{base_url}/runs")
        try:
            expect(success).to_be_visible(timeout=3_000)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    page.locator("a[href^='/runs/']").first.click()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()


def test_materialize_feedback_records_from_the_ui(chromium_path: str, dagster_dev: str, home: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(tempfile.mkdtemp(prefix="datapilot_ui_"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(30_000)
        try:
            page.goto(f"{dagster_dev}/asset-groups")
            _dismiss_welcome(page)
            # the global graph shows one node per stage group; the code location loads in the background
            for group in ("feedback", "monitoring"):
                expect(page.get_by_text(group, exact=True).first).to_be_visible(timeout=STARTUP_TIMEOUT_S * 1000)
            page.goto(f"{dagster_dev}/locations/datapilot_pipeline/asset-groups/feedback")
            expect(page.get_by_text("feedback_records", exact=True).first).to_be_visible()
            page.screenshot(path=str(shots / "asset_graph.png"))

            page.goto(f"{dagster_dev}/assets/feedback_records")
            page.locator("button", has_text="Materialize").first.click()  # its name includes the icon's
            expect(page.get_by_text(re.compile(r"launched", re.IGNORECASE)).first).to_be_visible()
            _open_succeeded_run(page, dagster_dev)
            expect(page.get_by_text("feedback_records", exact=True).first).to_be_visible()
            expect(page.get_by_text("Loading run logs", exact=False)).to_be_hidden()
            page.screenshot(path=str(shots / "run_succeeded.png"))
        except Exception:
            page.screenshot(path=str(shots / "failure.png"), full_page=True)
            print(f"screenshot of the failure: {shots / 'failure.png'}")
            raise
        finally:
            browser.close()
    print(f"screenshots: {shots / 'asset_graph.png'} {shots / 'run_succeeded.png'}")

    # The UI's verdict agrees with the instance and the run wrote what feedback_records promises.
    import dagster as dg

    with dg.DagsterInstance.from_ref(dg.DagsterInstance.get().get_ref()) as instance:
        runs = instance.get_run_records()
        assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
        assert instance.get_latest_materialization_event(dg.AssetKey("feedback_records")) is not None
    assert (home / "data" / "feedback" / "feedback.sqlite").exists()
