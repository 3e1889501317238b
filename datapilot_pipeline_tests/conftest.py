"""Shared fixtures: every test runs against its own working root, offline."""

from __future__ import annotations

import os
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

from datapilot_pipeline_tests.postgres_server import postgres_server, postgres_url  # noqa: E402,F401


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In parallel workers (`make test`: pytest-xdist, one file per worker at a time), the long-running files go
    first, so that no worker is left alone with one of them at the end."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("long_running") is None)
