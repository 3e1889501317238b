"""Fixtures of the reliability suite: good synthetic reviews, a hostile inbox beside them, and a snapshot of
everything outside the working root (to prove nothing is written there)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from datapilot_pipeline.lib.synthetic import generate_feedback
from datapilot_pipeline_tests.reliability.hostile_inbox import HostileInbox, build_hostile_inbox

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def good_feedback() -> list[dict]:
    """Synthetic reviews of 6 jobs (seeded; 7 files, 4 of them eligible for export): every one a valid feedback
    file."""
    return list(generate_feedback(6, seed=13))


@pytest.fixture
def hostile(home: Path, good_feedback: list[dict]) -> HostileInbox:
    return build_hostile_inbox(home / "feedback_inbox", good_feedback)


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of every entry under `root` except those under `skip`."""
    found: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if skip is not None and (here == skip or skip in here.parents):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = here / name
            if skip is not None and path == skip:
                continue
            st = path.lstat()
            found[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A directory outside the working root to run commands from: a write relative to the current directory
    would land here instead of under $DATAPILOT_HOME."""
    path = tmp_path / "elsewhere"
    path.mkdir()
    (path / "keep.txt").write_text("untouched\n")
    return path


def run_cli(args: list[str], home: Path, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess:
    """`python -m datapilot_pipeline ARGS` in a fresh process with $DATAPILOT_HOME=home, run from `cwd`."""
    full_env = {**os.environ, "DATAPILOT_HOME": str(home), "DAGSTER_HOME": str(home / ".dagster_home"),
                "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "datapilot_pipeline", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
