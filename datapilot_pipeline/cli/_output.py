"""What the `datapilot` command shows: its own lines, not the libraries' known chatter.

Libraries print things a user of this command cannot act on: deprecation notices of transformers, torch's pin_memory
note on CPU, MLflow's model-logging advice (in raw ANSI colour), its database-migration INFO lines and tqdm bars.
`quiet_output` keeps every warning and every line of stderr in the log (`Workspace.cli_log`, written only when there
is something to keep), shows on the terminal all but the known noise (`KNOWN_WARNINGS`, `KNOWN_LINES`), turns off the
progress bars of model loading and artifact downloads, and strips ANSI escape codes from what goes to a stream
that is not a terminal (a pipe, a file). Any other warning still reaches the terminal: only the known ones are quiet.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Warnings (message text) that say nothing a user of this command can act on; the log keeps them.
KNOWN_WARNINGS = tuple(re.compile(p) for p in (
    r"`(is_)?gradient_checkpointing` is deprecated",  # transformers 5 renames; TRL and PEFT still call the old names
    r"'pin_memory' argument is set as true but no accelerator is found",  # torch on CPU
    r"Add type hints to the `predict` method",  # MLflow pyfunc advice
    r"An input example was not provided when logging the model",  # MLflow: the signature is given explicitly
    r"The specified dataset source can be interpreted in multiple ways",  # MLflow: a local file is a local file
    r"Hint: Inferred schema contains integer column",  # MLflow signature advice
))
# stderr lines that are noise: MLflow's INFO log lines (database creation and migrations), alembic's.
KNOWN_LINES = tuple(re.compile(p) for p in (
    r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (INFO|DEBUG) (mlflow|alembic)",
    r"^(INFO|DEBUG) +\[alembic",
))
QUIET_ENV = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # "Downloading artifacts" tqdm bars
             "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' "Loading weights" bars
             "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


def known_noise(text: str) -> bool:
    plain = ANSI.sub("", text)
    return any(p.search(plain) for p in KNOWN_WARNINGS) or any(p.search(plain) for p in KNOWN_LINES)


class _Log:
    """Appends to the log file, created on first use; a log that cannot be written never breaks the command."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, text: str) -> None:
        text = ANSI.sub("", text)
        if not text.strip():
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {text.rstrip()}\n")
        except OSError:
            pass


class _Filtered:
    """A text stream in front of stdout or stderr: strips ANSI when the stream is not a terminal; for stderr, keeps
    every write in the log and drops known noise and carriage-return progress redraws (off a terminal)."""

    def __init__(self, stream: TextIO, log: _Log | None) -> None:
        self._stream, self._log = stream, log
        self._tty = _isatty(stream)

    def write(self, text: str) -> int:
        if self._log is not None:
            if "\r" not in text:  # a progress bar's redraws are not worth keeping
                self._log.write(text)
            if known_noise(text) or (not self._tty and text.startswith("\r")):
                return len(text)
        return self._stream.write(text if self._tty else ANSI.sub("", text))

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, buffer...
        return getattr(self._stream, name)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def quiet_output(log_path: Path) -> Iterator[None]:
    """While the command runs: known noise to the log only, ANSI off a terminal; everything restored after."""
    log = _Log(log_path)
    saved_env = {k: os.environ.get(k) for k in QUIET_ENV}
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    stdout, stderr, showwarning = sys.stdout, sys.stderr, warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        text = warnings.formatwarning(message, category, filename, lineno, line)
        log.write(text)
        if not known_noise(str(message)):
            target = file or stderr
            target.write(text if _isatty(target) else ANSI.sub("", text))

    sys.stdout, sys.stderr = _Filtered(stdout, None), _Filtered(stderr, log)
    warnings.showwarning = show
    try:
        yield
    finally:
        sys.stdout, sys.stderr, warnings.showwarning = stdout, stderr, showwarning
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
