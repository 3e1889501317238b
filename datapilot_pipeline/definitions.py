"""Dagster entry point: every asset, check, job, sensor, schedule and resource under `defs/`."""

from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
