"""The shortcuts of the validation benchmark round change no result: the PII cells a line is cut into and the cache
of what is clean, the MinHash signatures of a chunk computed in blocks, the duplicate pass with its bands on disk,
`eda_numbers` without recursion, and the collector frozen during a run."""

from __future__ import annotations

import gc
import json
import random
import re
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapilot_pipeline.lib.atomic import dumps_compact
from datapilot_pipeline.lib.collector import YOUNG_THRESHOLD, objects_alive_now_frozen
from datapilot_pipeline.lib.grounding import eda_numbers
from datapilot_pipeline.lib.pii.cells import column_hint
from datapilot_pipeline.lib.validation.dedup import (
    StreamingDuplicates, _ShingleHasher, find_duplicates, signature_matrix, signature_values,
)
from datapilot_pipeline.lib.validation.pii_scan import (
    _JSON_STRING, ScanCache, _decode, line_parts, scan_records,
)
from datapilot_pipeline_tests.lib.test_validation_stream import _lines

_TRICKY = [
    '{"prompt": "a", "prompt": "Call Maria Gonzalez", "completion": "x"}',  # a key written twice
    '{"customer_name": "Maria Gonzalez", "mobile": "4155552671", "note": "ok", "n": 3, "e": ""}',
    '{"prompt": "sys\\n{\\"customer_name\\": \\"Ana Ruiz\\", \\"k\\": [\\"x\\", 1]}\\nInsights:\\n", '
    '"completion": "c"}',
    '{"prompt": "sys\\n{\\"say\\": \\"a \\\\\\"quoted\\\\\\" word\\", \\"mobile\\": \\"4155552671\\"}\\n", '
    '"completion": "{}"}',
    '{"prompt": "line\\n{not json\\n[1, \\"two\\"]\\n", "completion": "d\\u00e9j\\u00e0 vu, jane@example.com"}',
    '["a string in an array", {"name": "Maria Gonzalez"}, [["deep"]]]',
    '"just a string with\\nfour lines\\n{\\"mobile\\": \\"4155552671\\"}\\nend"',
    '{"prompt": "x", "completion": "y"',  # said to be JSON by a caller, but cut short
    'not json: call 415-555-2671',
]


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _reference_cells(raw: str, is_json: bool) -> Counter:
    """The cells the earlier code cut a line into: every string literal the pattern finds, a string value with its
    key as the column, strings holding text lines cut into those lines (JSON ones by the pattern again)."""
    out: Counter = Counter()

    def json_text(text: str, nested: bool) -> None:
        for key_literal, value_literal in _JSON_STRING.findall(text):
            key = _decode(key_literal)
            cells = [(None, key)] + ([(column_hint(key), _decode(value_literal))] if value_literal else [])
            for column, value in cells:
                if nested and ("\n" in value or value[:1] in ("{", "[")):
                    text_lines(value)
                else:
                    out[(column, value)] += 1

    def text_lines(text: str) -> None:
        for line in text.split("\n"):
            if line[:1] in ("{", "[") and _parses(line):
                json_text(line, nested=False)
            else:
                out[(None, line)] += 1

    json_text(raw, nested=True) if is_json else text_lines(raw)
    return Counter({c: n for c, n in out.items() if c[1]})


def _cells_of(raw: str, is_json: bool, cache: ScanCache) -> Counter:
    return Counter(c for *_, cells in line_parts(raw, is_json, cache) for c in cells if c[1])


def test_a_line_is_cut_into_the_cells_the_string_pattern_finds() -> None:
    for raw in _TRICKY + _lines(60):
        is_json = raw.startswith(("{", "[", '"'))
        assert _cells_of(raw, is_json, ScanCache()) == _reference_cells(raw, is_json), raw[:80]


def test_what_the_cache_knows_clean_leaves_no_finding_out() -> None:
    """Line by line with one cache (its clean parts skipped) or a fresh one each time: the same findings."""
    records = [(n, raw.startswith(("{", "[", '"')), raw) for n, raw in enumerate(_TRICKY + _lines(240) + _TRICKY, 1)]
    warm = ScanCache()
    for start in range(0, len(records), 37):
        chunk = records[start:start + 37]
        a = scan_records(chunk, warm)
        b = scan_records(chunk, ScanCache())
        assert (a.by_line, a.by_entity, a.locales_by_line, a.by_locale) == \
            (b.by_line, b.by_entity, b.locales_by_line, b.by_locale)
    assert warm.clean_lines and warm.clean_literals  # the shared prompt and the EDA keys were learned
    assert {n for n, *_ in records if n > len(records) - len(_TRICKY)} & set(a.lines)  # the PII was still found


