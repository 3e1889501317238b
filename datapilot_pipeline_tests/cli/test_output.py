"""What the `datapilot` command shows: known library noise goes to the log only, other warnings still show, and no
raw ANSI reaches a pipe."""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

from datapilot_pipeline.cli import main
from datapilot_pipeline.cli._output import quiet_output
from datapilot_pipeline.lib.paths import Workspace

NOISE = ("`is_gradient_checkpointing` is deprecated and will be removed in v6. Use `is_activation_checkpointing` "
         "instead.")
MLFLOW_ADVICE = "\x1b[33mAdd type hints to the `predict` method to enable data validation.\x1b[0m"


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _noisy_command() -> None:
    warnings.warn(NOISE, FutureWarning)
    warnings.warn(MLFLOW_ADVICE, UserWarning)
    warnings.warn("something a user should see", UserWarning)
    sys.stderr.write("2026/12/06 05:18:48 INFO mlflow.store.db.utils: Creating initial MLflow database tables...\n")
    sys.stderr.write("\rLoading weights:  50%|#####     | 19/38\r")
    sys.stderr.write("\x1b[31mdatapilot: a line of our own\x1b[0m\n")
    print("\x1b[1mresult\x1b[0m")


def test_known_noise_goes_to_the_log_and_nothing_raw_reaches_a_pipe(tmp_path: Path, monkeypatch):
    out, err, log = _Pipe(), _Pipe(), tmp_path / "logs" / "datapilot.log"
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with quiet_output(log):
            _noisy_command()
    shown = err.getvalue()
    assert "is_gradient_checkpointing" not in shown and "Add type hints" not in shown
    assert "Creating initial MLflow database tables" not in shown and "Loading weights" not in shown
    assert "something a user should see" in shown and "datapilot: a line of our own" in shown
    assert "\x1b[" not in shown and out.getvalue() == "result\n"
    kept = log.read_text()
    assert all(text in kept for text in ("is_gradient_checkpointing", "Add type hints", "something a user should see",
                                         "Creating initial MLflow database tables"))
    assert "\x1b[" not in kept and "Loading weights" not in kept
    assert sys.stdout is out and sys.stderr is err  # restored


def test_a_terminal_keeps_its_colours_and_progress(tmp_path: Path, monkeypatch):
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    with quiet_output(tmp_path / "log"):
        sys.stderr.write("\rLoading weights:  50%\r")
        sys.stderr.write("\x1b[31mred\x1b[0m\n")
    assert err.getvalue() == "\rLoading weights:  50%\r\x1b[31mred\x1b[0m\n"


def test_the_command_line_runs_every_command_inside_it(home: Path, monkeypatch, capsys):
    from datapilot_pipeline.lib.ab import routing

    real = routing.route

    def noisy_route(job_id: str):
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn(NOISE, FutureWarning)
        return real(job_id)

    monkeypatch.setattr(routing, "route", noisy_route)
    assert main(["route", "job_1"]) == 0
    captured = capsys.readouterr()
    assert '"job_id": "job_1"' in captured.out and captured.err == ""
    assert "is_gradient_checkpointing" in Workspace(home).cli_log.read_text()


def test_nothing_is_logged_when_there_is_nothing_to_keep(home: Path, capsys):
    assert main(["route", "job_2"]) == 0
    assert not Workspace(home).cli_log.exists()
