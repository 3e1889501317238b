"""`make run` says what it will do and what it costs before it starts: the install only when the venv is missing or
out of date (make itself decides), then the demo, with the machine's load. Runs make only (no install, no demo)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make(*args: str) -> str:
    out = subprocess.run(["make", "-s", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True,
                         timeout=60, env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_plan_names_the_install_only_when_make_would_run_it(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    fresh = _make("run-plan", f"VENV={venv}")
    assert f"1. install: creates {venv} and installs the pinned dependencies" in fresh
    assert "2. datapilot demo: 160 synthetic reviewed jobs" in fresh and "load average" in fresh
    venv.mkdir()
    (venv / ".installed").touch()  # newer than pyproject.toml, constraints.txt and packaged_models.txt
    assert f"1. install: {venv} is up to date, skipped" in _make("run-plan", f"VENV={venv}")
    old = time.time() - 10 * 365 * 86400
    os.utime(venv / ".installed", (old, old))  # older than its prerequisites: make would reinstall
    assert f"1. install: creates {venv}" in _make("run-plan", f"VENV={venv}")


def test_make_run_prints_the_plan_before_installing(tmp_path: Path) -> None:
    dry = _make("-n", "run", f"VENV={tmp_path / 'venv'}").splitlines()
    plan = next(i for i, line in enumerate(dry) if "scripts/run_plan.sh" in line)
    install = next(i for i, line in enumerate(dry) if "-m venv" in line)
    demo = next(i for i, line in enumerate(dry) if line.endswith("datapilot demo"))
    assert plan < install < demo
