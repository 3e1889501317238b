"""Loading the definitions, building the CLI parser, `datapilot --help` and a sensor tick must not pull in the
heavy ML stack (import times are measured by `make bench`, not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers", "trl", "peft", "presidio_analyzer", "spacy", "great_expectations", "mlflow",
         "datasets", "sacrebleu", "rouge_score")

PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _heavy_modules_after(body: str) -> list[str]:
    code = PROBE.format(body=body, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


HELP = """
import runpy
sys.argv = ["datapilot", "--help"]
try:
    runpy.run_module("datapilot_pipeline", run_name="__main__")
except SystemExit as exc:
    assert exc.code == 0, exc.code
"""

# One tick of new_feedback_sensor over an inbox holding reviews: it parses them and applies the export rule.
REPO = str(Path(__file__).resolve().parents[1])  # the tests' fixtures import from any working directory
SENSOR_TICK = f"sys.path.insert(0, {REPO!r})\n" + """
import dagster as dg
from pathlib import Path
from datapilot_pipeline.defs.automation import AutomationSettings, new_feedback_sensor
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline_tests.sensor_fixtures import write_reviews
write_reviews(Path("feedback_inbox"), n_eligible=3, n_ineligible=1)
resources = {"workspace": WorkspaceResource(root="."), "automation": AutomationSettings(settle_seconds=0.0)}
with dg.DagsterInstance.ephemeral() as instance:
    result = new_feedback_sensor(dg.build_sensor_context(instance=instance, resources=resources))
from datapilot_pipeline.lib.feedback.sensor_state import SensorCursor
assert SensorCursor.decode(result.cursor).pending == 3 and not result.run_requests, result.cursor
"""


@pytest.mark.parametrize("body", [
    "import datapilot_pipeline.definitions as d; d.defs.resolve_asset_graph()",
    "import datapilot_pipeline; from datapilot_pipeline.cli import build_parser; build_parser()",
    HELP,
    SENSOR_TICK,
], ids=["definitions", "cli-parser", "datapilot-help", "sensor-tick"])
def test_no_heavy_imports(body: str, home) -> None:
    assert _heavy_modules_after(body) == []


def test_help_lists_every_command(home) -> None:
    out = subprocess.run([sys.executable, "-m", "datapilot_pipeline", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "demo" in out.stdout


def test_unknown_command_is_one_line_and_exit_2(home) -> None:
    out = subprocess.run([sys.executable, "-m", "datapilot_pipeline", "frobnicate"], capture_output=True, text=True)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
