"""The MLflow tracker as a resource: where runs, metrics, artifacts and registered versions go."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from datapilot_pipeline.lib.paths import Workspace
from datapilot_pipeline.lib.tracking import TRACKING_URI_ENV


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking and registry URI for training, evaluation and promotion alike; default
    `$DATAPILOT_MLFLOW_URI`, else `sqlite:///$DATAPILOT_HOME/mlflow.db`."""

    tracking_uri: str | None = Field(
        default=None, description=f"Tracking/registry URI; default ${TRACKING_URI_ENV}, else the workspace's sqlite DB.")

    def uri(self, workspace: Workspace) -> str:
        from datapilot_pipeline.lib.tracking import default_tracking_uri

        return self.tracking_uri or default_tracking_uri(workspace)
