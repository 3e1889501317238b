"""The packaged data (`datapilot_pipeline/data/`: seed examples, holdout, demo base, PII lexicon) is read-only to
the test suite: a test that writes there changes what every later install ships. The top conftest fingerprints the
tree when the session starts and fails the session, naming the files, when it differs at the end."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE_DATA = Path(__file__).resolve().parents[1] / "datapilot_pipeline" / "data"


def fingerprint(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under `root` (`dir` for a folder, `link:<target>` for a link):
    7.7 MB of package data hashes in tens of milliseconds."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in dirnames:
            found[str((here / name).relative_to(root))] = "dir"
        for name in filenames:
            path = here / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = f"link:{os.readlink(path)}"
                continue
            with open(path, "rb") as fh:
                found[rel] = hashlib.file_digest(fh, "sha256").hexdigest()
    return found


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What differs, one line per path, sorted: `added`, `removed` or `changed`."""
    lines = [f"changed: {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    lines += [f"added: {p}" for p in after.keys() - before.keys()]
    lines += [f"removed: {p}" for p in before.keys() - after.keys()]
    return sorted(lines, key=lambda line: line.split(": ", 1)[1])
