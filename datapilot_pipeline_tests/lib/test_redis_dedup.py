"""Near-duplicate detection across shards through a MinHash LSH index stored in a real Redis server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from datapilot_pipeline.lib.atomic import dumps_compact
from datapilot_pipeline.lib.validation.dedup import find_duplicates, lsh_index, redis_storage_config
from datapilot_pipeline.lib.validation.report import validate_dataset
from datapilot_pipeline.lib.validation.sample_data import example_lines
from datapilot_pipeline.lib.validation.shards import dataset_sha256, merge_shard_results, validate_shard


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory):
    """A throwaway redis-server on 127.0.0.1 (no persistence), stopped after the module."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing in CI: scripts/install_services.sh installs it")
        pytest.skip("redis-server is not installed (scripts/install_services.sh installs it)")
    import redis

    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _dataset(tmp_path: Path) -> Path:
    rows = example_lines(40)
    rows[35] = rows[3]                                                   # exact, across shards
    for late, early in ((30, 5), (22, 21), (38, 12)):                    # near, across and within shards
        rows[late] = dict(rows[early], completion=rows[early]["completion"].replace("far above", "well above"))
    path = tmp_path / "d.jsonl"
    path.write_text("".join(dumps_compact(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _keys(port: int, prefix: bytes) -> int:
    import redis

    return len(list(redis.Redis(host="127.0.0.1", port=port).scan_iter(match=prefix + b"*")))


def test_shards_share_a_redis_index_and_merge_to_the_one_pass_report(tmp_path: Path, redis_port: int) -> None:
    path = _dataset(tmp_path)
    single = validate_dataset(path, run_gx=False).report
    assert single["duplicates"]["near"] == [23, 31, 39] and single["duplicates"]["exact"] == [36]
    config = redis_storage_config("127.0.0.1", redis_port, dataset_sha256(path))
    # Each shard opens its own client, as a shard on another machine would.
    shards = [validate_shard(path, k, 3, index=lsh_index(storage_config=config)) for k in range(3)]
    assert _keys(redis_port, config["basename"]) > 0
    merged = merge_shard_results(shards, run_gx=False, index=lsh_index(storage_config=config), prefilled=True)
    assert merged["duplicates"] == single["duplicates"]
    assert merged["quality_score"] == single["quality_score"]
    # A second run over the same index (keys already there, later lines included) finds the same pairs.
    again = [validate_shard(path, k, 3, index=lsh_index(storage_config=config)) for k in range(3)]
    rerun = merge_shard_results(again, run_gx=False, index=lsh_index(storage_config=config), prefilled=True)
    assert rerun["duplicates"] == single["duplicates"]


def test_redis_index_filled_line_by_line_equals_the_in_memory_default(tmp_path: Path, redis_port: int) -> None:
    items = [(n, f"revenue in region {n % 5} grew {n * 3} percent over the quarter for product line {n}")
             for n in range(1, 60)] + [(60, "revenue in region 2 grew 21 percent over the quarter for product line 7")]
    memory = find_duplicates(items, threshold=0.5)
    config = redis_storage_config("127.0.0.1", redis_port, "f" * 64)
    stored = find_duplicates(items, threshold=0.5, storage_config=config)
    assert memory.near, "the items must hold near duplicates for the comparison to mean anything"
    assert (stored.exact, stored.near, stored.pairs) == (memory.exact, memory.near, memory.pairs)
    assert _keys(redis_port, config["basename"]) > 0


def test_two_datasets_never_share_an_index(tmp_path: Path, redis_port: int) -> None:
    first = _dataset(tmp_path)
    second = tmp_path / "second.jsonl"
    second.write_text("".join(dumps_compact(r) + "\n" for r in example_lines(12, seed=4)), encoding="utf-8")
    a, b = (redis_storage_config("127.0.0.1", redis_port, dataset_sha256(p)) for p in (first, second))
    assert a["basename"] != b["basename"]
    validate_shard(first, 0, 1, index=lsh_index(storage_config=a))
    merged = merge_shard_results([validate_shard(second, 0, 1, index=lsh_index(storage_config=b))], run_gx=False,
                                 index=lsh_index(storage_config=b), prefilled=True)
    assert merged["duplicates"]["exact"] == [] and merged["duplicates"]["near"] == []
