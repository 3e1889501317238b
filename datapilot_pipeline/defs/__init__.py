"""Dagster wiring only, one module per stage; rules live in `datapilot_pipeline.lib`."""
