"""Text grounding: are the numbers an insight's text states present in the compact EDA?

The playbook's first reason to reject is a number in the text that is not in the data. A stated number is
grounded when it matches a numeric value of the compact EDA under the evidence rule's tolerance (1% relative),
or equals it rounded to the decimals the text shows. Forms handled:
- thousands separators and currency (`$1,221` is 1221), signs;
- percentages (`12.5%` matches 12.5 or 0.125, a share `100 a / b` of two EDA values, or a change
  `100 (a / b - 1)`);
- multiples (`13x`, `3.5 times`) match the ratio of two EDA values;
- row numbers (`rows 7, 44 and 79`) are grounded when they are row indices in [0, n_rows);
- dates (`2026-07-01`) are grounded when the EDA has a string containing them.
A text with no numbers has nothing to ground and is left out of the share (None, not 1.0).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from datapilot_pipeline.lib.evidence import REL_TOLERANCE, numbers_match

_DATE = re.compile(r"\b\d{4}-\d{2}(?:-\d{2})?(?:T[\d:]+)?\b")
_NUMBER = re.compile(r"(?<![\w.])(?P<sign>[-+\u2212])?(?P<cur>[$\u20ac\u00a3])?"
                     r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
                     r"(?P<unit>\s?%|x\b|\s?times\b)?")
# "row" or "rows" starting a word, then the numbers. The "r" comes first and its word start is looked behind
# (`r(?<=\br)`, the same as `\br`): the regex engine then skips every character that is not an "r" in C.
_ROWS = re.compile(r"r(?<=\br)ows?\s+((?:#?\d+(?:\s*(?:,|and|&|to|-)\s*)?)+)", re.IGNORECASE)


@dataclass(frozen=True)
class StatedNumber:
    text: str
    value: float
    decimals: int
    unit: str  # "", "%", "x"
    is_row: bool = False


@dataclass
class TextGrounding:
    n_numbers: int = 0
    n_grounded: int = 0
    ungrounded: list[str] = field(default_factory=list)

    @property
    def share(self) -> float | None:
        return self.n_grounded / self.n_numbers if self.n_numbers else None


def _walk(node: Any, pointer: str) -> Iterable[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{index}")
    else:
        yield pointer, node


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numeric_pointers(compact_eda: dict) -> list[str]:
    """The aggregate keys that resolve to a number in the compact EDA, sorted: a JSON Pointer to every numeric
    leaf except the sample rows', and each KPI's bare name too (the evidence rule reads it as `/kpis/<name>`)."""
    pointers = {p for p, v in _walk(compact_eda, "") if _is_number(v) and not p.startswith("/sample_rows/")}
    kpis = compact_eda.get("kpis") if isinstance(compact_eda.get("kpis"), dict) else {}
    pointers.update(k for k, v in kpis.items() if _is_number(v) and not k.startswith("/"))
    return sorted(pointers)


def eda_numbers(compact_eda: dict) -> list[float]:
    """Every numeric value in the compact EDA (sample rows included), deduplicated."""
    found: set[float] = set()
    _collect_numbers(compact_eda, found)
    return sorted(found)


def _collect_numbers(node: Any, found: set[float]) -> None:
    # `_walk` without the pointers it builds for every leaf, and without recursion: validation calls this once per
    # line. Values parsed from JSON are tested by their exact type first, anything else as `_is_number` tests it.
    if not isinstance(node, (dict, list)):
        if _is_number(node):
            found.add(float(node))
        return
    add, stack = found.add, [node]
    while stack:
        node = stack.pop()
        for value in node.values() if isinstance(node, dict) else node:
            kind = type(value)
            if kind is float or kind is int:
                add(float(value))
            elif kind is dict or kind is list or isinstance(value, (dict, list)):
                stack.append(value)
            elif kind is not str and _is_number(value):
                add(float(value))


def stated_numbers(text: str) -> list[StatedNumber]:
    """The numbers a text states, in order; digits inside dates and words are skipped."""
    masked = _DATE.sub(lambda m: " " * len(m.group()), text) if "-" in text else text  # every date has a "-"
    row_spans = [m.span(1) for m in _ROWS.finditer(masked)]
    out = []
    for m in _NUMBER.finditer(masked):
        raw = m.group("num")
        value = float(raw.replace(",", ""))
        if m.group("sign") in ("-", "\u2212"):
            value = -value
        unit = (m.group("unit") or "").strip()
        unit = "x" if unit == "times" else unit
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        is_row = bool(row_spans) and any(a <= m.start("num") < b for a, b in row_spans)
        out.append(StatedNumber(m.group().strip(), value, decimals, unit, is_row))
    return out


def _close(stated: float, decimals: int, actual: float) -> bool:
    return numbers_match(stated, actual) or round(actual, decimals) == stated


def is_grounded(number: StatedNumber, values: list[float], n_rows: int | None,
                ordered: list[float] | None = None) -> bool:
    """`ordered`: the finite magnitudes of `values`, sorted (computed here when not given), for the plain case."""
    if number.is_row and n_rows is not None and number.value.is_integer():
        return 0 <= number.value < n_rows
    # a text states magnitudes ("1.53% below the first half" for a growth of -1.53)
    if number.unit not in ("%", "x"):
        return _near_any(abs(number.value), number.decimals, sorted_magnitudes(values) if ordered is None else ordered)
    import numpy as np

    # Every ratio of two EDA values, a block of pairs at a time in numpy (a compact EDA holds ~100 numbers: 10,000
    # pairs per stated percentage, which a Python loop took 70% of validation's time on realistic lines to try).
    magnitudes = np.abs(np.asarray(values, dtype=float))
    divisors = magnitudes[magnitudes != 0]  # `if b`: NaN is kept, as it is truthy
    stated, decimals = number.value, number.decimals
    with np.errstate(all="ignore"):  # inf / inf is NaN, as in Python; NaN is never close
        if number.unit == "%":
            stated = abs(stated)
            if _any_close(stated, decimals, magnitudes) or _any_close(stated, decimals, 100 * magnitudes):
                return True
            for block in _blocks(magnitudes, len(divisors)):
                shares = ((100 * block)[:, None] / divisors[None, :]).ravel()
                if _any_close(stated, decimals, shares) or _any_close(stated, decimals, np.abs(shares - 100)):
                    return True
            return False
        return any(_any_close(stated, decimals, (block[:, None] / divisors[None, :]).ravel())
                   for block in _blocks(magnitudes, len(divisors)))


_PAIRS_PER_BLOCK = 1 << 20  # pairs of EDA values compared at a time (8 MB of float64)


def _blocks(values, width: int):
    step = max(1, _PAIRS_PER_BLOCK // max(width, 1))
    return (values[start:start + step] for start in range(0, len(values), step))


def _any_close(stated: float, decimals: int, candidates) -> bool:
    """`any(_close(stated, decimals, v) for v in candidates)` over a numpy array: a vectorized test keeps the values
    that could be close (within 1% relative, half a unit of the last decimal shown, or 1e-9, each with a margin for
    rounding), and `_close` itself decides on those few, so the answer is `_close`'s exactly."""
    import numpy as np

    if not len(candidates):
        return False
    with np.errstate(all="ignore"):
        reach = np.maximum(np.maximum(REL_TOLERANCE * np.abs(candidates), 0.5 * 10.0 ** -decimals), 1e-9)
        near = np.abs(candidates - stated) <= reach * 1.01 + 1e-9 * abs(stated) + 1e-12
    return any(_close(stated, decimals, float(v)) for v in candidates[near])


