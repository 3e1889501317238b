"""`lib.workers`: results come back in input order whatever finishes first, an error in a worker reaches the caller,
stopping early leaves no process behind, and the worker count follows its rules."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time

import pytest

from datapilot_pipeline.lib import workers
from datapilot_pipeline.lib.workers import ordered_map, worker_count


def slow_square(item: tuple[int, float]) -> tuple[int, int]:
    n, delay = item
    time.sleep(delay)
    return n, n * n


def fails_on_three(n: int) -> int:
    if n == 3:
        raise ValueError("three is not allowed")
    return n


def test_results_come_in_input_order_when_later_items_finish_first():
    items = [(n, 0.3 if n % 3 == 0 else 0.0) for n in range(12)]  # every third item is the slow one
    read = []

    def source():
        for item in items:
            read.append(item[0])
            yield item

    got = []
    for result in ordered_map(slow_square, source(), 2):
        got.append(result)
        assert len(read) <= len(got) + 4  # read ahead by at most two items a worker
    assert got == [(n, n * n) for n in range(12)]


def test_the_first_side_work_runs_while_results_keep_coming():
    """`while_first` (validation imports Great Expectations there) runs beside the loop: results are taken, and new
    items submitted, while it runs, so the workers never wait for it."""
    import threading

    enough = threading.Event()
    seen: list = []

    def side() -> None:
        seen.append((threading.current_thread() is threading.main_thread(), enough.wait(timeout=60)))

    got = []
    for result in ordered_map(slow_square, [(n, 0.01) for n in range(12)], 2, while_first=side):
        got.append(result)
        if len(got) == 6:  # past the 2 x 2 items in flight when the side work started
            enough.set()
    assert got == [(n, n * n) for n in range(12)]
    assert seen == [(False, True)]


def test_an_error_in_the_side_work_reaches_the_caller():
    def side() -> None:
        raise ValueError("side work failed")

    got = []
    with pytest.raises(ValueError, match="side work failed"):
        for result in ordered_map(slow_square, [(n, 0.0) for n in range(8)], 2, while_first=side):
            got.append(result)
    assert got == [(n, n * n) for n in range(8)]  # every result first, then the error


def test_an_error_in_a_worker_reaches_the_caller():
    with pytest.raises(ValueError, match="three is not allowed"):
        list(ordered_map(fails_on_three, range(8), 2))


def test_stopping_early_shuts_the_workers_down():
    before = {p.pid for p in multiprocessing.active_children()}
    results = ordered_map(slow_square, ((n, 0.05) for n in range(1000)), 2)
    assert [next(results) for _ in range(3)] == [(0, 0), (1, 1), (2, 4)]
    results.close()  # the caller stops: what is queued is cancelled, the processes end
    assert {p.pid for p in multiprocessing.active_children()} - before == set()


def test_worker_count_rules(monkeypatch):
    monkeypatch.delenv("DATAPILOT_TEST_WORKERS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    monkeypatch.setattr(workers, "busy_cores", lambda cores: 0.6)
    assert worker_count(False, None, "DATAPILOT_TEST_WORKERS") == 1  # a small input: this process alone
    assert worker_count(True, None, "DATAPILOT_TEST_WORKERS") == 4  # one per core, at most `most`
    assert worker_count(True, None, "DATAPILOT_TEST_WORKERS", most=8) == 6
    monkeypatch.setattr(workers, "busy_cores", lambda cores: 5.5)
    assert worker_count(True, None, "DATAPILOT_TEST_WORKERS") == 1  # no core to spare
    monkeypatch.setenv("DATAPILOT_TEST_WORKERS", "3")
    assert worker_count(True, None, "DATAPILOT_TEST_WORKERS") == 3  # the setting wins over the load
    assert worker_count(True, 2, "DATAPILOT_TEST_WORKERS") == 2  # and the argument over the setting
    monkeypatch.setattr(workers, "main_reimport_safe", lambda: False)
    assert worker_count(True, 2, "DATAPILOT_TEST_WORKERS") == 1  # a main script that would run again when imported


def test_busy_cores_sees_a_process_that_keeps_a_core_busy():
    cpu = min(os.sched_getaffinity(0))
    ctx = multiprocessing.get_context("spawn")
    spinning = ctx.Event()
    spinner = ctx.Process(target=_pinned_spin, args=(cpu, 30.0, spinning))
    spinner.start()
    try:
        assert spinning.wait(timeout=60)  # the child is up, pinned to `cpu` and spinning
        assert workers.busy_cores({cpu}) >= 0.7
        assert spinner.is_alive()  # it spun through the whole sample
    finally:
        spinner.terminate()
        spinner.join()


def _pinned_spin(cpu: int, seconds: float, spinning) -> None:
    os.sched_setaffinity(0, {cpu})
    end = time.perf_counter() + seconds
    spinning.set()
    while time.perf_counter() < end:
        pass


FORKED_MAP = """
import json, sys, types
from datapilot_pipeline.lib.workers import ordered_map, start_method


def inherited(n):
    return n, "parent_only_marker" in sys.modules  # a module this process made at run time, never importable


if __name__ == "__main__":
    sys.modules["parent_only_marker"] = types.ModuleType("parent_only_marker")
    method = start_method(True)
    results = list(ordered_map(inherited, range(9), 2, fork=True))
    print(json.dumps({"method": method, "results": results}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_a_single_threaded_process_forks_its_workers(tmp_path):
    """In a fresh interpreter (one thread): the workers are forked, so they hold what the parent made at run time,
    and the results come in input order."""
    script = tmp_path / "forked_map.py"
    script.write_text(FORKED_MAP)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"method": "fork", "results": [[n, True] for n in range(9)]}


def test_workers_are_spawned_unless_a_fork_is_asked_for_and_safe(monkeypatch):
    assert workers.start_method(False) == "spawn"
    with monkeypatch.context() as single:
        single.setattr(workers, "_os_threads", lambda: 1)  # as in a fresh process
        if sys.platform.startswith("linux"):
            assert workers.start_method(True) == "fork"
        single.setattr(multiprocessing, "current_process", lambda: multiprocessing.Process(daemon=True))
        assert workers.start_method(True) == "spawn"  # a pool's worker: no process of its own, forked or not
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert workers._os_threads() != 1
        assert workers.start_method(True) == "spawn"  # another thread could hold a lock the copy would keep
        results = list(ordered_map(slow_square, [(n, 0.0) for n in range(6)], 2, fork=True))
        assert results == [(n, n * n) for n in range(6)]
    finally:
        release.set()
        other.join()
