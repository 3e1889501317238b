"""numpy's OpenBLAS runs on one thread in the project's processes and the workers they spawn, unless the user chose
a thread count (`datapilot_pipeline/__init__.py`); each case runs in a fresh interpreter, as the setting only acts
before numpy's import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = str(Path(__file__).resolve().parents[1])
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")

PROBE = f"""
import json, os, sys
sys.path.insert(0, {REPO!r})
import datapilot_pipeline
from datapilot_pipeline.lib.workers import ordered_map
from datapilot_pipeline_tests.test_blas_threads import openblas_threads

if __name__ == "__main__":
    here = openblas_threads(None)
    spawned = list(ordered_map(openblas_threads, [None, None], 2))
    print(json.dumps({{"here": here, "spawned": spawned, "variable": os.environ.get("OPENBLAS_NUM_THREADS")}}))
"""


def openblas_threads(_item) -> int:
    """The thread count of numpy's OpenBLAS in this process (imported here, after the package)."""
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_info

    counts = [pool["num_threads"] for pool in threadpool_info() if pool["internal_api"] == "openblas"]
    assert counts, "numpy's OpenBLAS is not loaded"
    return counts[0]


def _probe(tmp_path, **variables: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update(variables)
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_openblas_runs_on_one_thread_here_and_in_spawned_workers(tmp_path):
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: OpenBLAS would start one thread anyway")
    found = _probe(tmp_path)
    assert found == {"here": 1, "spawned": [1, 1], "variable": "1"}


@pytest.mark.parametrize("variable", ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"])
def test_a_thread_count_the_user_set_is_kept(tmp_path, variable):
    found = _probe(tmp_path, **{variable: "2"})
    assert found["here"] == 2 and found["spawned"] == [2, 2]
    assert found["variable"] == ("2" if variable == "OPENBLAS_NUM_THREADS" else None)
