"""Which model a server answers with, named the way the A/B test and the reviewers need it.

A registered version is `datapilot-insights/<version>` (what `/v1/models` lists and every reply's `model` says,
whatever alias the server was started with); a model or adapter directory is `<folder name>@<sha256 prefix of its
weights>`, so two different folders never share a name. An alias that points nowhere is a one-line error that
names what is registered and the exact command to serve it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datapilot_pipeline.lib.paths import Workspace

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z0-9_-]+))$")


@dataclass(frozen=True)
class ServedModel:
    id: str
    uri: str  # what the server was started with
    base_model: Path
    adapter_dir: Path | None = None
    version: str | None = None
    aliases: tuple[str, ...] = ()
    created: int = 0  # unix seconds: registration time, else the weights' modification time

    def card(self) -> dict[str, Any]:
        """The `/v1/models` entry (OpenAI's fields, then this project's)."""
        return {"id": self.id, "object": "model", "created": self.created, "owned_by": "datapilot",
                "root": self.uri, "version": self.version, "aliases": list(self.aliases),
                "base_model": str(self.base_model), "adapter": str(self.adapter_dir) if self.adapter_dir else None}

    def describe(self) -> str:
        """The start-up line's model part."""
        parts = [self.uri, f"id {self.id}"]
        if self.version:
            parts.append(f"version {self.version}")
        parts.append(f"aliases {','.join(self.aliases)}" if self.aliases else "no alias")
        parts.append(f"base model {self.base_model}")
        if self.adapter_dir:
            parts.append(f"adapter {self.adapter_dir}")
        return ", ".join(parts)


def _weights_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")):
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def resolve_served_model(ref: str, workspace: "Workspace", base_model: str | None = None,
                         tracking_uri: str | None = None) -> ServedModel:
    """The model `ref` names (a `models:/` URI, an adapter or a model directory), resolved to local folders.
    Raises a one-line `ValueError` when it cannot be served."""
    from datapilot_pipeline.lib.evaluation.arms import fine_tuned_arm
    from datapilot_pipeline.lib.tracking import default_tracking_uri

    tracking_uri = tracking_uri or default_tracking_uri(workspace)
    try:
        generator = fine_tuned_arm(ref, workspace, base_model, tracking_uri=tracking_uri)
    except ValueError as exc:
        match = _URI.match(ref)
        if match and "is not registered" in str(exc):
            raise ValueError(f"{exc}; {_what_to_serve(match['name'], tracking_uri, workspace)}") from None
        raise
    base, adapter = Path(generator.base_model), Path(generator.adapter_dir) if generator.adapter_dir else None
    match = _URI.match(ref)
    if match:
        return _registered(ref, match["name"], match["version"], match["alias"], base, adapter, tracking_uri)
    weights = adapter or base
    return ServedModel(id=f"{weights.name}@{_weights_digest(weights)[:12]}", uri=str(Path(ref).expanduser().resolve()),
                       base_model=base, adapter_dir=adapter,
                       created=int(max(p.stat().st_mtime for p in weights.glob("*.safetensors"))))


def _registered(uri: str, name: str, version: str | None, alias: str | None, base: Path, adapter: Path | None,
                tracking_uri: str) -> ServedModel:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mv = client.get_model_version(name, version) if version else client.get_model_version_by_alias(name, alias)
    return ServedModel(id=f"{name}/{mv.version}", uri=uri, base_model=base, adapter_dir=adapter,
                       version=str(mv.version), aliases=tuple(sorted(getattr(mv, "aliases", None) or [])),
                       created=int((mv.creation_timestamp or 0) / 1000))


def _what_to_serve(name: str, tracking_uri: str, workspace: "Workspace") -> str:
    """What is registered instead, and the command that serves it."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from datapilot_pipeline.lib.generation.modeling import DEMO_BASE_DIR, default_tiny_model_dir
    from datapilot_pipeline.lib.tracking import CANDIDATE_ALIAS

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
        aliases = client.get_registered_model(name).aliases if versions else {}  # search results carry no aliases
    except MlflowException:
        versions, aliases = [], {}
    if not versions:
        base = default_tiny_model_dir(workspace)  # the demo base model, once a demo or training installed it
        return (f"nothing is registered yet (`datapilot train` registers a version); serve the base model with: "
                f"datapilot serve --model {base if (base / 'config.json').is_file() else DEMO_BASE_DIR}")
    named = {v: sorted(a for a, target in aliases.items() if int(target) == v) for v in versions}
    listed = ", ".join(f"version {v}" + (f" ({', '.join(named[v])})" if named[v] else "") for v in versions[-5:])
    target = (f"models:/{name}@{CANDIDATE_ALIAS}" if CANDIDATE_ALIAS in aliases
              else f"models:/{name}/{versions[-1]}")
    return (f"no version has been promoted (registered: {listed}); serve an unpromoted one with: "
            f"datapilot serve --model {target}")
