"""Entry points run in subprocesses through Dagster Pipes (heavy work outside the Dagster process)."""
