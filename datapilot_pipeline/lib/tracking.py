"""MLflow tracking and the model registry: one tracking URI (`DATAPILOT_MLFLOW_URI`, default a sqlite DB under the
working root) for training, evaluation, promotion and the CLI; one registered model.

A registered version's tags carry what a consumer needs to load it offline: the base model directory
and the local adapter directory (the adapter is also an artifact of the run, used when the local copy
is gone).
"""

from __future__ import annotations

import fcntl
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from datapilot_pipeline.lib.hashing import file_sha256

if TYPE_CHECKING:
    from datapilot_pipeline.lib.paths import Workspace

TRACKING_URI_ENV = "DATAPILOT_MLFLOW_URI"
REGISTERED_MODEL = "datapilot-insights"
EXPERIMENT = "datapilot-finetune"
EXPERIMENT_DESCRIPTIONS = {
    EXPERIMENT: "LoRA fine-tuning runs of the DataPilot insights model: one run per training dataset, with the "
                "dataset as input, the training curves, the adapter and the registered pyfunc model.",
    "datapilot-eval": "Few-shot against fine-tuned (and the current champion) on the holdout of the model's own "
                      "export: one parent run per evaluation with a child run per arm (same metric names, "
                      "comparable across runs), the report and the promotion decision.",
}
# What the experiments hold, for MLflow's clients: classic model development, not GenAI traces. MLflow 3.17's UI no
# longer reads this tag to pick an experiment's layout: the browser's "GenAI | Model training" switch does (default
# GenAI, kept per browser), and a `workflowType` parameter in the page's URL sets it for that page. So every MLflow
# link this project prints or puts in metadata is built by `ui_link`, which adds that parameter: an experiment link
# opens its runs table, not an empty "Traces 0" overview (run and version pages look the same in both layouts).
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
UI_CLASSIC_VIEW = "workflowType=machine_learning"
ADAPTER_ARTIFACT = "adapter"
CANDIDATE_ALIAS = "candidate"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
CHAMPION_ALIAS = "champion"
_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z0-9_-]+))$")


def _quiet_mlflow() -> None:
    # MLflow reports usage to a remote endpoint unless told not to; nothing here may reach the network.
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def default_tracking_uri(workspace: "Workspace") -> str:
    """`$DATAPILOT_MLFLOW_URI` when set, else `sqlite:///$DATAPILOT_HOME/mlflow.db`: the one URI every stage uses."""
    return os.environ.get(TRACKING_URI_ENV) or workspace.mlflow_uri


