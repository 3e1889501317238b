"""`json_codec`: orjson's speed with the standard library's exact text and errors."""

from __future__ import annotations

import enum
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapilot_pipeline.lib import json_codec
from datapilot_pipeline.lib.json_codec import dumps_compact


def _stdlib(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_scalars = (st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True)
            | st.integers(min_value=-(2 ** 70), max_value=2 ** 70) | st.text(max_size=20))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=25)


@settings(max_examples=1500, deadline=None)
@given(_values)
def test_dumps_equals_the_standard_library(value):
    assert dumps_compact(value) == _stdlib(value)


class Color(enum.IntEnum):
    RED = 1


class Tagged(dict):
    pass


_many_values = st.recursive(_scalars, lambda inner: st.lists(inner, min_size=10, max_size=30)
                            | st.dictionaries(st.text(max_size=8), inner, min_size=10, max_size=30), max_leaves=200)


@settings(max_examples=120, deadline=None)
@given(_many_values)
def test_dumps_of_values_too_many_to_read_equals_the_standard_library(value):
    """Past `_VALUES_LOOKED_AT` values the bytes are searched instead (the branch is counted)."""
    assert dumps_compact(value) == _stdlib(value)


def test_both_ways_of_telling_are_taken(monkeypatch):
    """A short value is read, a long one searched; either way a small float or a non-finite one goes to `json`, and
    a None does not (it is `null` to both), even in a long value whose search finds the `null` (then read in full)."""
    searched, slow = [], []
    real_search, real_json = json_codec._may_differ, json_codec._json_dumps_compact
    monkeypatch.setattr(json_codec, "_may_differ", lambda data: searched.append(len(data)) or real_search(data))
    monkeypatch.setattr(json_codec, "_json_dumps_compact", lambda obj: slow.append(1) or real_json(obj))
    for bad in (1e-05, float("nan"), -float("inf"), 2e-7, None):
        short, long = {"a": "text", "b": [1, bad]}, {"a": "text", "b": list(range(100)) + [bad]}
        assert dumps_compact(short) == _stdlib(short) and searched == []
        assert dumps_compact(long) == _stdlib(long) and len(searched) == 1
        assert len(slow) == (0 if bad is None else 2)
        searched.clear(), slow.clear()


@pytest.mark.parametrize("value", [
    float("nan"), float("inf"), [-float("inf")], 1e-05, 1e-07, -2.5e-9, 1e-4, 0.0001234, 1e16, 1e22, -0.0, 5e-324,
    2 ** 64, 2 ** 63, -(2 ** 63) - 1, {1: "a"}, {"b": 1, "a": {"d": [1, 2], "c": None}}, (1, "two"),
    "\ud800 alone", {"k\udc00": 1}, Color.RED, {"label": Color.RED}, Tagged(b=1, a=2), "tab\there\n\u2028\x7f\x00",
    "text with null and 0.00001 and 1e-5 inside", {"é": 1, "e": 2, "\U0001f600": 3, "z": 4},
])
def test_dumps_edge_values(value):
    assert dumps_compact(value) == _stdlib(value)


@pytest.mark.parametrize("value", [{1: "a", "b": 2}, {"a": object()}, [{1, 2}]])
def test_dumps_refuses_what_json_refuses(value):
    with pytest.raises(TypeError) as expected:
        _stdlib(value)
    with pytest.raises(TypeError) as got:
        dumps_compact(value)
    assert str(got.value) == str(expected.value)


