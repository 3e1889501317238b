"""Compact JSON through orjson, with the standard library's exact text.

orjson encodes several times faster than `json` (50 against 104 us for an export line of 13 KB here), and the
export writes every line, and every compact EDA in its prompts, through `dumps_compact`. Where the two libraries
would write different text, `json` writes it, so no byte changes: when the value holds NaN or an infinity (orjson
writes them as `null`, as it writes None; `json` as `NaN` and `Infinity`) or a non-zero float below 1e-4 in magnitude
(`0.00001` and `1e-7` where `json` writes `1e-05` and `1e-07`), and when orjson refuses the value. A value with few
numbers (an export line: two long strings and its metadata) is read for those (`_written_alike`); a larger one's
bytes are searched for `null` and such floats first (`_may_differ`), and read only when the search finds one.
orjson refuses integers beyond 64 bits, keys that are not strings, lone surrogates, subclasses of dict, list, str,
int and float, dataclasses and dates (passed through to `json`'s own handling and errors). Tested equal to `json`
on generated values (`datapilot_pipeline_tests/lib/test_json_codec.py`).

Parsing mostly stays on `json`: orjson reads an integer beyond 64 bits as a float, and finding such integers first
costs about what orjson saves on validation's lines (13 against 16 us a line, no change in `bench_validate`). Two
questions go to orjson first: whether a text parses at all (`is_json_text`: what orjson accepts, `json` accepts too)
and the value of a large document, a stored review of 7 KB or a prompt's compact EDA (`loads`: 31 against 56 us a
review, the check for long integers included).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_DUMPS_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
                  | orjson.OPT_PASSTHROUGH_DATETIME)
_DIGITS_AS_ZERO = bytes(48 if 48 <= i <= 57 else i for i in range(256))


def _may_differ(data: bytes) -> bool:
    """Whether orjson's text may differ from json's: a null (NaN and infinities are written as null), or a float
    below 1e-4 (`0.00001` or `1e-7`, where json writes `1e-05` and `1e-07`). Strings holding these only cost the
    slower path. Byte searches: a regular expression would cost more than the encoding it guards."""
    return b"null" in data or b"0.0000" in data or (b"e-" in data and b"0e-" in data.translate(_DIGITS_AS_ZERO))


_VALUES_LOOKED_AT = 32  # non-string values read before the byte search decides instead (an export line has ~10)
_INF = float("inf")


def _written_alike(obj: Any, most: int | None = _VALUES_LOOKED_AT) -> bool | None:
    """For a value orjson encoded: True when `json` writes the same text (no NaN, infinity or non-zero float below
    1e-4 in magnitude in it: None, strings, booleans and the integers orjson takes are written alike), False when it
    may not, None when it holds more than `most` values besides strings."""
    stack, looked_at = [obj], 0
    while stack:
        node = stack.pop()
        kind = type(node)
        values = node.values() if kind is dict else node if kind is list or kind is tuple else (node,)
        for value in values:
            kind = type(value)
            if kind is str:
                continue
            looked_at += 1
            if most is not None and looked_at > most:
                return None
            if kind is float:
                if not (value == 0 or 1e-4 <= abs(value) < _INF):  # NaN fails both
                    return False
            elif kind is dict or kind is list or kind is tuple:
                stack.append(value)
    return True


def _json_dumps_compact(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _orjson_text_is_json(obj: Any, data: bytes) -> bool:
    """Whether orjson's `data` for `obj` is `json`'s text: a value with few numbers is read (an export line: 3 us,
    where three searches of its 13 KB took 25); a larger one's bytes are searched, and read in full only when the
    search finds a `null` or what may be a small float (a holdout row's EDA keeps its nulls: reading its values costs
    a fifth of what `json` takes to write it)."""
    alike = _written_alike(obj)
    if alike is None:
        alike = not _may_differ(data) or _written_alike(obj, most=None)
    return alike


def dumps_compact(obj: Any) -> str:
    """Deterministic compact JSON: sorted keys, no spaces, UTF-8 kept as is (`json.dumps`' exact text)."""
    try:
        data = orjson.dumps(obj, option=_DUMPS_OPTIONS)
    except orjson.JSONEncodeError:
        return _json_dumps_compact(obj)
    return data.decode("utf-8") if _orjson_text_is_json(obj, data) else _json_dumps_compact(obj)


def jsonl_line(obj: Any) -> bytes:
    """`obj` as one line of a JSONL file: `dumps_compact`'s text and a newline, in UTF-8."""
    return (dumps_compact(obj) + "\n").encode("utf-8")


def is_json_text(text: str) -> bool:
    """Whether `json.loads(text)` succeeds, without building `json`'s value where orjson can tell (3x faster on a
    compact EDA). orjson accepts less than `json` (no NaN or Infinity, no lone surrogates, no number beyond a
    double's range, no nesting past 1,024 levels), never more, so `json` answers only what orjson refuses
    (`test_is_json_agrees_with_the_standard_library`). Nesting past Python's recursion limit is not JSON here:
    `json.loads` raises RecursionError on it, and a PII scan must read such a text as text, not stop."""
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return False
    return True


_LONG_DIGIT_RUN = b"0" * 19  # an integer orjson may read as a float has 19 digits or more (2**63 has 19)


def loads(text: str) -> Any:
    """`json.loads(text)`'s value, through orjson where it is certainly the same: a text with a run of 19 digits (an
    integer beyond 64 bits would be read as a float) or that orjson refuses (NaN and infinities, lone surrogates,
    numbers beyond a double's range, nesting past 1,024 levels) is read by `json`. A repeated key keeps its first
    place and its last value in both."""
    data = text.encode("utf-8", "surrogatepass")
    if _LONG_DIGIT_RUN not in data.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)
