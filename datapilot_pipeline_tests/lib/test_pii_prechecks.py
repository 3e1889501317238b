"""The PII scan's cheap prechecks skip only work that would find nothing.

Three prechecks, each compared with the same code with the precheck letting everything through:
- `could_contain_pii`'s first regex (`_MAYBE_PII`);
- `addresses.may_hold_address` before the three address patterns;
- `engine._impossible`: Presidio calls without the email recognizer for texts with no "@", without the IP recognizer
  for texts with fewer than three dots and two colons, without the recognizers of identifiers that need a longer run
  of digits than the text holds (a card 12, an SSN 9, ...).
Texts: what Faker writes in 18 locales (addresses, street names with numbers, phones, IPv4/IPv6, emails, IBANs, card
numbers, SSNs, sentences, ISO timestamps) and random strings over digits, separators and letters; each test also
checks that its precheck really skipped something, so it cannot pass by never being asked.

Regexes written to start at a character the engine can skip to (a capital, a digit, a space) with what came before it
looked behind are held to the same matches as their plain form, on the same texts.
"""

from __future__ import annotations

import random
import re

import pytest
from faker import Faker

from datapilot_pipeline.lib.pii import addresses, engine, names
from datapilot_pipeline.lib.pii.lexicon import PARTICLES
from datapilot_pipeline.lib.pii.config import DEFAULT_CONFIG

LOCALES = ("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "en_GB", "en_IN", "en_AU", "en_CA", "ja_JP",
           "pl_PL", "sv_SE", "tr_TR", "da_DK", "fi_FI", "cs_CZ")


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    texts = []
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(7)
        for _ in range(60):
            texts += [fake.address(), fake.street_address(), f"{fake.street_name()} {fake.building_number()}",
                      fake.phone_number(), f"Call {fake.phone_number()} today", fake.ipv4(), fake.ipv6(),
                      f"from {fake.ipv4()}:{fake.port_number()}", fake.email(), fake.iban(), fake.credit_card_number(),
                      fake.ssn(), fake.sentence(), fake.name(), fake.date_time().isoformat()]
    rng = random.Random(3)
    texts += ["".join(rng.choice("0123456789 .-:()+/@abcABXİıſ") for _ in range(rng.randint(1, 30)))
              for _ in range(4000)]
    texts += ["HAUPTSTRASSE 4", "Hauptſtraße 12", "Kaiserrıng 7", "Rİng 5", "12 Main St.", "Calle Mayor 3"]
    return texts


def test_could_contain_pii_says_what_it_said_without_its_first_regex(corpus, monkeypatch):
    fast = [engine.could_contain_pii(t) for t in corpus]
    settled = sum(engine._MAYBE_PII.search(t) is None for t in corpus)
    with monkeypatch.context() as patched:
        patched.setattr(engine, "_MAYBE_PII", re.compile(""))  # matches every string: the old path decides
        slow = [engine.could_contain_pii(t) for t in corpus]
    assert [t for t, a, b in zip(corpus, fast, slow) if a != b] == []
    assert settled > len(corpus) // 4 and sum(fast) > 1000


