"""Valid-format PII values for measuring recall (tests and the validation benchmark).

Presidio rejects obviously fake values (123-45-6789, Luhn-invalid cards, SSN area 000/666), so
recall must be measured on values that pass the same checks real ones do.
"""

from __future__ import annotations

import random

PLANTED_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IP_ADDRESS")
_AREA_CODES = (212, 213, 303, 305, 312, 404, 415, 503, 512, 617, 646, 702, 713, 801, 917)
_NAMES = ("jane.doe", "j.smith", "analyst_42", "maria-lopez", "t.nguyen", "ops+alerts")
_DOMAINS = ("example.com", "corp.example.org", "mail.example.net", "acme.co.uk", "datapilot.io")


def ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def luhn_complete(prefix_and_body: str) -> str:
    """Append the Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(prefix_and_body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return prefix_and_body + str((10 - total % 10) % 10)


def credit_card(rng: random.Random) -> str:
    prefix = rng.choice(["4", "51", "52", "53", "54", "55"])
    number = luhn_complete(prefix + "".join(str(rng.randint(0, 9)) for _ in range(15 - len(prefix))))
    if rng.random() < 0.5:
        return " ".join(number[i:i + 4] for i in range(0, 16, 4))
    return number


def email(rng: random.Random) -> str:
    return f"{rng.choice(_NAMES)}{rng.randint(1, 999)}@{rng.choice(_DOMAINS)}"


def phone(rng: random.Random) -> str:
    area, exchange, line = rng.choice(_AREA_CODES), rng.randint(200, 989), rng.randint(0, 9999)
    if exchange % 100 == 11:
        exchange += 1
    fmt = rng.choice(["({a}) {e}-{l:04d}", "+1 {a}-{e}-{l:04d}", "{a}.{e}.{l:04d}", "{a}-{e}-{l:04d}"])
    return fmt.format(a=area, e=exchange, l=line)


def ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


GENERATORS = {"EMAIL_ADDRESS": email, "PHONE_NUMBER": phone, "US_SSN": ssn, "CREDIT_CARD": credit_card,
              "IP_ADDRESS": ipv4}


def planted_value(entity_type: str, rng: random.Random) -> str:
    return GENERATORS[entity_type](rng)
