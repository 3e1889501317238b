"""The scheduler `make test` hands test files to its workers with (scheduling.py), driven by a simulated run: fake
workers that run their queue in order and, as xdist's do, start a test only once the next one is known."""

from __future__ import annotations

import heapq
from pathlib import Path
from types import SimpleNamespace

import pytest

from xdist.remote import Producer
from xdist.scheduler import LoadFileScheduling

from datapilot_pipeline_tests.scheduling import LongFirstFileScheduling, long_running_seconds

QUIET = Producer("sched", enabled=False)


class FakeNode:
    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.queue: list[int] = []  # collection indices, in the order received
        self.shutting_down = False

    def send_runtest_some(self, indices) -> None:
        self.queue += indices

    def shutdown(self) -> None:
        self.shutting_down = True

    def __repr__(self) -> str:
        return self.gateway.id


def _write(root: Path, name: str, mark: str | None, n_tests: int) -> list[str]:
    lines = ["import pytest", ""] + ([f"pytestmark = {mark}", ""] if mark else [])
    lines += [f"def test_{i}():\n    pass\n" for i in range(n_tests)]
    (root / name).write_text("\n".join(lines), encoding="utf-8")
    return [f"{name}::test_{i}" for i in range(n_tests)]


def _simulate(scheduler, collection: list[str], seconds: dict[str, float], n_nodes: int = 2):
    """Run the collection on `n_nodes` fake workers; (makespan, {node: [file, ...] in the order received},
    [(node, file, its first test's start)])."""
    nodes = [FakeNode(f"gw{i}") for i in range(n_nodes)]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()
    clock, done, running, starts = 0.0, 0, [], []
    position = {node: 0 for node in nodes}  # next index into node.queue to run
    busy: set = set()

    def start(node) -> None:
        # An xdist worker starts a test when it holds two (it must know the next) or was told to shut down.
        left = len(node.queue) - position[node]
        if node in busy or left == 0 or (left < 2 and not node.shutting_down):
            return
        nodeid = collection[node.queue[position[node]]]
        file = nodeid.split("::")[0]
        if not any(started[1] == file and started[0] is node for started in starts):
            starts.append((node, file, clock))
        heapq.heappush(running, (clock + seconds[nodeid], node.gateway.id, node, position[node]))
        busy.add(node)

    for node in nodes:
        start(node)
    while running:
        clock, _, node, index = heapq.heappop(running)
        busy.discard(node)
        position[node] += 1
        done += 1
        scheduler.mark_test_complete(node, node.queue[index])
        for other in nodes:
            start(other)
    assert done == len(collection), f"{len(collection) - done} tests never ran (a worker waited forever)"
    files = {node.gateway.id: list(dict.fromkeys(collection[i].split("::")[0] for i in node.queue)) for node in nodes}
    return clock, files, starts


def _suite(root: Path):
    """Four long files (one test each, but a few minutes) and many short ones with more tests."""
    collection, seconds = [], {}
    for name, estimate, real in (("test_year.py", 450, 450), ("test_smollm2.py", 370, 370),
                                 ("test_demo_ui.py", 350, 350), ("test_retrain.py", 120, 120)):
        ids = _write(root, name, f"pytest.mark.long_running(seconds={estimate})", 1)
        collection += ids
        seconds.update(dict.fromkeys(ids, real))
    for i in range(30):
        ids = _write(root, f"test_short_{i:02}.py", None, 5 + i % 7)
        collection += ids
        seconds.update(dict.fromkeys(ids, 4.0))
    collection.sort()  # as pytest collects: by path, not by cost
    return collection, seconds


def _config(root: Path, n_nodes: int = 2):
    values = {"tx": [f"{n_nodes}*popen"], "dist": "loadfile"}
    return SimpleNamespace(getvalue=values.get, option=SimpleNamespace(loadscopereorder=True), rootpath=root)


def test_the_mark_is_read_without_importing(tmp_path: Path) -> None:
    cases = {"pytest.mark.long_running": 0.0, "pytest.mark.long_running(seconds=90)": 90.0,
             "[pytest.mark.slow, pytest.mark.long_running(seconds=5)]": 5.0, "pytest.mark.slow": None, None: None}
    for i, (mark, expected) in enumerate(cases.items()):
        _write(tmp_path, f"test_{i}.py", mark, 1)
        assert long_running_seconds(tmp_path / f"test_{i}.py") == expected, mark
    (tmp_path / "test_broken.py").write_text("pytestmark = (", encoding="utf-8")
    assert long_running_seconds(tmp_path / "test_broken.py") is None
    assert long_running_seconds(tmp_path / "test_absent.py") is None


def test_long_files_start_at_once_on_different_workers_longest_first(tmp_path: Path) -> None:
    collection, seconds = _suite(tmp_path)
    makespan, files, starts = _simulate(LongFirstFileScheduling(_config(tmp_path), QUIET), collection, seconds)
    first = {node.gateway.id: file for node, file, at in starts if at == 0}
    assert first == {"gw0": "test_year.py", "gw1": "test_smollm2.py"}
    for queue in files.values():  # every file on one worker, and never a long one queued behind a long one
        assert not any(a in {"test_year.py", "test_smollm2.py"} and b.startswith(("test_demo_ui", "test_retrain"))
                       for a, b in zip(queue, queue[1:]))
    assert sorted(f for queue in files.values() for f in queue) == sorted({c.split("::")[0] for c in collection})
    # the next long file went to whichever worker finished its long file first: smollm2's, then the year's
    started = {file: (node.gateway.id, at) for node, file, at in starts}
    assert started["test_demo_ui.py"][0] == "gw1" and started["test_retrain.py"][0] == "gw0"
    total = sum(seconds.values())
    assert makespan <= total / 2 + 10  # balanced: no worker idles while the other still has long files to run


def test_faster_than_xdists_own_loadfile_order(tmp_path: Path) -> None:
    collection, seconds = _suite(tmp_path)
    ours, _, _ = _simulate(LongFirstFileScheduling(_config(tmp_path), QUIET), collection, seconds)
    theirs, _, _ = _simulate(LoadFileScheduling(_config(tmp_path), QUIET), collection, seconds)
    print(f"simulated: {ours:.0f} s, xdist's loadfile {theirs:.0f} s")
    assert ours < theirs, (ours, theirs)


def test_only_long_files_left_still_run(tmp_path: Path) -> None:
    collection, seconds = [], {}
    for i, cost in enumerate((30, 20, 10, 5)):
        ids = _write(tmp_path, f"test_long_{i}.py", f"pytest.mark.long_running(seconds={cost})", 2)
        collection += ids
        seconds.update(dict.fromkeys(ids, cost / 2))
    # three workers, four long files: each worker starts one, and the fourth is queued behind one of them (a
    # worker must hold its next test before it runs the last of a file), never left unassigned
    makespan, files, starts = _simulate(LongFirstFileScheduling(_config(tmp_path, 3), QUIET), collection, seconds, n_nodes=3)
    assert sorted(file for _, file, at in starts if at == 0) == ["test_long_0.py", "test_long_1.py", "test_long_2.py"]
    assert sum(len(queue) for queue in files.values()) == 4 and makespan <= 30 + 5
