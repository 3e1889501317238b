"""Exact and near duplicates over the part of an example that varies.

Every prompt shares the system prompt and usually the few-shot block, so those say nothing about
duplication: the compared content is `lib.prompts.split_prompt(prompt)[1]` (the task block with its
compact EDA) plus the completion.

- exact: SHA-256 of that content, lower-cased with whitespace collapsed.
- near: MinHash (datasketch, `NUM_PERM` permutations) of word 3-gram shingles, indexed in a MinHash
  LSH at Jaccard `NEAR_THRESHOLD`; an LSH candidate counts only when the estimated Jaccard of the two
  signatures reaches the threshold too. Every word is hashed (`SHINGLE_HASH`: a polynomial over its code
  points, all words of a chunk at once in numpy) and word triples are mixed with numpy; the minimum of
  datasketch's permutations over a line's shingles is computed in numpy (`signature_values`), and for the lines
  of a chunk in blocks (`signature_matrix`).
A line is reported once: as exact when it repeats an earlier line exactly, else as near.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datapilot_pipeline.lib.prompts import split_prompt

NEAR_THRESHOLD = 0.8
NUM_PERM = 128
SHINGLE = 3
SEED = 1
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
    """SHA-256 of the content lowercased, its whitespace runs as one space, none at the ends (`str.split` splits
    where `re`'s `\s` matches, 6x faster than `re.sub`: `test_exact_key_collapses_whitespace_as_re_does`)."""
    return hashlib.sha256(" ".join(content.split()).lower().encode("utf-8")).hexdigest()


# How words are hashed, recorded with stored signatures (shard files, the Redis key prefix): signatures made with
# another word hash are not comparable. A word is a run of `\w` (Python's: `str.isalnum()` or "_") in the
# lowercased text; its hash is the polynomial in its code points with base `_WORD_BASE` mod 2**64, then the
# MurmurHash3 64-bit finalizer, made odd.
SHINGLE_HASH = "poly64-fmix64"
_WORD_BASE = 0x9E3779B97F4A7C15
_WORD_BASE_INVERSE = pow(_WORD_BASE, -1, 1 << 64)
_WORD_TABLE = 1 << 19  # code points hashed at a time: the power tables (2 x 4 MB) are made once per process
_ASCII_WORD = np.array([chr(i).isalnum() or chr(i) == "_" for i in range(128)] + [False])
_FMIX64 = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
_POWER_TABLES: tuple[np.ndarray, np.ndarray] | None = None


def _powers(base: int, n: int) -> np.ndarray:
    steps = np.full(n, base, dtype=np.uint64)
    steps[:1] = 1
    return np.cumprod(steps)  # uint64 products wrap: the powers mod 2**64


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(base**k, base**-k mod 2**64) for k < n at least: this process's tables, or made for a longer text. Tables
    shorter than `n` are made again (a test may have shrunk `_WORD_TABLE` when they were first made)."""
    global _POWER_TABLES
    if n > _WORD_TABLE:
        return _powers(_WORD_BASE, n), _powers(_WORD_BASE_INVERSE, n)
    if _POWER_TABLES is None or len(_POWER_TABLES[0]) < n:
        _POWER_TABLES = _powers(_WORD_BASE, _WORD_TABLE), _powers(_WORD_BASE_INVERSE, _WORD_TABLE)
    return _POWER_TABLES


def _is_word(codes: np.ndarray) -> np.ndarray:
    """`\w` of Python's `re` for each code point: a table for ASCII, `str.isalnum` once per other distinct one."""
    word = _ASCII_WORD[np.minimum(codes, 128)]
    wide = np.flatnonzero(codes >= 128)
    if len(wide):
        distinct, where = np.unique(codes[wide], return_inverse=True)
        word[wide] = np.array([chr(c).isalnum() for c in distinct.tolist()], dtype=bool)[where]
    return word


def _batch_word_hashes(lowered: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """`_word_hashes` of lowercased contents, joined by NUL (no word character) into one array of code points. A
    word [s, e) hashes to sum(c[j] * base**(e-1-j)): the prefix sums of c[j] * base**-j give every word's sum at
    once, times base**(e-1). Few large temporaries: each would cost its page faults again (glibc returns them)."""
    counts = np.zeros(len(lowered), dtype=np.int64)
    text = "\x00".join(lowered)
    if not text:
        return np.zeros(0, dtype=np.uint64), counts
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = len(codes)
    edges = np.flatnonzero(np.diff(np.concatenate(([False], _is_word(codes), [False])).view(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    powers, inverse = _power_tables(n)
    prefix = np.empty(n + 1, dtype=np.uint64)
    prefix[0] = 0
    np.multiply(codes, inverse[:n], out=prefix[1:])
    np.cumsum(prefix[1:], out=prefix[1:])  # uint64 sums wrap: mod 2**64
    hashes = (prefix[ends] - prefix[starts]) * powers[ends - 1]
    shift, m1, m2 = _FMIX64
    hashes ^= hashes >> shift
    hashes *= m1
    hashes ^= hashes >> shift
    hashes *= m2
    hashes ^= hashes >> shift
    lengths = np.fromiter(map(len, lowered), dtype=np.int64, count=len(lowered))
    offsets = np.concatenate(([0], np.cumsum(lengths + 1)))  # where each content starts in the joined text
    counts[:] = np.diff(np.searchsorted(starts, offsets))
    return hashes | np.uint64(1), counts


def _word_hashes(contents: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(the hash of every word of every content (`SHINGLE_HASH`), in order; each content's word count), contents
    taken in batches of about `_WORD_TABLE` code points (a longer content alone)."""
    lowered = [content.lower() for content in contents]
    parts, batch, size = [], [], 0
    for text in lowered:
        if batch and size + len(text) + 1 > _WORD_TABLE:
            parts.append(_batch_word_hashes(batch))
            batch, size = [], 0
        batch.append(text)
        size += len(text) + 1
    parts.append(_batch_word_hashes(batch))
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([ids for ids, _ in parts]), np.concatenate([counts for _, counts in parts])


class _ShingleHasher:
    def __call__(self, content: str) -> np.ndarray:
        ids, _counts = _word_hashes([content])
        if len(ids) < SHINGLE:
            return ids
        mixed = ids[:-2] * _MIX[0] + ids[1:-1] * _MIX[1] + ids[2:] * _MIX[2]
        return np.unique((mixed ^ (mixed >> np.uint64(32))) & _MASK32)


def _identity(value: int) -> int:
    return value


_TEMPLATE = None
_SCHEME = "affine32"  # datasketch's default since 2.0: a * fmix32(h) + b mod 2**32 per permutation


def _template():
    global _TEMPLATE
    from datasketch import MinHash

    if _TEMPLATE is None:
        _TEMPLATE = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=_identity, scheme=_SCHEME)
    return _TEMPLATE


@dataclass(frozen=True)
class Permutations:
    """What hashing a line with the template's permutations (datasketch's affine32 scheme) needs (`signature_values`,
    `signature_matrix`): its (a, b) arrays and its initial hash values. Small and plain, so a worker process gets
    them with its spec and never imports datasketch (~0.75 s of CPU per process: its package imports SciPy's
    integrators)."""

    permutations: tuple[np.ndarray, np.ndarray]
    hashvalues: np.ndarray


_PERMUTATIONS: Permutations | None = None


def _affine32_permutations(num_perm: int = NUM_PERM, seed: int = SEED) -> Permutations:
    """The permutations and initial values of datasketch's `MinHash(num_perm, seed, scheme="affine32")`, drawn as
    its `_init_permutations` draws them (odd `a` below 2**32, `b` below 2**32, from `RandomState(seed)`), without
    importing datasketch (`test_permutations_and_bands_are_datasketchs` holds them to its template)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return Permutations((a, b), np.full(num_perm, (1 << 32) - 1, dtype=np.uint32))


def template_permutations() -> Permutations:
    """This process's `Permutations`: given by `use_permutations`, else those of the datasketch template."""
    global _PERMUTATIONS
    if _PERMUTATIONS is None:
        _PERMUTATIONS = _affine32_permutations()
    return _PERMUTATIONS


def band_params(threshold: float = NEAR_THRESHOLD, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band) of `lsh_index(threshold)`: datasketch's `_optimal_param`, the (b, r) with b * r <=
    num_perm that minimizes the false positive plus false negative probability mass around the threshold, computed
    without importing datasketch, which imports SciPy's integrators: ~0.5 s before a validation could start its
    workers. Both integrands are polynomials of degree b * r <= num_perm, so Gauss-Legendre quadrature with
    num_perm // 2 + 1 nodes integrates them exactly (datasketch uses `scipy.integrate.quad`); tested equal to
    datasketch's choice from 0.05 to 0.95."""
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    below = threshold / 2 * (nodes + 1)  # the nodes mapped to [0, threshold] and [threshold, 1]
    above = threshold + (1 - threshold) / 2 * (nodes + 1)
    best, chosen = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            false_positive = threshold / 2 * weights @ (1 - (1 - below ** r) ** b)
            false_negative = (1 - threshold) / 2 * weights @ ((1 - above ** r) ** b)
            error = 0.5 * false_positive + 0.5 * false_negative
            if error < best:
                best, chosen = error, (b, r)
    return chosen


def use_permutations(permutations: Permutations) -> None:
    """Hash with `permutations` in this process (a worker gets the parent's)."""
    global _PERMUTATIONS
    _PERMUTATIONS = permutations


_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))


def _fmix32(hv: np.ndarray) -> np.ndarray:
    """The MurmurHash3 32-bit finalizer on uint32 arrays, as datasketch's `minhash._fmix(hv, 32)` computes it
    (`test_the_finalizer_is_datasketchs`)."""
    s1, m1, s2, m2, s3 = _FMIX32
    hv = hv ^ (hv >> s1)
    hv = hv * m1
    hv = hv ^ (hv >> s2)
    hv = hv * m2
    return hv ^ (hv >> s3)


def signature_values(shingles: np.ndarray) -> np.ndarray:
    """The hash values of the template's datasketch MinHash updated with pre-hashed 32-bit `shingles`, without
    building one: its affine32 scheme (MurmurHash3 finalizer, then a * h + b mod 2**32 per permutation, the minimum
    over shingles) as one numpy expression (`test_signature_values_are_datasketchs`)."""
    template = template_permutations()
    a, b = template.permutations
    mixed = _fmix32(shingles.astype(np.uint32).reshape(-1, 1))
    return np.minimum(template.hashvalues, (mixed * a + b).min(axis=0))


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
        out.append((line, key, signature_values(shingles) if len(shingles) else None))
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
            "basename": f"datapilot:dedup:{SHINGLE_HASH}:{dataset_sha256[:32]}".encode()}


_BAND_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class ChunkSignatures:
    """What `StreamingDuplicates` keeps of a chunk of lines: line numbers, 128 bits of each exact key, the MinHash
    signatures (uint32) of the lines that have shingles, their LSH band hashes, and per line its row among the
    chunk's signatures (-1: none). Small arrays, cheap to send between processes."""

    lines: np.ndarray
    keys: np.ndarray
    sig_rows: np.ndarray
    signatures: np.ndarray
    bands: np.ndarray


# Shingles permuted at a time, as a (128 permutations x shingles) block: each permutation's values of a content are
# then contiguous, and `np.minimum.reduceat` along them runs 8x faster than across the rows of the transposed block
# (2.3 against 19 ms for a 250-line chunk); 8,192 (4 MB) was the fastest of 2k-16k.
_SHINGLES_PER_BLOCK = 8192


def signature_matrix(contents: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(`signature_values` of each content's shingles, one uint32 row per content that has shingles; which contents
    have them): the same values as hashing each content on its own (`_ShingleHasher`, `signature_values`), with
    the words of all contents hashed in one pass and the permutations applied to blocks of many contents' shingles
    at once (the minimum over a content's shingles is the same whatever their order or repeats)."""
    ids, counts = _word_hashes(contents)
    has = counts > 0
    rows = np.zeros((int(has.sum()), NUM_PERM), dtype=np.uint32)
    if not len(rows):
        return rows, has
    template = template_permutations()
    # A content's shingles: its word triples mixed into 32 bits, or its words when it has fewer than three.
    ends = np.cumsum(counts)
    starts = ends - counts
    line_of = np.repeat(np.arange(len(counts)), counts)
    mixed = ids[:-2] * _MIX[0] + ids[1:-1] * _MIX[1] + ids[2:] * _MIX[2]
    triples = np.flatnonzero(line_of[:-2] == line_of[2:]) if len(ids) >= SHINGLE else np.zeros(0, dtype=np.int64)
    short = np.flatnonzero(has & (counts < SHINGLE))
    short_words = np.concatenate([np.arange(starts[k], ends[k]) for k in short]) if len(short) else triples[:0]
    values = np.concatenate([(mixed[triples] ^ (mixed[triples] >> np.uint64(32))) & _MASK32, ids[short_words]])
    owner = np.concatenate([line_of[triples], line_of[short_words]])
    order = np.argsort(owner, kind="stable")
    owner = owner[order]
    hashed = _fmix32(values[order].astype(np.uint32))
    a, b = (column.reshape(-1, 1) for column in template.permutations)
    row_of = np.cumsum(has) - 1  # content -> its row
    bounds = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])  # first shingle of each content with shingles
    buffer = np.empty((NUM_PERM, min(_SHINGLES_PER_BLOCK, len(hashed))), dtype=np.uint32)  # reused: no page faults
    block_start = 0
    while block_start < len(bounds):
        first = bounds[block_start]
        if len(values) - first <= _SHINGLES_PER_BLOCK:  # the contents left fit in one block
            block_end = len(bounds)
        else:  # the contents that end within a block; one longer than a block alone
            ending = int(np.searchsorted(bounds, first + _SHINGLES_PER_BLOCK, side="right")) - 1
            block_end = max(ending, block_start + 1)
        last = bounds[block_end] if block_end < len(bounds) else len(values)
        if last - first > buffer.shape[1]:
            buffer = np.empty((NUM_PERM, last - first), dtype=np.uint32)
        permuted = np.multiply(hashed[first:last], a, out=buffer[:, :last - first])  # permutation k's values in row k
        permuted += b  # (uint32 arithmetic wraps as datasketch's)
        mins = np.minimum.reduceat(permuted, bounds[block_start:block_end] - first, axis=1).T
        rows[row_of[owner[bounds[block_start:block_end]]]] = np.minimum(template.hashvalues, mins)
        block_start = block_end
    return rows, has


def chunk_signatures(items: list[tuple[int, str]], b: int, r: int,
                     exact_keys: list[str] | None = None) -> ChunkSignatures | None:
    """`ChunkSignatures` of (line, varying content) items for an LSH of `b` bands of `r` rows; None for no items.
    `exact_keys`: the items' `exact_key`s when already computed."""
    if not items:
        return None
    contents = [content for _line, content in items]
    if exact_keys is None:
        exact_keys = [exact_key(content) for content in contents]
    keys = np.array([(int(key[:16], 16), int(key[16:32], 16)) for key in exact_keys], dtype=np.uint64).reshape(-1, 2)
    signatures, has = signature_matrix(contents)
    sig_rows = np.where(has, np.cumsum(has) - 1, -1).astype(np.int64)
    rows = signatures[:, :b * r].astype(np.uint64).reshape(len(signatures), b, r)  # [line, band, row in band]
    bands = np.zeros((len(signatures), b), dtype=np.uint64)
    for k in range(r):  # every band's k-th value at once: the loop over bands is numpy's
        bands ^= rows[:, :, k]
        bands *= _BAND_MIX
        bands ^= bands >> np.uint64(29)
    lines = np.fromiter((line for line, _ in items), dtype=np.int64, count=len(items))
    return ChunkSignatures(lines, keys, sig_rows, signatures, bands)  # MinHash values < 2**32


class StreamingDuplicates:
    """`find_duplicates` for a file read in chunks, in memory that does not grow with the lines' size.

    Per usable line it keeps the line number, 128 bits of the exact key and its row among the signatures, 32 bytes a
    line; the MinHash signatures and their LSH band hashes (the bands of `lsh_index(threshold)`: datasketch's own
    b x r split, one 64-bit hash per band) go to temp files, a file per band. `result` then finds what the
    line-by-line LSH pass finds: exact duplicates by sorting the keys; near-duplicate candidates as the earlier lines
    sharing a band (what an LSH query returns), each kept when the two signatures agree on at least `threshold` of
    their values. Exact duplicates take no part in the near pass, as they never reach the index there."""

    def __init__(self, folder: str | Path, threshold: float = NEAR_THRESHOLD) -> None:
        self.threshold = threshold
        self.b, self.r = band_params(threshold)
        folder = Path(folder)
        self._sig_path = folder / "minhash.u32"
        self._sig_file = self._sig_path.open("wb")
        self._band_paths = [folder / f"band_{band}.u64" for band in range(self.b)]
        self._band_files = [path.open("wb") for path in self._band_paths]
        self._rows = 0  # signatures written
        self._lines: list[np.ndarray] = []
        self._keys: list[np.ndarray] = []
        self._sig_rows: list[np.ndarray] = []

    def add(self, items: list[tuple[int, str]]) -> None:
        """(line, varying content) of a chunk of lines, in file order."""
        self.append(chunk_signatures(items, self.b, self.r))

    def append(self, chunk: "ChunkSignatures | None") -> None:
        """A chunk's `chunk_signatures` (computed here or in another process), chunks in file order."""
        if chunk is None:
            return
        sig_rows = np.where(chunk.sig_rows >= 0, chunk.sig_rows + self._rows, -1)
        if len(chunk.signatures):
            self._sig_file.write(chunk.signatures.tobytes())
            for band, file in enumerate(self._band_files):
                file.write(np.ascontiguousarray(chunk.bands[:, band]).tobytes())
            self._rows += len(chunk.signatures)
        self._lines.append(chunk.lines)
        self._keys.append(chunk.keys)
        self._sig_rows.append(sig_rows)

    def _close(self) -> None:
        for file in (self._sig_file, *self._band_files):
            file.close()

    def _signature(self, fd: int, row: int) -> np.ndarray:
        width = NUM_PERM * 4
        return np.frombuffer(os.pread(fd, width, row * width), dtype=np.uint32)

    def result(self) -> DuplicateResult:
        self._close()
        result = DuplicateResult()
        if not self._lines:
            return result
        lines, keys = np.concatenate(self._lines), np.concatenate(self._keys)
        sig_rows = np.concatenate(self._sig_rows)
        self._lines, self._keys, self._sig_rows = [], [], []  # the chunks' arrays are now copied
        order = np.lexsort((lines, keys[:, 1], keys[:, 0]))
        sorted_keys = keys[order]
        del keys
        starts = np.ones(len(order), dtype=bool)
        starts[1:] = np.any(sorted_keys[1:] != sorted_keys[:-1], axis=1)
        del sorted_keys
        first_of_group = lines[order][np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
        exact_pos = order[~starts]
        pairs = {int(lines[p]): int(f) for p, f in zip(exact_pos, first_of_group[~starts])}
        del order, starts, first_of_group
        result.exact = sorted(pairs)
        # near: rows with a signature that are not exact duplicates
        is_exact = np.zeros(len(lines), dtype=bool)
        is_exact[exact_pos] = True
        eligible = np.flatnonzero((sig_rows >= 0) & ~is_exact)
        near: dict[int, int] = {}
        if len(eligible):
            fd = os.open(self._sig_path, os.O_RDONLY)
            try:
                near = self._near(lines[eligible], sig_rows[eligible], fd)
            finally:
                os.close(fd)
        result.near = sorted(near)
        pairs.update(near)
        result.pairs = dict(sorted(pairs.items()))
        return result

    def _band_order(self, band: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For one band: the positions 0..n-1 of the eligible lines sorted by (band hash, line), and per line the
        place in that order where its bucket starts and its own place (int32: 12 bytes a line)."""
        n = len(rows)
        values = np.fromfile(self._band_paths[band], dtype=np.uint64)[rows]
        order = np.argsort(values, kind="stable").astype(np.int32)  # lines ascend: ties stay in line order
        values = values[order]
        new_group = np.r_[True, values[1:] != values[:-1]]
        del values
        group_start = np.maximum.accumulate(np.where(new_group, np.arange(n, dtype=np.int32), 0)).astype(np.int32)
        position = np.empty(n, dtype=np.int32)
        position[order] = np.arange(n, dtype=np.int32)
        return order, group_start[position], position

    def _near(self, lines: np.ndarray, rows: np.ndarray, fd: int) -> dict[int, int]:
        """later line -> the earliest earlier line sharing a band with it whose signature agrees on at least
        `threshold` of its values, for `lines` (ascending) with their signature rows.

        What the LSH pass finds (the minimum over every band's bucket-mates), without listing every pair: a bucket of
        k near-copies of one table holds k^2/2 pairs (10 million pairs and 1.3 GB at 100k jobs made from 300 tables).
        Per band the lines are sorted by (hash, line), so each line's earlier bucket-mates are a sorted slice; a
        line's candidates are those slices merged in line order, checked until one passes. Lines are handled by
        their position in `lines`, which orders them as their numbers do."""
        import heapq

        bands = [self._band_order(band, rows) for band in range(self.b)]
        has_mate = np.zeros(len(lines), dtype=bool)
        for _order, first, own in bands:
            has_mate |= first < own
        near: dict[int, int] = {}
        for k in np.flatnonzero(has_mate).tolist():
            slices = [order[first[k]:own[k]] for order, first, own in bands]
            signature, tried = None, set()
            for earlier in heapq.merge(*(iter(s.tolist()) if len(s) < 64 else iter(s) for s in slices if len(s))):
                earlier = int(earlier)
                if earlier in tried:
                    continue
                tried.add(earlier)
                if signature is None:
                    signature = self._signature(fd, int(rows[k]))
                if np.count_nonzero(signature == self._signature(fd, int(rows[earlier]))) / NUM_PERM >= self.threshold:
                    near[int(lines[k])] = int(lines[earlier])
                    break
        return near