def test_the_scan_cache_stays_bounded_on_lines_that_never_repeat() -> None:
    cache = ScanCache(limit=300, char_limit=20_000)
    rng = random.Random(3)
    for start in range(0, 3000, 100):
        lines = [dumps_compact({"prompt": f"head\n{dumps_compact({'v': rng.random(), 'k': f'w{rng.random()}'})}",
                                "completion": f"text {rng.random()}"}) for _ in range(100)]
        scan_records([(start + k, True, line) for k, line in enumerate(lines)], cache)
        held = len(cache.findings) + len(cache.clean_lines) + len(cache.clean_literals) + len(cache._seen_once)
        assert held < 4 * 300 + 2000  # a trim at the start of each batch of 250 lines keeps it near the limit
        assert cache._clean_chars <= 20_000 + 250 * 200


def test_signatures_in_blocks_are_those_of_each_content_alone(monkeypatch) -> None:
    from datapilot_pipeline.lib.validation import dedup

    rng = random.Random(9)
    contents = ["", "one", "two words", "!!!", "Déjà vu: ÉTÉ été", "a b c"] + \
        [" ".join(f"w{rng.randrange(300)}" for _ in range(rng.randrange(0, 400))) for _ in range(60)]
    monkeypatch.setattr(dedup, "_SHINGLES_PER_BLOCK", 97)  # many blocks, and contents longer than a block
    rows, has = signature_matrix(contents)
    hasher = _ShingleHasher()
    want = [signature_values(hasher(c)) for c in contents if len(hasher(c))]
    assert has.tolist() == [len(hasher(c)) > 0 for c in contents]
    assert rows.dtype == np.uint32 and np.array_equal(rows, np.array(want, dtype=np.uint32))


def test_the_finalizer_is_datasketchs() -> None:
    from datasketch.minhash import _fmix

    from datapilot_pipeline.lib.validation.dedup import _fmix32

    rng = np.random.default_rng(4)
    values = np.concatenate([np.array([0, 1, 2**31, 2**32 - 1], dtype=np.uint32),
                             rng.integers(0, 2**32, 5000, dtype=np.uint64).astype(np.uint32)]).reshape(-1, 1)
    assert np.array_equal(_fmix32(values), _fmix(values, 32)) and _fmix32(values).dtype == np.uint32


def test_permutations_and_bands_are_datasketchs() -> None:
    """The permutations and LSH bands validation computes itself are datasketch's: its template MinHash's arrays, and
    `MinHashLSH`'s (b, r) from 0.05 to 0.95 (bands and rows change a dozen times over that range)."""
    from datasketch import MinHash, MinHashLSH

    from datapilot_pipeline.lib.validation.dedup import NUM_PERM, SEED, _affine32_permutations, band_params

    template, ours = MinHash(num_perm=NUM_PERM, seed=SEED), _affine32_permutations()
    assert template.scheme == "affine32"  # datasketch's default, which `dedup._template` also names
    assert all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(template.permutations, ours.permutations))
    assert np.array_equal(template.hashvalues, ours.hashvalues) and template.hashvalues.dtype == ours.hashvalues.dtype
    chosen = {}
    for threshold in [n / 100 for n in range(5, 96, 5)] + [0.8, 0.85]:
        index = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        chosen[threshold] = band_params(threshold)
        assert chosen[threshold] == (index.b, index.r), threshold
    assert len(set(chosen.values())) > 10


def test_signature_values_are_datasketchs() -> None:
    """A line's MinHash values equal datasketch's MinHash with the same permutations updated with its shingles."""
    from datasketch import MinHash

    from datapilot_pipeline.lib.validation.dedup import NUM_PERM, SEED, _identity, signature_values

    rng = np.random.default_rng(9)
    for size in (1, 2, 3, 40, 700):
        shingles = rng.integers(0, 2**32, size, dtype=np.uint64)
        reference = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=_identity, scheme="affine32")
        reference.update_batch(shingles.tolist())
        assert np.array_equal(signature_values(shingles), reference.hashvalues), size


