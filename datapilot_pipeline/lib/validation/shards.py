"""Validation in shards: each shard checks a contiguous range of lines; the merge makes one report.

Shard k of n covers the non-blank lines at positions [k*N//n, (k+1)*N//n) of the file (N non-blank
lines), so shards need no coordination and any n gives the same report. A shard does the per-line
work (parsing, schema, evidence, PII, tokens, exact keys, MinHash signatures); the merge folds the
facts in line order and runs the duplicate pass over the stored keys and signatures, so duplicates
across shards, exact and near, are found as in one pass. With a shared LSH index (Redis) the shards
also insert their signatures and the merge only queries.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datapilot_pipeline.lib.atomic import atomic_write_bytes, atomic_write_json
from datapilot_pipeline.lib.validation.dedup import (
    NEAR_THRESHOLD, NUM_PERM, SHINGLE_HASH, dedup_signatures, index_signatures, line_signatures, lsh_index,
)
from datapilot_pipeline.lib.validation.facts import LineFacts, TokenMethod, analyze_records
from datapilot_pipeline.lib.validation.recipe import dataset_budget
from datapilot_pipeline.lib.validation.records import DatasetReadError, parse_record, read_lines, require_examples
from datapilot_pipeline.lib.validation.report import build_report
from datapilot_pipeline.lib.validation.tokens import DEFAULT_MAX_TOKENS, TokenCounter


class ShardMismatchError(ValueError):
    """Shard results that do not make up exactly one dataset under one set of options."""


@dataclass
class ShardResult:
    shard: int
    n_shards: int
    source_sha256: str
    token_method: TokenMethod
    max_tokens: int
    facts: list[LineFacts]
    signatures: dict[int, np.ndarray] = field(default_factory=dict)  # line -> MinHash hash values
    recipe: dict | None = None  # the report's `recipe` section (the dataset's prompt recipe, if any)
    shingle_hash: str = SHINGLE_HASH  # how its signatures' words were hashed (`dedup.SHINGLE_HASH`)

    def entries(self) -> list[tuple[int, str, np.ndarray | None]]:
        return [(f.line, f.key, self.signatures.get(f.line)) for f in self.facts if f.usable]


def shard_bounds(n_lines: int, shard: int, n_shards: int) -> tuple[int, int]:
    """Positions [start, end) among the non-blank lines that shard `shard` of `n_shards` covers."""
    if n_shards < 1 or not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} of {n_shards} does not exist")
    return shard * n_lines // n_shards, (shard + 1) * n_lines // n_shards


def dataset_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def validate_shard(path: str | Path, shard: int, n_shards: int, *, tokenizer_path: str | Path | None = None,
                   max_tokens: int = DEFAULT_MAX_TOKENS, index=None) -> ShardResult:
    """Check the lines of one shard; with a shared `index` (see `dedup.lsh_index`) insert their signatures."""
    lines = read_lines(path)
    start, end = shard_bounds(len(lines), shard, n_shards)
    records = [parse_record(n, raw) for n, raw in lines[start:end]]
    counter = TokenCounter(tokenizer_path)
    facts, varying = analyze_records(records, counter)
    entries = line_signatures(list(varying.items()))
    if index is not None:
        index_signatures(index, entries)
    _budget, recipe_section = dataset_budget(Path(path), tokenizer_path, max_tokens, None)
    return ShardResult(shard=shard, n_shards=n_shards, source_sha256=dataset_sha256(path),
                       token_method=TokenMethod(counter.method, counter.exact), max_tokens=max_tokens, facts=facts,
                       signatures={line: values for line, _key, values in entries if values is not None},
                       recipe=recipe_section)


def _check_complete(shards: list[ShardResult]) -> None:
    if not shards:
        raise ShardMismatchError("no shard results to merge")
    first = shards[0]
    for s in shards:
        if s.shingle_hash != SHINGLE_HASH:
            raise ShardMismatchError(f"shard {s.shard} hashed its words with {s.shingle_hash}, not {SHINGLE_HASH}: "
                                     f"validate its shards again")
        same = (s.n_shards, s.source_sha256, s.token_method, s.max_tokens)
        if same != (first.n_shards, first.source_sha256, first.token_method, first.max_tokens):
            raise ShardMismatchError(f"shard {s.shard} was made from another dataset or with other options")
    present = sorted(s.shard for s in shards)
    if present != list(range(first.n_shards)):
        raise ShardMismatchError(f"shards {present} do not make up all {first.n_shards} shards")


def merge_shard_results(shards: list[ShardResult], *, near_threshold: float = NEAR_THRESHOLD, run_gx: bool = True,
                        index=None, prefilled: bool = False) -> dict:
    """One report from every shard of one dataset, equal to validating the whole file in one pass.

    `index`: the LSH for the duplicate pass (default a fresh in-memory one); `prefilled` when the shards
    already inserted their signatures into it. Raises ShardMismatchError for an incomplete or mixed set and
    DatasetReadError when no line of the file is a JSON object (as the one-pass validation does)."""
    if prefilled and index is None:
        raise ValueError("prefilled needs the shared index the shards inserted into")
    _check_complete(shards)
    ordered = sorted(shards, key=lambda s: s.shard)
    facts = [f for s in ordered for f in s.facts]
    if not any(f.is_object for f in facts):
        raise DatasetReadError("the dataset is not JSONL: no line is a JSON object")
    require_examples("the dataset", [(f.line, f.problems, f.usable) for f in facts])
    entries = [e for s in ordered for e in s.entries()]
    dups = dedup_signatures(entries, near_threshold,
                            index if index is not None else lsh_index(near_threshold), prefilled=prefilled)
    report = build_report(facts, dups, ordered[0].token_method, max_tokens=ordered[0].max_tokens,
                          near_threshold=near_threshold, run_gx=run_gx)
    report["recipe"] = ordered[0].recipe
    report["source"] = {"sha256": ordered[0].source_sha256}
    report["shards"] = {"count": len(ordered), "lines": [len(s.facts) for s in ordered]}
    report["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return report


def save_shard(result: ShardResult, folder: str | Path) -> Path:
    """Write `shard_<k>.json` (facts) and `shard_<k>.npy` (signatures, one row per line) atomically."""
    folder = Path(folder)
    lines = sorted(result.signatures)
    matrix = np.array([result.signatures[n] for n in lines], dtype=np.uint64).reshape(len(lines), NUM_PERM)
    buffer = io.BytesIO()
    np.save(buffer, matrix, allow_pickle=False)
    atomic_write_bytes(folder / f"shard_{result.shard}.npy", buffer.getvalue())
    meta = {"shard": result.shard, "n_shards": result.n_shards, "source_sha256": result.source_sha256,
            "token_method": {"method": result.token_method.method, "exact": result.token_method.exact},
            "max_tokens": result.max_tokens, "signature_lines": lines, "facts": [f.as_dict() for f in result.facts],
            "recipe": result.recipe, "shingle_hash": result.shingle_hash}
    return atomic_write_json(folder / f"shard_{result.shard}.json", meta)


def load_shard(path: str | Path) -> ShardResult:
    """Read a shard written by `save_shard` (`path` is its .json file)."""
    path = Path(path)
    meta = json.loads(path.read_text(encoding="utf-8"))
    matrix = np.load(path.with_suffix(".npy"), allow_pickle=False)
    if len(matrix) != len(meta["signature_lines"]):
        raise ShardMismatchError(f"{path.with_suffix('.npy')} does not match {path.name}")
    return ShardResult(shard=meta["shard"], n_shards=meta["n_shards"], source_sha256=meta["source_sha256"],
                       token_method=TokenMethod(**meta["token_method"]), max_tokens=meta["max_tokens"],
                       facts=[LineFacts.from_dict(f) for f in meta["facts"]],
                       signatures=dict(zip(meta["signature_lines"], matrix)), recipe=meta.get("recipe"),
                       shingle_hash=meta.get("shingle_hash", "crc32"))  # shards saved before the field: CRC-32
