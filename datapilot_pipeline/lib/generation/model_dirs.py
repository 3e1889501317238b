"""Model folders on disk: what counts as one, and publishing one atomically (filled beside, then renamed in)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def staging_dir(out_dir: Path) -> Path:
    """An empty folder beside `out_dir` to fill and then rename in, with the process umask's permissions (mkdtemp
    makes it 0700)."""
    import os
    import tempfile

    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    return staging


def is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def publish_model_dir(out_dir: Path, fill: Callable[[Path], None]) -> Path:
    """`fill` a temp folder beside `out_dir`, then rename it in: readers see no model or the whole one. When
    another process published first, its folder is kept."""
    import os
    import shutil

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out_dir)
    try:
        fill(staging)
        try:
            os.rename(staging, out_dir)  # replaces an empty folder; fails when another process won the race
        except OSError:
            if not is_model_dir(out_dir):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir
