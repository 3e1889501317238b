"""The guard on the packaged data: a fingerprint that sees every written, added and removed file."""

from __future__ import annotations

import time
from pathlib import Path

from datapilot_pipeline_tests.package_data_guard import PACKAGE_DATA, changes, fingerprint


def test_the_guard_names_each_changed_added_and_removed_file(tmp_path: Path) -> None:
    (tmp_path / "demo_base").mkdir()
    (tmp_path / "seed_examples.jsonl").write_text("{}\n")
    (tmp_path / "demo_base" / "config.json").write_text("{}")
    (tmp_path / "holdout_test.jsonl").write_text("{}\n")
    before = fingerprint(tmp_path)
    assert changes(before, fingerprint(tmp_path)) == []

    (tmp_path / "seed_examples.jsonl").write_text("{}\n{}\n")
    (tmp_path / "demo_base" / "config.json").write_text("{}")  # rewritten with the same bytes: no change
    (tmp_path / "demo_base" / "extra.bin").write_bytes(b"\0")
    (tmp_path / "holdout_test.jsonl").unlink()
    (tmp_path / "scratch").mkdir()
    assert changes(before, fingerprint(tmp_path)) == [
        "added: demo_base/extra.bin", "removed: holdout_test.jsonl", "added: scratch",
        "changed: seed_examples.jsonl"]


def test_fingerprinting_the_package_data_is_cheap() -> None:
    start = time.perf_counter()
    found = fingerprint(PACKAGE_DATA)
    elapsed = time.perf_counter() - start
    assert "seed_examples.jsonl" in found and "demo_base/model.safetensors" in found
    assert elapsed < 2.0, f"{elapsed:.2f} s to fingerprint the package data"  # twice per session
