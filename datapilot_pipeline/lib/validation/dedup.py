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


def signature(shingles: np.ndarray):
    """The MinHash of pre-hashed 32-bit shingles."""
    global _TEMPLATE
    from datasketch import MinHash

    if _TEMPLATE is None:
        _TEMPLATE = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=_identity)
    # Reusing the permutations: drawing them anew per MinHash costs more than hashing a line.
    m = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=_identity, permutations=_TEMPLATE.permutations,
                scheme=_TEMPLATE.scheme)
    m.update_batch(shingles.tolist())
    return m


def find_duplicates(items: list[tuple[int, str]], threshold: float = NEAR_THRESHOLD) -> DuplicateResult:
    """`items` are (line, varying content) in file order; later lines are reported against earlier ones."""
    from datasketch import MinHashLSH

    result = DuplicateResult()
    seen: dict[str, int] = {}
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    signatures: dict[int, object] = {}
    hasher = _ShingleHasher()
    for line, content in items:
        key = exact_key(content)
        if key in seen:
            result.exact.append(line)
            result.pairs[line] = seen[key]
            continue
        seen[key] = line
        shingles = hasher(content)
        if len(shingles) == 0:
            continue
        sig = signature(shingles)
        matches = [c for c in lsh.query(sig) if sig.jaccard(signatures[c]) >= threshold]
        if matches:
            result.near.append(line)
            result.pairs[line] = min(matches)
        lsh.insert(line, sig)
        signatures[line] = sig
    return result
