"""The phone recognizer's metadata prefilter (`lib.pii.phone_lengths`) skips only parses that could not succeed.

Reference: the recognizer's region rule with the prefilter letting everything through (every parse made, as before). Compared on
phone numbers Faker writes in 20 locales (eleven of them outside the configured ones, so other country codes and
national prefixes are read) and on random digit runs written with the prefixes libphonenumber strips: `+`, `00`,
`011`, a trunk `0`, the region's country code and national prefix repeated (`1 1 1 ...`), Brazil's carrier codes.
"""

from __future__ import annotations

import random

import pytest
from faker import Faker

from datapilot_pipeline.lib.pii import recognizers
from datapilot_pipeline.lib.pii.config import DEFAULT_CONFIG
from datapilot_pipeline.lib.pii.phone_lengths import may_be_valid

FAKER_LOCALES = ("en_US", "en_GB", "en_CA", "en_AU", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR",
                 "ja_JP", "es_AR", "es_MX", "zh_CN", "ru_RU", "pl_PL", "sv_SE", "tr_TR", "ko_KR")
PREFIXES = ("+", "00", "011", "0", "1", "1 1", "1 1 1", "+1 1", "0 0", "90", "0 15 ", "0 21 ", "55", "+55 0",
            "91", "91 0", "39", "39 0", "34", "44", "44 0", "61 0", "+54 9", "+54 0", "+261 0", "")


def every_parse(candidates: list[str], regions: tuple[str, ...], monkeypatch) -> list[str | None]:
    """`recognizers._phone_region` with the prefilter letting everything through: every plausible region parsed."""
    with monkeypatch.context() as patched:
        patched.setattr(recognizers, "may_be_valid", lambda number, region: True)
        return [recognizers._phone_region(c, regions) for c in candidates]


def _random_candidates(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        body = "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 13)))
        cut = sorted(rng.sample(range(1, len(body)), k=min(len(body) - 1, rng.randint(0, 3))))
        parts = [body[a:b] for a, b in zip([0, *cut], [*cut, len(body)])]
        out.append(rng.choice(PREFIXES) + rng.choice([" ", "-", ".", ""]).join(parts))
    return out


def _faker_phones(per_locale: int) -> list[str]:
    out = []
    for locale in FAKER_LOCALES:
        fake = Faker(locale)
        fake.seed_instance(11)
        out += [fake.phone_number() for _ in range(per_locale)]
    return out


@pytest.mark.parametrize("source", ["faker", "random"])
def test_prefilter_gives_the_regions_every_parse_gives(source, monkeypatch):
    candidates = _faker_phones(300) if source == "faker" else _random_candidates(12_000, seed=3)
    candidates += ["".join(chr(0x660 + int(c)) if c.isdigit() else c for c in x) for x in candidates[:300]]
    regions = DEFAULT_CONFIG.regions
    expected = every_parse(candidates, regions, monkeypatch)
    got = [recognizers._phone_region(c, regions) for c in candidates]
    assert [(c, e, g) for c, e, g in zip(candidates, expected, got) if e != g] == []
    found = sum(1 for e in expected if e)
    assert found >= len(candidates) // 10, "the comparison needs many valid numbers to mean anything"
    assert found <= len(candidates) * 0.95, "and many that are not"


def test_prefilter_rules_out_numbers_no_region_accepts(monkeypatch):
    """The branch that saves the parses is taken: lengths and leading digits no region allows."""
    assert may_be_valid("415 555 0132", "US")
    assert not may_be_valid("303-844-1 763612", "US")  # 13 digits: no NANPA number, even less a 1
    assert not may_be_valid("303-844-1 763612", "IN")
    assert not may_be_valid("+1 212-245-8", None)  # seven national digits after +1, not a 3xx short code
    assert not may_be_valid("+999 123", None)  # no such country code
    assert may_be_valid("011 44 20 7946 0958", "US")  # an international prefix: the country code is read later
    assert may_be_valid("1 1 1 431 697 8667", "US")  # the country code, then two national prefixes
    assert recognizers._phone_region("1 1 1 431 697 8667", ("US", "CA")) == "CA"
    ruled_out = []
    monkeypatch.setattr(recognizers, "may_be_valid", lambda n, r: ruled_out.append(n) or may_be_valid(n, r))
    assert recognizers._phone_region("303-844-1 763612", ("US", "IN")) is None and ruled_out  # the filter was asked