def sorted_magnitudes(values: list[float]) -> list[float]:
    """The finite magnitudes of `values`, deduplicated and sorted (what `is_grounded` bisects)."""
    return sorted({abs(v) for v in values if math.isfinite(v)})


def _near_any(stated: float, decimals: int, ordered: list[float]) -> bool:
    """`any(_close(stated, decimals, v) for v in magnitudes)` by bisection: only values within 1% relative or
    within a unit of the last decimal shown can be close (non-finite values never are), so only those are tried."""
    unit = 10.0 ** -decimals
    lo, hi = stated / (1 + REL_TOLERANCE) - unit, stated / (1 - REL_TOLERANCE) + unit
    start = bisect.bisect_left(ordered, lo)
    for v in ordered[start:bisect.bisect_right(ordered, hi)]:
        if _close(stated, decimals, v):
            return True
    return False


def ground_text(text: str, compact_eda: dict, values: list[float] | None = None,
                ordered: list[float] | None = None) -> TextGrounding:
    """How many numbers the text states and how many of them the compact EDA holds (`values`: its `eda_numbers`,
    `ordered`: their `sorted_magnitudes`, when already computed for another text of the same EDA)."""
    values = eda_numbers(compact_eda) if values is None else values
    n_rows = (compact_eda.get("dataset") or {}).get("n_rows") if isinstance(compact_eda, dict) else None
    result = TextGrounding()
    for number in stated_numbers(text):
        result.n_numbers += 1
        if ordered is None:
            ordered = sorted_magnitudes(values)
        if is_grounded(number, values, n_rows if isinstance(n_rows, int) else None, ordered):
            result.n_grounded += 1
        else:
            result.ungrounded.append(number.text)
    dates = _DATE.findall(text) if "-" in text else []  # every date has a "-"
    strings = [v for _, v in _walk(compact_eda, "") if isinstance(v, str)] if dates else []
    for date in dates:
        result.n_numbers += 1
        if any(date in s for s in strings):
            result.n_grounded += 1
        else:
            result.ungrounded.append(date)
    return result


def ground_texts(texts: Iterable[str], compact_eda: dict) -> TextGrounding:
    """The grounding of several texts against one compact EDA, summed."""
    values = eda_numbers(compact_eda)
    ordered = sorted_magnitudes(values)
    total = TextGrounding()
    for text in texts:
        one = ground_text(text, compact_eda, values, ordered)
        total.n_numbers += one.n_numbers
        total.n_grounded += one.n_grounded
        total.ungrounded.extend(one.ungrounded)
    return total
