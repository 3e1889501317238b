"""`json_codec`: orjson's speed with the standard library's exact text, values and errors."""

from __future__ import annotations

import enum
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapilot_pipeline.lib import json_codec
from datapilot_pipeline.lib.json_codec import dumps_compact, loads


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


@settings(max_examples=1500, deadline=None)
@given(_values, st.sampled_from([None, 0, 2]))
def test_loads_equals_the_standard_library(value, indent):
    text = json.dumps(value, indent=indent, ensure_ascii=indent == 0)
    expected, got = json.loads(text), loads(text)
    assert _stdlib(got) == _stdlib(expected)
    assert loads(text.encode("utf-8")) == got or any(isinstance(x, float) and math.isnan(x) for x in _leaves(got))


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


class Color(enum.IntEnum):
    RED = 1


class Tagged(dict):
    pass


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


@pytest.mark.parametrize("text", [
    "NaN", "[Infinity, -Infinity]", "1e400", "-1e400", "18446744073709551616", "-9223372036854775809",
    "[123456789012345678901234567890]", '"\\ud800"', '{"a":1,"a":2}', "-0", "1.0", " 1 ", '"\\u00e9\\ud83d\\ude00"',
])
def test_loads_edge_texts(text):
    expected, got = json.loads(text), loads(text)
    assert repr(got) == repr(expected) and type(got) is type(expected)


@pytest.mark.parametrize("text", ["", "[1,]", '{"a":1}x', "\ufeff1", '"a\x00b"', "{'a': 1}", "[1 2]", "tru"])
def test_loads_errors_are_the_standard_librarys(text):
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        loads(text)
    assert (got.value.msg, got.value.pos, got.value.colno) == (expected.value.msg, expected.value.pos,
                                                               expected.value.colno)


def test_the_fast_paths_are_taken_for_plain_lines(monkeypatch):
    """A line of an export and its parse never reach the standard library; a float below 1e-4 does."""
    calls = []
    monkeypatch.setattr(json_codec, "_json_dumps_compact", lambda obj: calls.append(obj) or _stdlib(obj))
    real_loads = json.loads
    monkeypatch.setattr(json_codec.json, "loads", lambda text: calls.append(text) or real_loads(text))
    row = {"prompt": "System.\n\nTask:\n{\"rows\":549}", "completion": '{"insights":[]}',
           "metadata": {"job_id": "j-1", "overall_score": 4.5, "reviewer_ids": ["r1", "r2"], "share": 0.113}}
    text = dumps_compact(row)
    assert loads(text) == row and calls == []
    assert dumps_compact({"p": 1e-05}) == '{"p":1e-05}' and calls == [{"p": 1e-05}]
