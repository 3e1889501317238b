"""The MLflow tracker as a resource: where runs, metrics, artifacts and registered versions go."""

from __future__ import annotations


import dagster as dg
from pydantic import Field

from datapilot_pipeline.lib.paths import Workspace

TRACKING_URI_ENV = "DATAPILOT_MLFLOW_URI"


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking and registry URI; default `sqlite:///$DATAPILOT_HOME/mlflow.db`."""

    tracking_uri: str | None = Field(
        default=None, description=f"Tracking/registry URI; default the workspace's sqlite DB (env {TRACKING_URI_ENV}).")

    def uri(self, workspace: Workspace) -> str:
        from datapilot_pipeline.lib.tracking import default_tracking_uri

        return self.tracking_uri or default_tracking_uri(workspace)
