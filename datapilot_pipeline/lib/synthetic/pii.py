"""Customer PII as it appears in real business tables: valid-format values that PII scanners accept.

Scanners (presidio among them) ignore well-known dummies such as 123-45-6789 or Luhn-invalid card
numbers, so every value here has a valid shape: SSN area not 000/666/9xx, cards pass the Luhn check.
"""

from __future__ import annotations

import random

FIRST_NAMES = ("jane", "omar", "li", "priya", "marco", "sofia", "daniel", "aisha", "kenji", "elena",
               "lucas", "fatima", "noah", "grace", "mateo", "chloe", "ravi", "hannah", "diego", "mei")
LAST_NAMES = ("doe", "haddad", "wang", "sharma", "rossi", "garcia", "kim", "okafor", "tanaka", "petrov",
              "silva", "nguyen", "miller", "cohen", "lopez", "schmidt", "patel", "brown", "costa", "chen")
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "acme-corp.com")
# Real US area codes (not 555, which is reserved for fiction and is ignored by some scanners).
AREA_CODES = ("415", "212", "312", "617", "206", "303", "512", "404", "713", "646", "718", "510")
CARD_PREFIXES = ("4", "51", "52", "53", "54", "55")


def email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    sep = rng.choice((".", "_", ""))
    suffix = str(rng.randint(1, 99)) if rng.random() < 0.4 else ""
    return f"{first}{sep}{last}{suffix}@{rng.choice(EMAIL_DOMAINS)}"


def phone(rng: random.Random) -> str:
    """A US phone number as '(415) 555-0132' or '+1 415-555-0132' (exchange 200-999)."""
    area, exchange, line = rng.choice(AREA_CODES), rng.randint(200, 999), rng.randint(0, 9999)
    if rng.random() < 0.5:
        return f"({area}) {exchange}-{line:04d}"
    return f"+1 {area}-{exchange}-{line:04d}"


def ssn(rng: random.Random) -> str:
    """An SSN with a valid area (001-899 except 666), group 01-99 and serial 0001-9999."""
    area = rng.randint(1, 898)
    if area >= 666:
        area += 1
    value = f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    return "536-22-8714" if value == "123-45-6789" else value


def luhn_check_digit(digits: str) -> int:
    total = 0
    for pos, ch in enumerate(reversed(digits)):
        d = int(ch)
        if pos % 2 == 0:  # doubled positions, counted from the digit left of the check digit
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return (10 - total % 10) % 10


def luhn_valid(number: str) -> bool:
    """True when the digits of `number` (spaces and dashes ignored) pass the Luhn check."""
    digits = number.replace(" ", "").replace("-", "")
    return len(digits) >= 12 and digits.isdigit() and luhn_check_digit(digits[:-1]) == int(digits[-1])


def card_number(rng: random.Random) -> str:
    """A 16-digit Visa/Mastercard-shaped number that passes Luhn, grouped as '4111 1111 1111 1111'."""
    prefix = rng.choice(CARD_PREFIXES)
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(15 - len(prefix)))
    digits = body + str(luhn_check_digit(body))
    return " ".join(digits[i:i + 4] for i in range(0, 16, 4))


def ipv4(rng: random.Random) -> str:
    """A public-looking IPv4 address (first octet avoids 0, 10, 127 and 224+)."""
    first = rng.choice([n for n in range(11, 224) if n not in (127, 172, 192)])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES).title()} {rng.choice(LAST_NAMES).title()}"