def test_a_validation_in_one_process_never_imports_datasketch(tmp_path) -> None:
    """The main process of a validation computes its bands and permutations without datasketch (and SciPy's
    integrators), so it starts its workers without that import."""
    path = tmp_path / "lines.jsonl"
    path.write_text("\n".join(_lines(60)) + "\n", encoding="utf-8")
    code = ("import sys\nfrom datapilot_pipeline.lib.validation.report import validate_dataset\n"
            f"v = validate_dataset({str(path)!r}, run_gx=False, workers=1)\n"
            "assert v.report['duplicates']['exact'], v.report['duplicates']  # the pass ran: a copy is planted\n"
            "assert 'datasketch' not in sys.modules and 'scipy.integrate' not in sys.modules, 'datasketch imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_worker_checks_a_chunk_without_datasketch_and_as_this_process_does(tmp_path) -> None:
    """A validation worker gets the MinHash permutations with its spec: it never imports datasketch (or SciPy), and
    its chunk results (signatures, LSH bands, facts) are this process's."""
    import pickle

    from datapilot_pipeline.lib.validation import report

    lines = [line for line in _lines(60) if line.startswith("{")]
    chunk = list(enumerate(lines, start=1))
    duplicates = StreamingDuplicates(str(tmp_path), 0.85)
    spec = report._ChunkSpec(8192, None, None, duplicates.b, duplicates.r)
    here = report._check_chunk(chunk, report.TokenCounter(None, 8192, None), None, None, spec.b, spec.r)
    (tmp_path / "spec.pickle").write_bytes(pickle.dumps((spec, chunk)))
    code = ("import pickle, sys\n"
            f"spec, chunk = pickle.loads(open({str(tmp_path / 'spec.pickle')!r}, 'rb').read())\n"
            "from datapilot_pipeline.lib.validation import report\n"
            "report._init_worker(spec)\nout = report._worker_chunk(chunk)\n"
            "assert 'datasketch' not in sys.modules and 'scipy' not in sys.modules, 'datasketch imported'\n"
            f"open({str(tmp_path / 'out.pickle')!r}, 'wb').write(pickle.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    facts, signatures, problems = pickle.loads((tmp_path / "out.pickle").read_bytes())
    assert signatures.signatures.shape[1] == 128 and len(signatures.signatures) > len(lines) // 2
    for name in ("lines", "keys", "sig_rows", "signatures", "bands"):
        assert np.array_equal(getattr(signatures, name), getattr(here[1], name)), name
    assert facts == here[0] and problems == here[2]


def test_the_streaming_duplicate_pass_finds_the_lsh_pairs_on_random_text(tmp_path) -> None:
    rng = random.Random(21)
    items = []
    for line in range(1, 701):
        if line > 20 and rng.random() < 0.3:  # a near copy of an earlier line: a few words changed
            words = items[rng.randrange(len(items))][1].split()
            for _ in range(rng.choice([1, 3, 8, 25])):
                words[rng.randrange(len(words))] = f"z{rng.randrange(10**6)}"
            items.append((line, " ".join(words)))
        elif line > 20 and rng.random() < 0.05:
            items.append((line, items[rng.randrange(len(items))][1]))  # an exact copy
        else:
            items.append((line, " ".join(f"w{rng.randrange(2000)}" for _ in range(rng.randrange(2, 150)))))
    items += [(701, ""), (702, "x"), (703, "x")]
    streaming = StreamingDuplicates(tmp_path)
    for start in range(0, len(items), 61):
        streaming.add(items[start:start + 61])
    got, want = streaming.result(), find_duplicates(items)
    assert (got.exact, got.near, got.pairs) == (want.exact, want.near, want.pairs)
    assert len(got.near) > 50 and len(got.exact) > 5
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["minhash.u32"] +
                                                                [f"band_{b}.u64" for b in range(streaming.b)])


def test_eda_numbers_reads_every_number_once() -> None:
    eda = {"a": [1, True, None, "7", 2.5, {"b": np.float64(3.5), "c": [np.int64(4), -0.0, 0]}],
           "d": float("inf"), "e": {"f": {"g": [[1e300]]}}, "h": False}
    assert eda_numbers(eda) == [0.0, 1.0, 2.5, 3.5, 1e300, float("inf")]  # numpy int64 is no int; -0.0 == 0
    assert eda_numbers(7) == [7.0] and eda_numbers("x") == [] and eda_numbers([1, [2, [3.0]]]) == [1.0, 2.0, 3.0]


def test_the_collector_is_frozen_inside_the_block_only() -> None:
    before, thresholds = gc.get_freeze_count(), gc.get_threshold()
    with objects_alive_now_frozen() as freeze:
        assert gc.get_freeze_count() >= before
        assert gc.get_threshold() == (max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
        freeze()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds


def test_a_worker_process_keeps_its_settled_collector() -> None:
    code = ("import gc; from datapilot_pipeline.lib.collector import settle_worker_process as s, YOUNG_THRESHOLD as y; "
            "t = gc.get_threshold(); s(); assert gc.get_freeze_count() > 0 and gc.get_threshold() == (y, *t[1:])")
    subprocess.run([sys.executable, "-c", code], check=True)


def _reference_word_hashes(content: str) -> list[int]:
    """`dedup.SHINGLE_HASH` word by word in Python: each `\\w+` of the lowercased text as the polynomial in its code
    points with base `_WORD_BASE` mod 2**64, the MurmurHash3 64-bit finalizer, made odd."""
    from datapilot_pipeline.lib.validation import dedup

    out, mask = [], (1 << 64) - 1
    for word in re.findall(r"\w+", content.lower()):
        h = 0
        for char in word:
            h = (h * dedup._WORD_BASE + ord(char)) & mask
        for multiplier in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
            h = ((h ^ (h >> 33)) * multiplier) & mask
        out.append((h ^ (h >> 33)) | 1)
    return out


_PIECES = ["ab", "_", "Ünï", "İ", "ß", "٣", "²", "x1", "\x00", " ", "\n", "-", "\ud800", "日本", "ǅ", "Ⅻ"]
_TEXTS = (st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60)
          | st.lists(st.sampled_from(_PIECES), max_size=20).map("".join))


@settings(max_examples=400, deadline=None)
@given(st.lists(_TEXTS, max_size=6), st.integers(min_value=1, max_value=40))
def test_word_hashes_are_the_reference_over_python_words(contents, table) -> None:
    """The numpy word hash finds the words `re`'s `\\w+` finds (Unicode letters, digits, numerics, "_"; NUL,
    surrogates and punctuation split) and hashes each as the reference does, whatever the batches."""
    from datapilot_pipeline.lib.validation import dedup

    want = [_reference_word_hashes(c) for c in contents]
    for size in (table, dedup._WORD_TABLE):  # tiny batches and tables made per long content, then the usual
        original = dedup._WORD_TABLE
        dedup._WORD_TABLE = size
        try:
            ids, counts = dedup._word_hashes(contents)
        finally:
            dedup._WORD_TABLE = original
        assert counts.tolist() == [len(w) for w in want]
        assert ids.dtype == np.uint64 and ids.tolist() == [h for w in want for h in w]


def test_a_shard_hashed_another_way_is_not_merged(tmp_path) -> None:
    from datapilot_pipeline.lib.validation.shards import (
        ShardMismatchError, load_shard, merge_shard_results, save_shard, validate_shard,
    )

    dataset = tmp_path / "d.jsonl"
    dataset.write_text("\n".join(dumps_compact({"prompt": f"p {k}", "completion": "c"}) for k in range(6)) + "\n")
    paths = [save_shard(validate_shard(dataset, k, 2), tmp_path) for k in range(2)]
    meta = json.loads(paths[1].read_text())
    del meta["shingle_hash"]  # as a shard saved before the field was
    paths[1].write_text(json.dumps(meta))
    with pytest.raises(ShardMismatchError, match="crc32"):
        merge_shard_results([load_shard(p) for p in paths], run_gx=False)


def test_exact_key_collapses_whitespace_as_re_does() -> None:
    import hashlib

    from datapilot_pipeline.lib.validation.dedup import exact_key

    spaces = [chr(c) for c in range(0x110000) if re.fullmatch(r"\s", chr(c))]
    assert spaces == [chr(c) for c in range(0x110000) if chr(c).isspace()]  # what str.split splits on
    rng = random.Random(5)
    pieces = ["Word", "x", "ÉTÉ", "1.5", *spaces, *spaces]
    for _ in range(500):
        content = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12)))
        want = hashlib.sha256(re.sub(r"\s+", " ", content).strip().lower().encode("utf-8")).hexdigest()
        assert exact_key(content) == want


_JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                            | st.text(max_size=6),
                            lambda inner: st.lists(inner, max_size=3) | st.lists(
                                st.tuples(st.sampled_from(["a", "b", "prompt", "email"]), inner), max_size=4),
                            max_leaves=20)


def _text_of(value) -> str:
    """JSON text of a generated value, a list of (key, value) tuples written as an object (repeated keys kept)."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return "{" + ",".join(f"{json.dumps(k)}:{_text_of(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_text_of(v) for v in value) + "]"
    return json.dumps(value)


@settings(max_examples=400, deadline=None)
@given(_JSON_VALUES)
def test_one_parse_serves_the_checks_and_the_pii_scan(value) -> None:
    """`parse_record` parses a line once: its `data` is `json.loads`' value (a repeated key keeps its first place
    and last value), and the PII cells cut from its `pairs` are those of a parse in `line_parts`."""
    from datapilot_pipeline.lib.validation.records import parse_record

    raw = _text_of(value)
    rec = parse_record(1, raw)
    assert rec.data == json.loads(raw) and list(_keys(rec.data)) == list(_keys(json.loads(raw)))
    is_json = rec.data is not None  # as `analyze_records` hands a line to the scan (a `null` line is text)
    assert _cells_of_parsed(raw, is_json, rec.pairs) == _cells_of(raw, is_json, ScanCache())


def _keys(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


def _cells_of_parsed(raw: str, is_json: bool, pairs) -> Counter:
    return Counter(c for *_, cells in line_parts(raw, is_json, ScanCache(), pairs) for c in cells if c[1])


def test_a_line_nested_too_deeply_is_a_problem_not_a_crash() -> None:
    from datapilot_pipeline.lib.validation.records import parse_record

    rec = parse_record(3, "[" * 5000 + "]" * 5000)
    assert rec.data is None and rec.pairs is None and rec.problems == ["not JSON: nested too deeply"]


def test_a_prompt_whose_eda_is_nested_too_deeply_is_reported_not_a_crash(tmp_path) -> None:
    """The line itself is shallow; the EDA inside its prompt text is nested past the recursion limit."""
    from datapilot_pipeline.lib.prompts import ANSWER_CUE, SYSTEM_PROMPT, TASK_HEADER, extract_task_eda
    from datapilot_pipeline.lib.validation.report import validate_dataset

    prompt = f"{SYSTEM_PROMPT}\n\n{TASK_HEADER}{'[' * 5000}{']' * 5000}{ANSWER_CUE}"
    assert extract_task_eda(prompt) is None
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps({"prompt": prompt, "completion": '{"insights": []}',
                                "metadata": {"job_id": "j1", "split": "train"}}) + "\n")
    report = validate_dataset(path, workers=1).report
    assert report["n_examples"] == 1 and report["schema"]["invalid_lines"] == [1], report["schema"]


def test_a_repeated_key_is_read_as_json_does_and_scanned_both_times() -> None:
    from datapilot_pipeline.lib.validation.records import parse_record

    raw = '{"email": "ada.byron@example.org", "note": "n", "email": "b"}'
    rec = parse_record(1, raw)
    assert rec.data == {"email": "b", "note": "n"} and list(rec.data) == ["email", "note"]
    cells = _cells_of_parsed(raw, True, rec.pairs)
    assert [v for _column, v in cells if v in ("ada.byron@example.org", "b")] == ["ada.byron@example.org", "b"]
    assert scan_records([(1, True, raw, rec.pairs)]).by_line == {1: {"EMAIL_ADDRESS": 1}}


def test_power_tables_first_made_small_are_made_again_for_a_longer_text(monkeypatch) -> None:
    """Tables first made while `_WORD_TABLE` was small (as the test above shrinks it) are not kept for the texts
    that follow: a longer text is hashed as the reference hashes it."""
    from datapilot_pipeline.lib.validation import dedup

    monkeypatch.setattr(dedup, "_POWER_TABLES", None)
    with monkeypatch.context() as shrunk:
        shrunk.setattr(dedup, "_WORD_TABLE", 27)
        dedup._word_hashes(["short text"])
    assert len(dedup._POWER_TABLES[0]) == 27  # the small tables were made and kept
    text = "a much longer text, " * 10
    ids, counts = dedup._word_hashes([text])
    assert ids.tolist() == _reference_word_hashes(text) and counts.tolist() == [40]


def test_band_hashes_combine_each_bands_rows_in_order() -> None:
    """`chunk_signatures`' band hashes, computed for all bands at once, are each band's r values combined one after
    another as a loop over bands and rows would (for several band layouts, the deployed one included)."""
    from datapilot_pipeline.lib.validation import dedup

    rng = np.random.default_rng(3)
    words = ["alpha", "beta", "gamma", "delta", "x1", "Ünï", "7", "mean", "rows"]
    items = [(i, " ".join(rng.choice(words, size=int(rng.integers(0, 40))))) for i in range(120)]
    for b, r in [dedup.band_params(), (16, 8), (5, 3), (1, 128)]:
        chunk = dedup.chunk_signatures(items, b, r)
        matrix = chunk.signatures.astype(np.uint64)
        expected = np.zeros((len(matrix), b), dtype=np.uint64)
        for band in range(b):
            for k in range(r):
                expected[:, band] = (expected[:, band] ^ matrix[:, band * r + k]) * dedup._BAND_MIX
                expected[:, band] ^= expected[:, band] >> np.uint64(29)
        assert len(matrix) > 100 and np.array_equal(chunk.bands, expected), (b, r)
