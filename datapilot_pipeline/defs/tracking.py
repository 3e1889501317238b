"""The MLflow tracker as a resource: where runs, metrics, artifacts and registered versions go."""

from __future__ import annotations

import os
from urllib.parse import quote

import dagster as dg
from pydantic import Field

from datapilot_pipeline.lib.paths import Workspace
from datapilot_pipeline.lib.tracking import TRACKING_URI_ENV, ui_link

UI_URL_ENV = "DATAPILOT_MLFLOW_UI_URL"
DEFAULT_UI_URL = "http://127.0.0.1:5000"  # `make mlflow-ui`


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking and registry URI for training, evaluation and promotion alike; default
    `$DATAPILOT_MLFLOW_URI`, else `sqlite:///$DATAPILOT_HOME/mlflow.db`."""

    tracking_uri: str | None = Field(
        default=None, description=f"Tracking/registry URI; default ${TRACKING_URI_ENV}, else the workspace's sqlite DB.")

    def uri(self, workspace: Workspace) -> str:
        from datapilot_pipeline.lib.tracking import default_tracking_uri

        return self.tracking_uri or default_tracking_uri(workspace)


def mlflow_ui_url() -> str:
    """Where people open MLflow (the links in asset metadata): $DATAPILOT_MLFLOW_UI_URL, default `make mlflow-ui`."""
    return (os.environ.get(UI_URL_ENV) or DEFAULT_UI_URL).rstrip("/")


def run_link(run_id: str) -> dg.MetadataValue:
    """A link to an MLflow run's page (MLflow finds its experiment), in the UI's classic layout (`ui_link`)."""
    return dg.MetadataValue.url(ui_link(mlflow_ui_url(), f"runs/{quote(run_id)}"))


def model_version_link(model_uri: str) -> dg.MetadataValue:
    """A link to a registered version's page, from its `models:/<name>/<version>` URI."""
    name, _, version = model_uri.removeprefix("models:/").rpartition("/")
    return dg.MetadataValue.url(ui_link(mlflow_ui_url(), f"models/{quote(name)}/versions/{quote(version)}"))
