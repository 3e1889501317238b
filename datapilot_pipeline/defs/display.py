"""Numbers as the UI shows them: floats in asset and check metadata rounded to a few significant digits (the JSON
reports keep full precision)."""

import math

import dagster as dg

SIGNIFICANT_DIGITS = 4


def rounded(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """`value` to `digits` significant digits (0.123456 -> 0.1235, 1234.56 -> 1235.0, 1.23456e-07 -> 1.235e-07)."""
    if not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def for_display(metadata: dict) -> dict:
    """The metadata with every float (plain or a float metadata value) rounded for reading; other values as given."""
    out = {}
    for key, value in metadata.items():
        if isinstance(value, float):
            out[key] = dg.MetadataValue.float(rounded(value))
        elif isinstance(value, dg.FloatMetadataValue) and value.value is not None:
            out[key] = dg.MetadataValue.float(rounded(value.value))
        else:
            out[key] = value
    return out
