"""Loading the definitions, the CLI's --help and a sensor tick must not pull in the heavy ML stack."""

from __future__ import annotations

import json
import subprocess
import sys

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


@pytest.mark.parametrize("body", [
    "import datapilot_pipeline.definitions as d; d.defs.resolve_asset_graph()",
    "import datapilot_pipeline; from datapilot_pipeline.cli import build_parser; build_parser()",
])
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
