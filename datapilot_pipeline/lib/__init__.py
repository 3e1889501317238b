"""Plain-Python core of the pipeline: every rule worth testing lives here. No Dagster imports."""