def test_the_fast_path_is_taken_for_plain_lines(monkeypatch):
    """A line of an export never reaches the standard library, even with `null` or `1e-5` in its text or a None in
    its metadata; a float below 1e-4 or a NaN does."""
    calls = []
    monkeypatch.setattr(json_codec, "_json_dumps_compact", lambda obj: calls.append(obj) or _stdlib(obj))
    row = {"prompt": "System.\n\nTask:\n{\"rows\":549}", "completion": '{"insights":[]}',
           "metadata": {"job_id": "j-1", "overall_score": 4.5, "reviewer_ids": ["r1", "r2"], "share": 0.113}}
    assert dumps_compact(row) == _stdlib(row) and calls == []
    worded = {"prompt": "null rate 0.00001 at 1e-5", "metadata": {"share": 10.00001, "variant": None}}
    assert dumps_compact(worded) == _stdlib(worded) and calls == []
    assert dumps_compact({"p": 1e-05}) == '{"p":1e-05}' and calls == [{"p": 1e-05}]
    assert dumps_compact({"p": float("nan")}) == '{"p":NaN}' and len(calls) == 2


_JSONISH = st.lists(st.sampled_from(list('{}[]",:0123456789.eE+- \t\nabtrufalsnNIy\\u\x00\x1f\x7f') +
                                     ["\ud800", "\udc80", "é", "NaN", "Infinity", "1e400", "\\ud800", "true", "null"]),
                     max_size=24).map("".join)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(_JSONISH, _values.map(_stdlib), _values.map(lambda v: _stdlib(v)[:-1]),
                 st.tuples(_values.map(_stdlib), _JSONISH).map("".join)))
def test_is_json_agrees_with_the_standard_library(text):
    try:
        json.loads(text)
        expected = True
    except json.JSONDecodeError:
        expected = False
    assert json_codec.is_json_text(text) is expected


@pytest.mark.parametrize("text", ["[NaN]", "[Infinity]", "[-Infinity]", '["\\ud800"]', "[1e400]", '["\udc80"]',
                                  "[" * 2000 + "]" * 2000])
def test_is_json_asks_the_standard_library_what_orjson_refuses(text):
    import orjson

    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)
    try:
        json.loads(text)
        expected = True
    except (json.JSONDecodeError, RecursionError):  # too deep for json too: not JSON, not an error
        expected = False
    assert json_codec.is_json_text(text) is expected


_LONG_INTEGERS = st.integers(min_value=-(2 ** 80), max_value=2 ** 80).map(str)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(_values.map(_stdlib), _JSONISH, _LONG_INTEGERS,
                 st.tuples(_values.map(_stdlib), _LONG_INTEGERS).map(lambda p: f"[{p[0]},{p[1]}]")))
def test_loads_gives_the_standard_librarys_value(text):
    try:
        expected = _stdlib(json.loads(text))
    except (json.JSONDecodeError, RecursionError) as exc:
        with pytest.raises(type(exc)):
            json_codec.loads(text)
        return
    assert _stdlib(json_codec.loads(text)) == expected  # the text tells 1 from 1.0 and compares NaN


@pytest.mark.parametrize("text, through_orjson", [
    ('{"b":[1,2.5,"x"],"a":{"c":null}}', True),
    ('{"n":9223372036854775807}', False),  # 19 digits: orjson might read a longer one as a float
    ('{"n":18446744073709551616}', False),
    ('{"x":NaN}', False),
    ('["\\ud800"]', False),
    ('{"a":1,"b":2,"a":3}', True),
])
def test_loads_goes_to_the_standard_library_only_when_orjson_may_differ(text, through_orjson, monkeypatch):
    calls = []
    real = json.loads
    monkeypatch.setattr(json_codec.json, "loads", lambda t: calls.append(t) or real(t))
    value = json_codec.loads(text)
    assert _stdlib(value) == _stdlib(real(text))
    assert (calls == []) is through_orjson


@pytest.mark.parametrize("row", [{"b": "é\u2028", "a": [1, 2.5, None]}, {"p": float("nan")}, {"k": "text\nline"}])
def test_a_jsonl_line_is_the_compact_text_and_one_newline(row):
    line = json_codec.jsonl_line(row)
    assert line == (_stdlib(row) + "\n").encode("utf-8") and line.count(b"\n") == 1
