"""Exact and near duplicates over the part of an example that varies.

Every prompt shares the system prompt and usually the few-shot block, so those say nothing about
duplication: the compared content is `lib.prompts.split_prompt(prompt)[1]` (the task block with its
compact EDA) plus the completion.

- exact: SHA-256 of that content, lower-cased with whitespace collapsed.
- near: MinHash (datasketch, `NUM_PERM` permutations) of word 3-gram shingles, indexed in a MinHash
  LSH at Jaccard `NEAR_THRESHOLD`; an LSH candidate counts only when the estimated Jaccard of the two
  signatures reaches the threshold too. Shingles are hashed once per distinct word (CRC-32) and
  combined with numpy, then fed to the MinHash in one batch.
A line is reported once: as exact when it repeats an earlier line exactly, else as near.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

from datapilot_pipeline.lib.prompts import split_prompt

NEAR_THRESHOLD = 0.8
NUM_PERM = 128
SHINGLE = 3
SEED = 1
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")
_MASK32 = np.uint64(0xFFFFFFFF)
# Odd 32-bit multipliers that mix the three word hashes of a shingle into one 32-bit value.
_MIX = (np.uint64(0x9E3779B1), np.uint64(0x85EBCA77), np.uint64(0xC2B2AE3D))


@dataclass
class DuplicateResult:
    exact: list[int] = field(default_factory=list)  # 1-based lines repeating an earlier line exactly
    near: list[int] = field(default_factory=list)  # ... nearly (and not exactly)
    pairs: dict[int, int] = field(default_factory=dict)  # duplicate line -> the earlier line it repeats


def varying_content(prompt: str, completion: str) -> str:
    return split_prompt(prompt)[1] + "\n" + completion


def exact_key(content: str) -> str:
    return hashlib.sha256(_SPACE.sub(" ", content).strip().lower().encode("utf-8")).hexdigest()


class _ShingleHasher:
    def __init__(self) -> None:
        self._words: dict[str, int] = {}

    def __call__(self, content: str) -> np.ndarray:
        words = _WORD.findall(content.lower())
        cache = self._words
        ids = np.fromiter((cache.get(w) or cache.setdefault(w, zlib.crc32(w.encode()) | 1) for w in words),
                          dtype=np.uint64, count=len(words))
        if len(ids) < SHINGLE:
            return ids
        mixed = ids[:-2] * _MIX[0] + ids[1:-1] * _MIX[1] + ids[2:] * _MIX[2]
        return np.unique((mixed ^ (mixed >> np.uint64(32))) & _MASK32)


def _identity(value: int) -> int:
    return value


_TEMPLATE = None


def _template():
    global _TEMPLATE
    from datasketch import MinHash

    if _TEMPLATE is None:
        _TEMPLATE = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=_identity)
    return _TEMPLATE


def signature(shingles: np.ndarray):
    """The MinHash of pre-hashed 32-bit shingles."""
    from datasketch import MinHash

    template = _template()
    # Reusing the permutations: drawing them anew per MinHash costs more than hashing a line.
    m = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=_identity, permutations=template.permutations,
                scheme=template.scheme)
    m.update_batch(shingles.tolist())
    return m


def as_minhash(hashvalues: np.ndarray):
    """A MinHash over stored hash values (for an LSH query or insert), sharing the template's permutations."""
    from datasketch import MinHash

    template = _template()
    return MinHash(seed=SEED, hashfunc=_identity, hashvalues=hashvalues, permutations=template.permutations,
                   scheme=template.scheme)


def line_signatures(items: list[tuple[int, str]]) -> list[tuple[int, str, np.ndarray | None]]:
    """(line, exact key, MinHash hash values) per item; no signature for an empty shingle set or for a line
    whose key already appeared in `items` (an exact duplicate never reaches the near-duplicate index)."""
    seen: set[str] = set()
    hasher = _ShingleHasher()
    out: list[tuple[int, str, np.ndarray | None]] = []
    for line, content in items:
        key = exact_key(content)
        if key in seen:
            out.append((line, key, None))
            continue
        seen.add(key)
        shingles = hasher(content)
        out.append((line, key, signature(shingles).hashvalues if len(shingles) else None))
    return out


def lsh_index(threshold: float = NEAR_THRESHOLD, storage_config: dict | None = None):
    """The near-duplicate index: in memory by default; `storage_config` as datasketch's MinHashLSH takes it,
    e.g. `{"type": "redis", "redis": {"host": ..., "port": ...}, "basename": b"..."}` to share it."""
    from datasketch import MinHashLSH

    return MinHashLSH(threshold=threshold, num_perm=NUM_PERM, storage_config=storage_config)


def dedup_signatures(entries: list[tuple[int, str, np.ndarray | None]], threshold: float = NEAR_THRESHOLD,
                     index=None, prefilled: bool = False) -> DuplicateResult:
    """Duplicates from `line_signatures` entries in file order: later lines are reported against earlier ones.

    `index` is an empty LSH filled here, or with `prefilled` one that already holds every entry that has a
    signature (shards insert in parallel). LSH candidates are kept only when they are earlier lines this pass
    indexed (not exact duplicates), so a shared index that also holds later or stale keys gives the same result
    as an index filled line by line."""
    result = DuplicateResult()
    seen: dict[str, int] = {}
    lsh = index if index is not None else lsh_index(threshold)
    indexed: dict[int, np.ndarray] = {}
    for line, key, values in entries:
        if key in seen:
            result.exact.append(line)
            result.pairs[line] = seen[key]
            continue
        seen[key] = line
        if values is None:
            continue
        sig = as_minhash(values)
        matches = [c for c in lsh.query(sig) if c < line and c in indexed
                   and np.count_nonzero(values == indexed[c]) / len(values) >= threshold]
        if matches:
            result.near.append(line)
            result.pairs[line] = min(matches)
        if not prefilled:
            lsh.insert(line, sig)
        indexed[line] = values
    return result


def index_signatures(index, entries: list[tuple[int, str, np.ndarray | None]]) -> int:
    """Insert every entry with a signature into a shared index (idempotent per key); returns how many."""
    count = 0
    with index.insertion_session() as session:
        for line, _key, values in entries:
            if values is not None:
                session.insert(line, as_minhash(values), check_duplication=False)
                count += 1
    return count


def find_duplicates(items: list[tuple[int, str]], threshold: float = NEAR_THRESHOLD,
                    storage_config: dict | None = None) -> DuplicateResult:
    """`items` are (line, varying content) in file order; later lines are reported against earlier ones."""
    return dedup_signatures(line_signatures(items), threshold, lsh_index(threshold, storage_config))


def redis_storage_config(host: str, port: int, dataset_sha256: str) -> dict:
    """datasketch storage for an LSH index in Redis, one key prefix per dataset (its content hash), so shards
    of one dataset share an index and two datasets never see each other's lines."""
    return {"type": "redis", "redis": {"host": host, "port": int(port)},
            "basename": f"datapilot:dedup:{dataset_sha256[:32]}".encode()}
