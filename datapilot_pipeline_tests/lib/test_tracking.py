"""MLflow helpers: DB creation, registry versions and aliases, model URIs resolved to local directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from datapilot_pipeline.lib import tracking
from datapilot_pipeline.lib.paths import Workspace


def _run_with_adapter(uri: str, adapter: Path) -> str:
    import mlflow

    experiment_id = tracking.ensure_tracking_db(uri)
    adapter.mkdir(parents=True, exist_ok=True)
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    run = client.create_run(experiment_id)
    client.log_artifacts(run.info.run_id, str(adapter), tracking.ADAPTER_ARTIFACT)
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_default_uri_is_sqlite_under_home(home: Path):
    assert tracking.default_tracking_uri(Workspace.current()) == f"sqlite:///{home / 'mlflow.db'}"


def test_ensure_creates_db_and_is_idempotent(home: Path):
    uri = tracking.default_tracking_uri(Workspace.current())
    first = tracking.ensure_tracking_db(uri)
    assert (home / "mlflow.db").is_file()
    assert tracking.ensure_tracking_db(uri) == first


def test_register_resolve_and_alias(home: Path):
    uri = tracking.default_tracking_uri(Workspace.current())
    base = home / "models" / "base"
    base.mkdir(parents=True)
    run1 = _run_with_adapter(uri, home / "a1")
    run2 = _run_with_adapter(uri, home / "a2")
    assert tracking.register_adapter(run1, uri, base, home / "a1") == "1"
    assert tracking.register_adapter(run2, uri, base, home / "a2") == "2"

    ref = tracking.resolve_model_uri("models:/datapilot-insights@candidate", uri)
    assert (ref.version, ref.run_id, ref.adapter_dir, ref.base_model) == ("2", run2, home / "a2", base)
    assert ref.model_uri == "models:/datapilot-insights/2"

    tracking.set_alias(uri, "1", tracking.CHAMPION_ALIAS)
    assert tracking.resolve_model_uri("models:/datapilot-insights@champion", uri).run_id == run1
    assert tracking.resolve_model_uri("models:/datapilot-insights/1", uri).adapter_dir == home / "a1"
    # Artifacts stay inside the working root.
    assert list((home / "mlartifacts").rglob("adapter_model.safetensors"))


def test_resolve_falls_back_to_the_run_artifact(home: Path):
    import shutil

    uri = tracking.default_tracking_uri(Workspace.current())
    base = home / "base"
    base.mkdir()
    run = _run_with_adapter(uri, home / "gone")
    tracking.register_adapter(run, uri, base, home / "gone")
    shutil.rmtree(home / "gone")
    ref = tracking.resolve_model_uri("models:/datapilot-insights/1", uri)
    assert (ref.adapter_dir / "adapter_model.safetensors").read_bytes() == b"weights"


@pytest.mark.parametrize("uri, message", [
    ("runs:/abc/adapter", "not a model URI"),
    ("models:/datapilot-insights/7", "not registered"),
    ("models:/datapilot-insights@nobody", "not registered"),
])
def test_bad_uris_are_value_errors(uri: str, message: str, home: Path):
    db = tracking.default_tracking_uri(Workspace.current())
    tracking.ensure_tracking_db(db)
    with pytest.raises(ValueError, match=message):
        tracking.resolve_model_uri(uri, db)