def ui_link(base_url: str, route: str) -> str:
    """`<base_url>/#/<route>` in the MLflow UI's classic layout (runs, models), e.g. `ui_link(url, "experiments/1")`."""
    route = route.lstrip("/")
    return f"{base_url.rstrip('/')}/#/{route}{'&' if '?' in route else '?'}{UI_CLASSIC_VIEW}"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def ensure_tracking_db(uri: str, artifact_root: Path | None = None, experiment: str = EXPERIMENT) -> str:
    """Create the tracking DB (schema migrations) and the experiment once; returns the experiment id.

    Call it before processes share the DB: concurrent first-time migrations of one sqlite file race.
    A lock file beside the DB serializes callers that do race. Artifacts go under `artifact_root`
    (default: `mlartifacts/` beside the DB) so nothing is written outside the working root.
    """
    _quiet_mlflow()
    from mlflow.tracking import MlflowClient

    db = _sqlite_path(uri)
    if db is None:
        return _ensure_experiment(MlflowClient(tracking_uri=uri), experiment, None)
    db.parent.mkdir(parents=True, exist_ok=True)
    root = Path(artifact_root) if artifact_root else db.parent / "mlartifacts"
    with open(db.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _ensure_experiment(MlflowClient(tracking_uri=uri), experiment, root.resolve().as_uri())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ensure_experiment(client, name: str, artifact_location: str | None) -> str:
    found = client.get_experiment_by_name(name)
    experiment_id = found.experiment_id if found else client.create_experiment(name, artifact_location=artifact_location)
    tags = found.tags if found else {}
    wanted = {"mlflow.note.content": EXPERIMENT_DESCRIPTIONS.get(name, ""), EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
    for key, value in wanted.items():  # also upgrades experiments created before they carried these
        if value and tags.get(key) != value:
            client.set_experiment_tag(experiment_id, key, value)
    return experiment_id


def run_source_tags(source: str, dagster_run_id: str | None = None, asset_key: str | None = None) -> dict[str, str]:
    """Where a run came from: MLflow's source tags, and the Dagster run and asset when Dagster started it."""
    tags = {"mlflow.source.name": source, "mlflow.source.type": "JOB" if dagster_run_id else "LOCAL"}
    if dagster_run_id:
        tags["dagster.run_id"] = dagster_run_id
    if asset_key:
        tags["dagster.asset_key"] = asset_key
    return tags


def log_dataset_input(client, run_id: str, path: Path, sha256: str, context: str = "training") -> None:
    """The dataset file as an MLflow dataset input of the run (name, source path, digest = its sha256 prefix,
    rows and schema), so the run page shows what the model was trained or evaluated on."""
    import mlflow.data
    import pandas as pd
    from mlflow.entities import DatasetInput, InputTag

    frame = pd.read_json(path, lines=True, dtype=False)
    frame = frame[[c for c in frame.columns if c != "metadata"]]  # nested dicts have no MLflow column type
    dataset = mlflow.data.from_pandas(frame, source=str(path), name=Path(path).name, digest=sha256[:16])
    client.log_inputs(run_id, [DatasetInput(dataset._to_mlflow_entity(),
                                            tags=[InputTag("mlflow.data.context", context)])])


def register_adapter(run_id: str, tracking_uri: str, base_model: Path, adapter_dir: Path,
                     alias: str | None = CANDIDATE_ALIAS, tags: dict[str, str] | None = None,
                     source: str | None = None, description: str | None = None) -> str:
    """Register a new version of `datapilot-insights` from the run (its logged pyfunc model when `source` is
    given, else its adapter artifact); returns the version."""
    _quiet_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        client.get_registered_model(REGISTERED_MODEL)
    except MlflowException:
        client.create_registered_model(REGISTERED_MODEL, description="LoRA adapters that write DataPilot insights.")
    source = source or f"{client.get_run(run_id).info.artifact_uri}/{ADAPTER_ARTIFACT}"
    # The hash pins the weights: a later run trained further in the same folder must not change this version.
    version_tags = {"base_model": str(Path(base_model).resolve()), "adapter_dir": str(Path(adapter_dir).resolve()),
                    "adapter_sha256": file_sha256(Path(adapter_dir) / ADAPTER_WEIGHTS)}
    version_tags.update(tags or {})
    version = client.create_model_version(REGISTERED_MODEL, source=source, run_id=run_id, tags=version_tags,
                                          description=description)
    if alias:
        client.set_registered_model_alias(REGISTERED_MODEL, alias, version.version)
    return str(version.version)


def alias_version(tracking_uri: str, alias: str) -> str | None:
    """The version of `datapilot-insights` that `alias` points at; None when the model or the alias does not exist."""
    _quiet_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        return str(MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
                   .get_model_version_by_alias(REGISTERED_MODEL, alias).version)
    except MlflowException:
        return None


def set_alias(tracking_uri: str, version: str | int, alias: str) -> None:
    """Point `alias` (e.g. `champion`) of `datapilot-insights` at `version`."""
    _quiet_mlflow()
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(
        REGISTERED_MODEL, alias, str(version))


@dataclass(frozen=True)
class ModelRef:
    """A registered model version, resolved to local directories."""

    base_model: Path
    adapter_dir: Path
    version: str
    run_id: str

    @property
    def model_uri(self) -> str:
        return f"models:/{REGISTERED_MODEL}/{self.version}"


def resolve_model_uri(uri: str, tracking_uri: str) -> ModelRef:
    """`models:/<name>/<version>` or `models:/<name>@<alias>` -> local base model and adapter directories.

    Raises `ValueError` (one line) for a malformed URI, an unknown version or alias, or a missing base model.
    """
    match = _MODEL_URI.match(uri)
    if not match:
        raise ValueError(f"not a model URI: {uri!r} (expected models:/NAME/VERSION or models:/NAME@ALIAS)")
    _quiet_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name = match["name"]
    try:
        mv = (client.get_model_version(name, match["version"]) if match["version"]
              else client.get_model_version_by_alias(name, match["alias"]))
    except MlflowException as exc:
        raise ValueError(f"{uri} is not registered in {tracking_uri}: {exc.message.splitlines()[0]}") from None
    base = Path(mv.tags.get("base_model", ""))
    if not mv.tags.get("base_model") or not base.is_dir():
        raise ValueError(f"{uri}: base model directory {str(base) or '(untagged)'} is missing")
    adapter = Path(mv.tags.get("adapter_dir", ""))
    weights = adapter / ADAPTER_WEIGHTS
    pinned = mv.tags.get("adapter_sha256")
    if not mv.tags.get("adapter_dir") or not weights.is_file() or (pinned and file_sha256(weights) != pinned):
        adapter = _download_adapter(client, mv, _sqlite_path(tracking_uri))
    return ModelRef(base_model=base, adapter_dir=adapter, version=str(mv.version), run_id=mv.run_id)


def _download_adapter(client, mv, db: Path | None = None) -> Path:
    """The run's adapter artifact copied to a local folder (the artifact store is local: no network), beside
    the tracking DB when it is a file, so nothing is written outside the working root."""
    import mlflow.artifacts

    dst = None
    if db is not None:
        dst = db.parent / "models" / "registry" / f"{mv.name}-v{mv.version}"
        dst.mkdir(parents=True, exist_ok=True)
    target = Path(mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path=ADAPTER_ARTIFACT,
                                                      tracking_uri=client._tracking_client.tracking_uri,
                                                      dst_path=str(dst) if dst else None))
    if not (target / ADAPTER_WEIGHTS).is_file():
        raise ValueError(f"version {mv.version} of {mv.name} has no adapter in run {mv.run_id}")
    return target


def current_champion(tracking_uri: str) -> tuple[ModelRef, dict[str, str]] | None:
    """The version the `champion` alias points at, resolved, with its tags; None when there is no champion yet."""
    _quiet_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        aliases = client.get_registered_model(REGISTERED_MODEL).aliases
    except MlflowException:  # nothing registered yet
        return None
    if CHAMPION_ALIAS not in aliases:
        return None
    ref = resolve_model_uri(f"models:/{REGISTERED_MODEL}@{CHAMPION_ALIAS}", tracking_uri)
    return ref, dict(client.get_model_version(REGISTERED_MODEL, ref.version).tags)


def promote_version(tracking_uri: str, version: str | int, run_id: str | None) -> None:
    """Point `champion` at `version` after checking that it is the version trained in `run_id` (the one evaluated)."""
    _quiet_mlflow()
    from mlflow.tracking import MlflowClient

    mv = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).get_model_version(REGISTERED_MODEL, str(version))
    if run_id and mv.run_id != run_id:
        raise ValueError(f"version {version} in {tracking_uri} was trained in run {mv.run_id}, not in the evaluated "
                         f"run {run_id}: refusing to promote another model")
    set_alias(tracking_uri, version, CHAMPION_ALIAS)
