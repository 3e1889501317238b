"""A cheap necessary condition for libphonenumber's validity, from its own metadata.

`phonenumbers.parse` costs ~90 us a call and a candidate is parsed once per plausible region, so digit runs that
are no phone (IDs, truncated numbers, a phone glued to a count) dominated the phone recognizer's time. `parse` keeps
as national number the candidate's digits, less at most the region's country code (when the digits start with it)
and up to two national prefixes and carrier codes its `national_prefix_for_parsing` matches (rewritten by the
region's transform rule where it has one). `is_valid_number` then needs that national number to have one of the possible
lengths of the general description, and to match its pattern, of some region of the country code. When none of
those few national numbers does, no parse can make the number valid, and the parses are skipped. A candidate whose
digits start with the region's international dialling prefix (`011`, `00`) is always parsed: its country code is
then read from the number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_NON_DIGIT = re.compile(r"\D")


def ascii_digits(text: str) -> str:
    """The digits of `text` as ASCII, as libphonenumber normalizes them (`٤١٥` -> `415`)."""
    if text.isascii():
        return _NON_DIGIT.sub("", text)
    import phonenumbers

    return phonenumbers.normalize_digits_only(text)


def _metadata(country_code: int, region: str):
    from phonenumbers import PhoneMetadata

    if region == "001":  # non-geographic entities (+800, +979, ...)
        return PhoneMetadata.metadata_for_nongeo_region(country_code)
    return PhoneMetadata.metadata_for_region(region)


@dataclass(frozen=True)
class _Parsing:
    """What `parse` reads from a region's metadata: its country code, international and national prefixes."""

    country_code: str
    idd: re.Pattern | None
    national_prefix: re.Pattern | None
    transform: str | None

    def without_prefix(self, digits: str) -> set[str]:
        """`digits` and what stripping the national prefix and carrier code can leave of them."""
        out = {digits}
        match = self.national_prefix.match(digits) if self.national_prefix is not None else None
        if match:
            out.add(digits[match.end():])
            if self.transform and match.groups() and match.groups()[-1] is not None:
                out.add(match.expand(self.transform) + digits[match.end():])
        return out

    def nationals(self, digits: str) -> set[str]:
        """Every national number `parse` can keep from `digits` read in this region (a superset). Reading the
        region's own country code strips a national prefix after it, and the national number then loses another
        (`1 1 1 431 697 8667` read in the US is `431 697 8667`)."""
        out = self.without_prefix(digits)
        if digits.startswith(self.country_code):
            for rest in self.without_prefix(digits[len(self.country_code):]):
                out |= self.without_prefix(rest)
        return out


def _parsing(metadata) -> _Parsing:
    return _Parsing(str(metadata.country_code),
                    re.compile(metadata.international_prefix) if metadata.international_prefix else None,
                    re.compile(metadata.national_prefix_for_parsing) if metadata.national_prefix_for_parsing else None,
                    metadata.national_prefix_transform_rule or None)


@lru_cache(maxsize=None)
def _valid_shapes(country_code: int) -> tuple[frozenset[int], re.Pattern] | None:
    """Possible lengths and national number pattern of every region sharing `country_code`, united; None when a
    region lists none (nothing can be ruled out)."""
    import phonenumbers

    lengths: set[int] = set()
    patterns: list[str] = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()):
        desc = _metadata(country_code, region).general_desc
        if desc is None or not desc.possible_length or not desc.national_number_pattern:
            return None
        lengths.update(desc.possible_length)
        patterns.append(desc.national_number_pattern)
    return (frozenset(lengths), re.compile("|".join(f"(?:{p})" for p in patterns))) if patterns else None


def _any_valid(nationals: set[str], country_code: int) -> bool:
    shapes = _valid_shapes(country_code)
    if shapes is None:
        return True
    lengths, pattern = shapes
    return any(len(n) in lengths and pattern.fullmatch(n) is not None for n in nationals)


@lru_cache(maxsize=None)
def _region_parsing(region: str) -> _Parsing:
    from phonenumbers import PhoneMetadata

    return _parsing(PhoneMetadata.metadata_for_region(region))


@lru_cache(maxsize=None)
def _country_parsing(country_code: int) -> _Parsing:
    """How `parse` reads a `+` number of this country code: with the metadata of the code's main region."""
    import phonenumbers

    return _parsing(_metadata(country_code, phonenumbers.COUNTRY_CODE_TO_REGION_CODE[country_code][0]))


def may_be_valid(number: str, region: str | None) -> bool:
    """False only when `phonenumbers.parse(number, region)` cannot give a valid number (`is_valid_number`, and so
    `is_valid_number_for_region`). `region` None: `number` starts with `+`."""
    import phonenumbers

    digits = ascii_digits(number)
    if region is None:
        for size in (1, 2, 3):  # country codes are prefix-free: at most one size names one
            code = int(digits[:size] or 0)
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                return _any_valid(_country_parsing(code).without_prefix(digits[size:]), code)
        return False
    parsing = _region_parsing(region)
    if parsing.idd is not None and parsing.idd.match(digits):
        return True
    return _any_valid(parsing.nationals(digits), int(parsing.country_code))
