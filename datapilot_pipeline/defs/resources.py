"""Resources shared by every stage, registered in one place.

Dagster's defs-folder loader takes only what a module's `@dg.definitions` function returns and ignores that module's
other objects, so this is the one module with such a function; each resource class lives beside the stage that
uses it and is imported here when the definitions are built.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from datapilot_pipeline.lib.paths import Workspace


class WorkspaceResource(dg.ConfigurableResource):
    """The working root every stage reads and writes under (`$DATAPILOT_HOME` unless `root` is set)."""

    root: str | None = Field(default=None, description="Working root; default $DATAPILOT_HOME or the current directory.")

    def workspace(self) -> Workspace:
        return Workspace(Path(self.root).resolve()) if self.root else Workspace.current()


@dg.definitions
def resources() -> dg.Definitions:
    from datapilot_pipeline.defs.automation import AutomationSettings
    from datapilot_pipeline.defs.storage import ValueStoreIOManager
    from datapilot_pipeline.defs.tracking import TRACKING_URI_ENV, MlflowResource
    from datapilot_pipeline.defs.validation_shards import DedupIndexResource

    mlflow = MlflowResource(tracking_uri=dg.EnvVar(TRACKING_URI_ENV)) if os.environ.get(TRACKING_URI_ENV) else MlflowResource()
    return dg.Definitions(resources={
        "workspace": WorkspaceResource(),
        "mlflow": mlflow,
        "pipes_subprocess_client": dg.PipesSubprocessClient(),
        "dedup_index": DedupIndexResource(),
        "automation": AutomationSettings(),
        "io_manager": ValueStoreIOManager(),
    })
