"""Compact JSON out and JSON in through orjson, with the standard library's bytes, values and errors.

orjson encodes and decodes several times faster than `json`; the export writes every line through
`dumps_compact` and validation parses every line with `loads`. Where the two libraries differ, the text goes
through `json` instead, so nothing written or read changes:

- `dumps_compact` uses `json` when orjson's text holds `null` (orjson writes NaN and infinities as `null`, `json`
  as `NaN`/`Infinity`), a float below 1e-4 in magnitude (`0.00001` and `1e-7` where `json` writes `1e-05` and
  `1e-07`), or when orjson refuses the value: integers beyond 64 bits, keys that are not strings, lone surrogates,
  subclasses of dict, list, str, int or float, dataclasses and dates (passed through to `json`'s own handling and
  errors).
- `loads` uses `json` when the text holds a run of 19 or more digits (orjson reads integers beyond 64 bits as
  floats) or when orjson refuses it: `NaN`/`Infinity` literals, numbers out of float range, lone surrogate escapes,
  deep nesting, and invalid JSON, whose error is then `json`'s own `JSONDecodeError` with its message and position.

Both are tested equal to `json` on generated values and texts (`datapilot_pipeline_tests/test_json_codec.py`).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_DUMPS_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
                  | orjson.OPT_PASSTHROUGH_DATETIME)
_DIGITS_AS_ZERO = bytes(48 if 48 <= i <= 57 else i for i in range(256))
_ONLY_DIGITS_AS_ZERO = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_LONG_NUMBER = b"0" * 19  # orjson reads an integer beyond 64 bits (19 digits or more) as a float


def _may_differ(data: bytes) -> bool:
    """Whether orjson's text may differ from json's: a null (NaN and infinities are written as null), or a float
    below 1e-4 (`0.00001` or `1e-7`, where json writes `1e-05` and `1e-07`). Strings holding these only cost the
    slower path. Byte searches: a regular expression would cost more than the encoding it guards."""
    return b"null" in data or b"0.0000" in data or (b"e-" in data and b"0e-" in data.translate(_DIGITS_AS_ZERO))


def _json_dumps_compact(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dumps_compact(obj: Any) -> str:
    """Deterministic compact JSON: sorted keys, no spaces, UTF-8 kept as is (`json.dumps`' exact text)."""
    try:
        data = orjson.dumps(obj, option=_DUMPS_OPTIONS)
    except orjson.JSONEncodeError:
        return _json_dumps_compact(obj)
    return _json_dumps_compact(obj) if _may_differ(data) else data.decode("utf-8")


def loads(text: str | bytes) -> Any:
    """`json.loads(text)`: the same value, or the same `json.JSONDecodeError`."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _LONG_NUMBER not in data.translate(_ONLY_DIGITS_AS_ZERO):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)
