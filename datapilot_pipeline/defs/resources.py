"""Resources shared by every stage."""

from __future__ import annotations

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
    return dg.Definitions(resources={"workspace": WorkspaceResource()})
