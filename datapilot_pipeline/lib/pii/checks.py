"""Checksums and the business-number shapes that must never be read as PII.

Checksums: Luhn (cards, Canadian SIN), GTIN (EAN-8/UPC-A/EAN-13/ITF-14 product codes), Brazilian CPF,
Dutch BSN (11-proof), French NIR (key 97 - n mod 97), Australian TFN (weighted mod 11).
Shapes: dates, decimal ranges, versions, thousands-separated amounts, ZIP+4.
"""

from __future__ import annotations

import re

_DATE = re.compile(r"(?:\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})|\d{4}[./-]\d{1,2}[./-]\d{1,2})")
_RANGE = re.compile(r"(\d+)([.,]\d+)?\s*(?:[-–—/:]|to)\s*(\d+)([.,]\d+)?")
_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?:'\d{3})+(?:\.\d+)?")
_VERSION = re.compile(r"v?(?:0|[1-9]\d?)(?:\.\d{1,4}){2,3}")  # 1.18.0.189; not 415.555.0132
_ZIP4 = re.compile(r"\d{5}-\d{4}")


def digits_of(text: str) -> str:
    return "".join(filter(str.isdigit, text))


def luhn_valid(digits: str) -> bool:
    total = 0
    for pos, ch in enumerate(reversed(digits)):
        d = int(ch)
        if pos % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return bool(digits) and total % 10 == 0


def gtin_valid(digits: str) -> bool:
    """EAN-8, UPC-A (12), EAN-13 (and ISBN-13) check digit (weights 3,1 from the right, check digit excluded)."""
    if len(digits) not in (8, 12, 13):
        return False
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def cpf_valid(digits: str) -> bool:
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    nums = [int(d) for d in digits]
    for n in (9, 10):
        total = sum(nums[i] * (n + 1 - i) for i in range(n))
        if (total * 10 % 11) % 10 != nums[n]:
            return False
    return True


def bsn_valid(digits: str) -> bool:
    if len(digits) != 9 or digits[0] == "0" and digits[1] == "0":
        return False
    total = sum(int(d) * w for d, w in zip(digits, (9, 8, 7, 6, 5, 4, 3, 2, -1)))
    return total % 11 == 0 and total != 0


def nir_valid(text: str) -> bool:
    raw = re.sub(r"[\s.]", "", text).upper()
    if len(raw) != 15 or raw[0] not in "12":
        return False
    body = raw[:13].replace("2A", "19").replace("2B", "18")
    if not body.isdigit() or not raw[13:].isdigit():
        return False
    return 97 - int(body) % 97 == int(raw[13:])


def tfn_valid(digits: str) -> bool:
    if len(digits) != 9:
        return False
    return sum(int(d) * w for d, w in zip(digits, (1, 4, 3, 7, 5, 8, 6, 9, 10))) % 11 == 0


def looks_like_business_number(text: str) -> bool:
    """Dates, decimal ranges, versions, thousands-separated amounts and ZIP+4 codes (the whole span)."""
    s = text.strip().strip("()")
    if s.startswith("+"):
        return False
    return _is_range(s) or any(p.fullmatch(s) for p in (_DATE, _THOUSANDS, _VERSION, _ZIP4))


def _is_range(s: str) -> bool:
    """`4.1235-6.8213`, `100000-250000`, `2019/2020`: decimals, or two equally long numbers without a
    leading zero (a phone with one separator, `030-1234567`, starts with its trunk zero)."""
    m = _RANGE.fullmatch(s)
    if not m:
        return False
    left, left_frac, right, right_frac = m.groups()
    return bool(left_frac or right_frac) or (len(left) == len(right) and left[0] != "0")


def weak_phone(span: str) -> bool:
    """Digit shapes that are product codes or references more often than phones, unless a phone word precedes:
    one separator without a trunk zero (`3142-25300`, `1058/19960`), a GTIN-valid run (UPC `042897001791`)."""
    if span.startswith(("+", "(")):
        return False
    digits = digits_of(span)
    groups = [g for g in re.split(r"[^\d]+", span) if g]
    return (len(groups) == 2 and not span.startswith("0")) or (span.isdigit() and gtin_valid(digits))
