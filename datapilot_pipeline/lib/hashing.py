"""Content hashes of files: what lineage checks and metadata compare."""

from __future__ import annotations

import hashlib
import os

CHUNK_BYTES = 1 << 20  # read 1 MiB at a time: large datasets never sit in memory whole


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()