def _identifier_like(rng: random.Random) -> str:
    """A string of runs of letters and digits and single separators: where identifier shapes (`AB123456C`,
    `ABCDE1234F`, `RSSMRA85T10A562S`), dotted quads and digit clusters start, end and touch other words."""
    def run() -> str:
        r = rng.random()
        if r < 0.4:
            return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzéİ") for _ in range(rng.randint(1, 7)))
        if r < 0.8:
            return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 8)))
        return rng.choice([" ", "  ", ".", "-", "(", ")", "/", "+", ":", "@", "_", "\n"])
    def shape() -> str:  # an identifier shape, whole or cut, in either case, with or without its spaces
        letter, digit = (lambda: rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")), (lambda: rng.choice("0123456789"))
        text = rng.choice([
            lambda: "".join([letter(), letter(), " " * rng.randint(0, 1), digit(), digit(), " ", digit(), digit(), " ",
                             digit(), digit(), " " * rng.randint(0, 1), rng.choice("ABCDEZ")]),
            lambda: "".join([letter() for _ in range(5)] + [digit() for _ in range(4)] + [letter()]),
            lambda: "".join([letter() for _ in range(6)] + [digit(), digit(), letter(), digit(), digit(), letter()]),
        ])()
        text = text[rng.randint(0, 2):] if rng.random() < 0.3 else text
        return text.lower() if rng.random() < 0.3 else text

    return "".join(shape() if rng.random() < 0.15 else run() for _ in range(rng.randint(1, 6)))


def test_the_digit_anchored_first_regex_answers_as_the_alternation_of_its_parts(corpus):
    plain = re.compile("|".join(engine.MAYBE_PII_PARTS), re.IGNORECASE)
    rng = random.Random(11)
    texts = corpus + [_identifier_like(rng) for _ in range(60_000)]
    texts += ["AB123456C", "ab 12 34 56 c", "x AB123456D.", "ABCDE1234F", "RSSMRA85T10A562S", "zRSSMRA85T10A562S",
              "1AB123456C", "ver 10.0.0.1", "+44 20 7946 0958", "fe80::1", "no digits here"]
    answers = [(plain.search(t) is not None, engine._MAYBE_PII.search(t) is not None) for t in texts]
    assert [t for t, (a, b) in zip(texts, answers) if a != b] == []
    ids = [t for t in texts if engine._ID_SHAPE.search(t) and not re.search(r"\d(?:[ ()+\-./]*\d){6}|@|:", t)]
    assert len(ids) > 200 and sum(a for a, _ in answers) > 5_000  # identifier shapes alone, and many matches


def test_address_precheck_skips_only_texts_no_pattern_matches(corpus, monkeypatch):
    fast = [addresses.find_address_spans(t) for t in corpus]
    skipped = sum(not addresses.may_hold_address(t) for t in corpus)
    with monkeypatch.context() as patched:
        patched.setattr(addresses, "may_hold_address", lambda text: True)
        slow = [addresses.find_address_spans(t) for t in corpus]
    assert [t for t, a, b in zip(corpus, fast, slow) if a != b] == []
    assert sum(map(bool, fast)) > 500 and skipped > len(corpus) // 2
    assert all(fast[corpus.index(t)] for t in ("HAUPTSTRASSE 4", "Hauptſtraße 12", "Kaiserrıng 7", "Rİng 5"))


def test_presidio_calls_without_email_or_ip_recognizers_find_the_same(corpus, monkeypatch):
    candidates = [t for t in dict.fromkeys(corpus) if engine.could_contain_pii(t)]
    asked = []
    routed = engine._presidio_findings(candidates, DEFAULT_CONFIG)
    with monkeypatch.context() as patched:
        real = engine._analyze
        patched.setattr(engine, "_analyze", lambda text, config, skipped=frozenset(): asked.append(skipped)
                        or real(text, config, skipped))
        engine._presidio_findings(candidates, DEFAULT_CONFIG)
        patched.setattr(engine, "_impossible", lambda text: frozenset())
        every = engine._presidio_findings(candidates, DEFAULT_CONFIG)
    def comparable(found):
        return {t: sorted(map(repr, fs)) for t, fs in found.items()}

    assert comparable(routed) == comparable(every)
    assert any({"EMAIL_ADDRESS", "IP_ADDRESS"} <= s for s in asked) and frozenset() in asked
    by_run = [s for s in asked if "CREDIT_CARD" in s and "US_SSN" in s]  # texts without a long run of digits
    assert by_run and any("US_SSN" not in s and "CREDIT_CARD" in s for s in asked)
    found = {f.entity_type for fs in routed.values() for f in fs}
    assert {"EMAIL_ADDRESS", "IP_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE"} <= found


@pytest.mark.parametrize("text, longest", [
    ("4111 1111 1111 1111", 16), ("536-22-8726", 9), ("123.456.789-09", 11), ("1234:5678:9012", 12),
    ("1 85 05 2A 123 456 78", 8), ("12--34", 2), ("1 -2", 1), ("no digits", 0), ("12 345\t678\u00a0901", 11),
    ("٣٤٥-٦٧٨-٩٠١", 9), ("(415) 555-0132", 7), ("2019-01-05T0 153113", 8),
])
def test_the_longest_run_of_digits(text, longest):
    assert engine._longest_digit_run(text) == longest


def test_a_number_takes_no_context_from_the_text_analyzed_before_it():
    """Texts share Presidio calls; a phone word ending one text is no context for a bare number in the next (before,
    the recognizer read it as a phone there and not when analyzed alone)."""
    number = "571211-2357"  # one separator, no trunk zero: a phone only after a phone word
    assert engine._presidio_findings([f"phone: {number}"], DEFAULT_CONFIG)[f"phone: {number}"] != []
    assert engine._presidio_findings([number], DEFAULT_CONFIG)[number] == []
    assert engine._presidio_findings(["call my phone", number], DEFAULT_CONFIG)[number] == []
    assert engine.scan_texts(["call my phone", number]) == [[], []]


def _prose(rng: random.Random) -> str:
    """Capitalized and lower-case words, digits, dots, hyphens, apostrophes and line breaks side by side: where a
    word may start, glued to a word or a dot or not."""
    pieces = ["Maria", "van", "der", "Berg", "O’Neil", "José-Luis", "Élodie", "ÅSA", "x", "de", "la", "St.", "7",
              "a.B", "_Ab", "Mc", "İlker", "ſtraße", "Rd", "the", "Über", "ab", "Zoë", "3Ab", "K-9"]
    seps = [" ", "  ", ".", "-", "\n", ", ", "'", "_", ""]
    return "".join(rng.choice(pieces) + rng.choice(seps) for _ in range(rng.randint(1, 9)))


def test_the_capital_first_name_patterns_match_as_the_look_behind_first_ones(corpus):
    up = names._UP
    assert names._WORD.startswith(f"[{up}](?<![\\w.].)")
    plain_word = "(?<![\\w.])" + f"[{up}]" + names._WORD[len(f"[{up}](?<![\\w.].)"):]
    plain_run = re.compile(rf"{plain_word}(?:\s+(?:(?:{'|'.join(sorted(PARTICLES))})\s+){{0,2}}{plain_word}){{0,5}}")
    plain_token = re.compile(plain_word)
    rng = random.Random(5)
    texts = corpus + [_prose(rng) for _ in range(20_000)]
    runs = [([m.span() for m in plain_run.finditer(t)], [m.span() for m in names._RUN.finditer(t)]) for t in texts]
    assert [t for t, (a, b) in zip(texts, runs) if a != b] == []
    cut = [(t, m.start() + 1, m.end()) for t in texts[:5000] for m in plain_run.finditer(t)]  # searched from inside
    assert [c for c in cut if [m.span() for m in plain_token.finditer(*c)] != [m.span() for m in names._TOKEN.finditer(*c)]] == []
    assert sum(map(bool, (a for a, _ in runs))) > 10_000 and len(cut) > 2_000


def test_the_address_hint_answers_as_its_plain_alternation(corpus):
    plain = re.compile(r"\d|\w \w{1,3} [A-ZÀ-Þ]|\w [A-ZÀ-Þ]")
    rng = random.Random(9)
    texts = corpus + [_prose(rng) for _ in range(20_000)]
    answers = [(plain.search(t) is not None, engine._ADDRESS_HINT.search(t) is not None) for t in texts]
    assert [t for t, (a, b) in zip(texts, answers) if a != b] == []
    no_digit = [a for t, (a, _) in zip(texts, answers) if not re.search(r"\d", t)]
    assert sum(no_digit) > 1_000 and len(no_digit) - sum(no_digit) > 1_000  # the word branches both ways


WORD_LISTS_PROBE = """
import json
from datapilot_pipeline.lib.pii import scan_texts
from datapilot_pipeline.lib.pii.lexicon import lexicon, street_types

business = scan_texts(["Audit rows 62 and 66 for entry errors.", "2 rows of cost exceed 4424.6, far above 1020.52.",
                       "Model revenue jointly with units.", "Hauptstraße and rue are words here, not addresses."])
read_for_business = lexicon.cache_info().currsize
streets_read = street_types.cache_info().currsize
named = scan_texts(["Ship to 12 Main Street by Friday.", "Ask Maria Gonzalez about the refund."])
print(json.dumps({"business": [[f.entity_type for f in fs] for fs in business], "read_for_business": read_for_business,
                  "streets_read": streets_read, "named": [[f.entity_type for f in fs] for fs in named],
                  "read_for_name": lexicon.cache_info().currsize}))
"""


def test_the_word_lists_are_read_when_a_name_or_address_is_first_weighed():
    """In a fresh interpreter: business text with no two capitalized words side by side is scanned with the street
    types alone (the address precheck read them: the last text names street types); an address and a name then
    read the word lists and are found."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", WORD_LISTS_PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["business"] == [[], [], [], []] and found["streets_read"] == 1 and found["read_for_business"] == 0
    assert found["named"] == [["STREET_ADDRESS"], ["PERSON"]] and found["read_for_name"] == 1
