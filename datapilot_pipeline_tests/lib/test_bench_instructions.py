"""The instruction benchmark reads Valgrind's report of every traced process (main, spawned workers, forked
processes, the resource tracker) as Valgrind writes it; the numbers below are real reports', trimmed."""

from __future__ import annotations

from bench.bench_instructions import parse_counts

VALGRIND_STDERR = """\
==759== Cachegrind, a high-precision tracing profiler
==759== Command: /work/.venv/bin/python -c import\\ sys ... /tmp/bench.jsonl 2
==781== Command: /work/.venv/bin/python -B -c from\\ multiprocessing.resource_tracker\\ import\\ main;main(17)
==782== Command: /work/.venv/bin/python -B -c from\\ multiprocessing.spawn\\ import\\ spawn_main;\\ spawn_main(tracker_fd=19,\\ pipe_handle=24) --multiprocessing-fork
==785== Command: /work/.venv/bin/python -B -c from\\ multiprocessing.spawn\\ import\\ spawn_main;\\ spawn_main(tracker_fd=19,\\ pipe_handle=26) --multiprocessing-fork
==785== I   refs:      12,557,009,947
==782== I   refs:      12,581,797,855
==759== I   refs:      10,258,276,320
==781== I   refs:      141,367,602
"""


def test_each_process_is_read_with_its_kind_main_first() -> None:
    processes = parse_counts(VALGRIND_STDERR)
    assert processes == [{"kind": "main", "instructions": 10_258_276_320},
                         {"kind": "worker", "instructions": 12_557_009_947},
                         {"kind": "worker", "instructions": 12_581_797_855},
                         {"kind": "resource tracker", "instructions": 141_367_602}]


def test_a_report_without_counts_gives_no_process() -> None:
    assert parse_counts("==1== Command: python -c pass\nvalgrind: failed to start\n") == []


FORKED_STDERR = """\
==2628== Cachegrind, a cache and branch-prediction profiler
==2628== Command: /work/.venv/bin/python -c import\\ sys ... /tmp/bench.jsonl 2
==2671== I   refs:      9,111,222,333
==2670== I   refs:      9,222,111,333
==2628== I   refs:      10,258,276,320
"""


def test_a_forked_process_is_read_as_forked() -> None:
    """A forked process (a worker or the suite's) runs no command of its own: Valgrind prints its count without a
    Command line."""
    assert parse_counts(FORKED_STDERR) == [{"kind": "main", "instructions": 10_258_276_320},
                                           {"kind": "forked", "instructions": 9_111_222_333},
                                           {"kind": "forked", "instructions": 9_222_111_333}]
