"""Atomic file writes: a temp file in the target's folder, fsync, then rename over the target.

A reader never sees a half-written file and a killed writer leaves the previous version intact. The file gets the
mode a plain `open()` would give it (0666 less the process umask, so group-readable by default), not the 0600 of
`mkstemp`: a daemon running as another user of the group can read what the pipeline wrote.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from datapilot_pipeline.lib.json_codec import dumps_compact


def process_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temp file beside `path`; on clean exit it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~process_umask())
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, sort_keys=True) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    """Write one compact JSON object per line; returns the path."""
    with atomic_open(path, "w") as fh:
        for row in rows:
            fh.write(dumps_compact(row))
            fh.write("\n")
    return Path(path)


class StagedFiles:
    """Several files written under temp names beside their targets, published together by `commit`.

    An export's dataset, its `_holdout.jsonl` and its `_recipe.json` belong together: a reader must never find a
    dataset without its recipe. Every file is written and fsynced first; `commit` then renames them into place
    with the `last` one (the file readers look for) renamed last, and fsyncs the folders. A failure before
    `commit` (or leaving the `with` block by an exception) removes every temp file and publishes nothing; a
    failure while renaming removes the targets this commit had created, so nothing is left half published.
    """

    def __init__(self) -> None:
        self._files: dict[Path, tuple[str, IO]] = {}

    def open(self, path: str | os.PathLike, mode: str = "wb") -> IO:
        """A temp file that will become `path` (binary unless `mode` says text, which is UTF-8); leave it open:
        `commit` flushes, fsyncs and closes it."""
        path = Path(path)
        if path in self._files:
            raise ValueError(f"{path} is staged twice")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~process_umask())
        fh = os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8")
        self._files[path] = (tmp, fh)
        return fh

    def commit(self, last: str | os.PathLike | None = None) -> None:
        last = Path(last) if last is not None else None
        for _tmp, fh in self._files.values():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
        order = sorted(self._files, key=lambda p: p == last)  # `last` after every other file
        created: list[Path] = []
        try:
            for path in order:
                existed = os.path.lexists(path)
                os.replace(self._files[path][0], path)
                if not existed:
                    created.append(path)
            for folder in {p.parent for p in order}:
                _fsync_dir(folder)
        except BaseException:
            for path in created:
                path.unlink(missing_ok=True)
            self.discard()
            raise
        self._files.clear()

    def discard(self) -> None:
        for tmp, fh in self._files.values():
            fh.close()
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self._files.clear()

    def __enter__(self) -> "StagedFiles":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.discard()  # after a commit there is nothing left to discard


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
