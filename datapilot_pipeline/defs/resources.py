"""Resources shared by every stage, defined and registered in one place.

Dagster's defs-folder loader takes only what a module's `@dg.definitions` function returns and ignores that module's
other objects, so this is the one module with such a function. The stages import their resource classes from here and
this module imports no stage (as in dagster's project_fully_featured), so no import runs back up; the MLflow resource
and the IO manager live in `tracking.py` and `storage.py`, which import no stage either.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from datapilot_pipeline.lib.export.eligibility import DEFAULT_MIN_SCORE
from datapilot_pipeline.lib.paths import Workspace


class WorkspaceResource(dg.ConfigurableResource):
    """The working root every stage reads and writes under (`$DATAPILOT_HOME` unless `root` is set)."""

    root: str | None = Field(default=None, description="Working root; default $DATAPILOT_HOME or the current directory.")

    def workspace(self) -> Workspace:
        return Workspace(Path(self.root).resolve()) if self.root else Workspace.current()


def _env_number(name: str, default: float, minimum: float, cast=int):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return cast(default)
    try:
        value = cast(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a {cast.__name__}") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r} must be >= {minimum}")
    return value


class AutomationSettings(dg.ConfigurableResource):
    """Thresholds of the sensor and the monthly schedule. A field left unset falls back to its environment
    variable (read at tick time), then to the default."""

    export_threshold: int | None = Field(default=None, ge=1, description="Eligible new examples that trigger an export "
                                         "(DATAPILOT_SENSOR_THRESHOLD, default 100).")
    retrain_min_new: int | None = Field(default=None, ge=1, description="Eligible examples since the last training below "
                                        "which the monthly retrain skips (DATAPILOT_RETRAIN_MIN_NEW, default 100).")
    min_score: int | None = Field(default=None, ge=1, le=5, description="The export rule's min score; default "
                                  "that of ExportConfig and `datapilot export`.")
    settle_seconds: float | None = Field(default=None, ge=0, description="Files younger than this wait for the next tick "
                                         "(DATAPILOT_SENSOR_SETTLE_S, default 1.0).")

    def threshold(self) -> int:
        return self.export_threshold if self.export_threshold is not None else _env_number("DATAPILOT_SENSOR_THRESHOLD", 100, 1)

    def retrain_minimum(self) -> int:
        return self.retrain_min_new if self.retrain_min_new is not None else _env_number("DATAPILOT_RETRAIN_MIN_NEW", 100, 1)

    def settle(self) -> float:
        if self.settle_seconds is not None:
            return self.settle_seconds
        return _env_number("DATAPILOT_SENSOR_SETTLE_S", 1.0, 0.0, cast=float)

    def eligibility(self):
        """The export rule as a predicate on one review."""
        from datapilot_pipeline.lib.export.eligibility import is_eligible

        min_score = self.min_score if self.min_score is not None else DEFAULT_MIN_SCORE
        return lambda feedback: is_eligible(feedback, min_score=min_score)


class DedupIndexResource(dg.ConfigurableResource):
    """Where the near-duplicate MinHash LSH index lives: in the merging process (default) or in a Redis server
    that every shard writes to, which is what lets shards on separate machines share one index."""

    redis_host: str | None = Field(default=None, description="Redis host for a shared index; unset: in memory.")
    redis_port: int = Field(default=6379, description="Redis port.")

    def storage_config(self, dataset_sha256: str) -> dict | None:
        from datapilot_pipeline.lib.validation.dedup import redis_storage_config

        return redis_storage_config(self.redis_host, self.redis_port, dataset_sha256) if self.redis_host else None

    def index(self, dataset_sha256: str):
        from datapilot_pipeline.lib.validation.dedup import lsh_index

        config = self.storage_config(dataset_sha256)
        return lsh_index(storage_config=config) if config else None


@dg.definitions
def resources() -> dg.Definitions:
    from datapilot_pipeline.defs.storage import ValueStoreIOManager
    from datapilot_pipeline.defs.tracking import TRACKING_URI_ENV, MlflowResource

    mlflow = MlflowResource(tracking_uri=dg.EnvVar(TRACKING_URI_ENV)) if os.environ.get(TRACKING_URI_ENV) else MlflowResource()
    return dg.Definitions(resources={
        "workspace": WorkspaceResource(),
        "mlflow": mlflow,
        "pipes_subprocess_client": dg.PipesSubprocessClient(),
        "dedup_index": DedupIndexResource(),
        "automation": AutomationSettings(),
        "io_manager": ValueStoreIOManager(),
    })
