"""No library may close a stream pytest owns: absl's logging handler (rouge_score imports absl) closes its stream
whenever logging's handlers are cleared, which every in-process Dagster run on an instance does. The top conftest
points that handler at the process's real stderr (see `_absl_logs_to_the_process_stderr`)."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg


def test_a_dagster_run_under_capfd_leaves_every_stream_open(capfd, tmp_path: Path) -> None:
    import absl.logging
    from rouge_score.rouge_scorer import RougeScorer  # noqa: F401 - what brings absl into a test session

    handler = absl.logging.get_absl_handler().python_handler
    assert handler.stream is sys.__stderr__  # not a capture file of this test or an earlier one

    @dg.asset
    def one() -> int:
        print("to the captured stdout")
        return 1

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert dg.materialize([one], instance=instance).success  # clears logging's handlers (dictConfig)
    assert not handler.stream.closed and not sys.__stderr__.closed
    print("still captured", file=sys.stderr)
    assert "still captured" in capfd.readouterr().err
