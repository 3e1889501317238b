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


def test_one_tracking_uri_for_every_stage(home: Path, monkeypatch: pytest.MonkeyPatch):
    """DATAPILOT_MLFLOW_URI reaches the CLI, evaluation and promotion through the same default as training."""
    from datapilot_pipeline.defs.tracking import MlflowResource

    other = f"sqlite:///{home / 'elsewhere' / 'team.db'}"
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, other)
    workspace = Workspace.current()
    assert tracking.default_tracking_uri(workspace) == other == MlflowResource().uri(workspace)
    assert MlflowResource(tracking_uri="sqlite:///x.db").uri(workspace) == "sqlite:///x.db"


def test_experiments_carry_the_classic_kind_a_description_and_classic_links(home: Path):
    import mlflow

    uri = tracking.default_tracking_uri(Workspace.current())
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    bare = client.create_experiment("datapilot-eval")  # an experiment created before it carried tags
    for name in (tracking.EXPERIMENT, "datapilot-eval"):
        experiment_id = tracking.ensure_tracking_db(uri, experiment=name)
        experiment = client.get_experiment(experiment_id)
        assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
        assert experiment.tags["mlflow.note.content"] == tracking.EXPERIMENT_DESCRIPTIONS[name]
        link = tracking.ui_link("http://127.0.0.1:5000/", f"experiments/{experiment_id}")
        assert link == f"http://127.0.0.1:5000/#/experiments/{experiment_id}?workflowType=machine_learning"
    assert client.get_experiment_by_name("datapilot-eval").experiment_id == bare
    assert tracking.ui_link("http://h:1", "/experiments/1/runs?x=1") == "http://h:1/#/experiments/1/runs?x=1&workflowType=machine_learning"


def test_the_installed_mlflow_ui_takes_its_layout_from_the_links_parameter():
    """What `ui_link` relies on, read from the MLflow UI this project installs: the layout is a per-browser switch
    (`mlflow.workflowType` in localStorage, GenAI unless switched) that a `workflowType` URL parameter of
    `genai` or `machine_learning` overrides. An MLflow upgrade that drops the parameter fails here, not silently."""
    import mlflow

    bundle = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    sources = [path.read_text(encoding="utf-8", errors="replace") for path in bundle.glob("*.js")]
    provider = [text for text in sources if 'key:"mlflow.workflowType"' in text]
    assert len(provider) == 1, "the UI's workflow switch moved: check that the links still open the runs table"
    text = provider[0]
    name, value = tracking.UI_CLASSIC_VIEW.split("=")
    assert f'.get("{name}")' in text  # the URL parameter our links carry is read ...
    assert f'MACHINE_LEARNING="{value}"' in text and 'GENAI="genai"' in text  # ... and ours names the classic layout


def test_no_champion_until_one_is_promoted_and_only_the_evaluated_version(home: Path):
    uri = tracking.default_tracking_uri(Workspace.current())
    assert tracking.current_champion(uri) is None  # nothing registered at all
    base = home / "base"
    base.mkdir()
    run1 = _run_with_adapter(uri, home / "a1")
    tracking.register_adapter(run1, uri, base, home / "a1", tags={"recipe": '{"shot_ids": []}'})
    assert tracking.current_champion(uri) is None
    with pytest.raises(ValueError, match="not in the evaluated run"):
        tracking.promote_version(uri, "1", "another-run")
    tracking.promote_version(uri, "1", run1)
    ref, tags = tracking.current_champion(uri)
    assert ref.version == "1" and ref.run_id == run1 and tags["recipe"] == '{"shot_ids": []}'


def test_using_tracking_uri_restores_the_process_settings(home: Path, monkeypatch: pytest.MonkeyPatch):
    import mlflow

    from datapilot_pipeline.lib.registry.log import using_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mlflow.set_tracking_uri(None)
    with using_tracking_uri("sqlite:///a.db"):
        assert mlflow.get_tracking_uri() == mlflow.get_registry_uri() == "sqlite:///a.db"
    mlflow.set_tracking_uri("sqlite:///b.db")
    assert mlflow.get_registry_uri() == "sqlite:///b.db"  # the registry follows the tracking URI again
    mlflow.set_tracking_uri(None)
