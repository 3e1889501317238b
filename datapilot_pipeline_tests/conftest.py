"""Shared fixtures: every test runs against its own working root, offline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.pop("DATAPILOT_STORE_URL", None)  # each test picks its store (the `store_url` fixture runs both)



def _absl_logs_to_the_process_stderr() -> None:
    """absl (imported by rouge_score, which evaluation's ROUGE-L uses) builds its logging handler on whatever
    `sys.stderr` is at import, under pytest the session's capture file, and closes that stream when the handler is
    closed unless it is `sys.stderr` at that moment. Every in-process Dagster run on an instance closes all handlers
    (`get_yaml_python_handlers` calls `logging.config.dictConfig`); in a test under capfd/capsys `sys.stderr` is the
    fixture's file, so absl closed pytest's own capture file: that test failed with "I/O operation on closed file",
    every later one too, and the session ended in "lost sys.stderr" (test_hostile_inbox after any test that
    evaluated). Pointed at the process's real stderr, which absl never closes, the handler (attached to no logger
    unless absl.app runs) cannot close anything pytest owns."""
    try:
        import absl.logging
    except ImportError:  # absl comes with rouge_score; without it there is no such handler
        return
    absl.logging.get_absl_handler().python_handler.stream = sys.__stderr__


_absl_logs_to_the_process_stderr()

from datapilot_pipeline_tests.package_data_guard import PACKAGE_DATA, changes, fingerprint  # noqa: E402
from datapilot_pipeline_tests.postgres_server import postgres_server, postgres_url  # noqa: E402,F401

_PACKAGE_DATA = pytest.StashKey[dict]()
_PACKAGE_DATA_CHANGES = pytest.StashKey[list]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_PACKAGE_DATA] = fingerprint(PACKAGE_DATA)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when any test wrote into the packaged data (see package_data_guard)."""
    before = session.config.stash.get(_PACKAGE_DATA, None)
    if before is None:
        return
    found = changes(before, fingerprint(PACKAGE_DATA))
    if found:
        session.config.stash[_PACKAGE_DATA_CHANGES] = found
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    found = config.stash.get(_PACKAGE_DATA_CHANGES, None)
    if found:
        terminalreporter.section("packaged data changed: the session fails", sep="=", red=True, bold=True)
        terminalreporter.line(f"tests wrote into {PACKAGE_DATA} (the package ships these files); "
                              f"{len(found)} path(s):", red=True)
        for line in found:
            terminalreporter.line(f"  {line}", red=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Run the test on each store backend: the default SQLite file (None), then a fresh PostgreSQL database,
    selected the way a deployment does it, through `DATAPILOT_STORE_URL`."""
    if request.param == "sqlite":
        return None
    url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("DATAPILOT_STORE_URL", url)
    return url


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh `$DATAPILOT_HOME` (and `DAGSTER_HOME` inside it) for one test."""
    root = tmp_path / "home"
    (root / ".dagster_home").mkdir(parents=True)
    monkeypatch.setenv("DATAPILOT_HOME", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / ".dagster_home"))
    monkeypatch.chdir(root)
    return root


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`make test` (`--dist loadfile`): a whole file per worker at a time as xdist's loadfile, but the files marked
    `long_running` start first, longest first, on different workers, and the rest fill in around them (see
    scheduling.py; xdist's own order put them last, as files with the fewest tests)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from datapilot_pipeline_tests.scheduling import LongFirstFileScheduling

    return LongFirstFileScheduling(config, log)
