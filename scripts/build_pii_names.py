"""Build `datapilot_pipeline/data/pii_names.jsonl`: first names, last names and street words per locale.

    python scripts/build_pii_names.py

Source: Faker's person and address providers (Faker is a dev dependency; the package ships only the
generated file). One name in ten (chosen by a stable hash) is held out of the shipped lists so the tests
can measure recall on names the detector has never seen (`is_held_out`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

LOCALES = ("en_US", "en_GB", "en_CA", "en_AU", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR")
OUT = Path(__file__).resolve().parents[1] / "datapilot_pipeline" / "data" / "pii_names.jsonl"


def is_held_out(name: str) -> bool:
    return int(hashlib.sha1(name.lower().encode("utf-8")).hexdigest(), 16) % 10 == 0


def _provider(faker, kind: str):
    return next(p for p in faker.factories[0].providers if f"providers.{kind}" in type(p).__module__)


def _words(values) -> list[str]:
    return sorted({w for v in values for w in str(v).replace("-", " ").split() if len(w) > 1})


def locale_lists(locale: str) -> dict:
    from faker import Faker

    faker = Faker(locale)
    person, address = _provider(faker, "person"), _provider(faker, "address")
    first = _words(list(getattr(person, "first_names", ())) + list(getattr(person, "first_names_male", ()))
                   + list(getattr(person, "first_names_female", ())))
    last = _words(getattr(person, "last_names", ()))
    street = set()
    for attr in ("street_suffixes", "street_prefixes", "street_suffixes_long", "street_suffixes_short"):
        street.update(str(s).strip() for s in getattr(address, attr, ()) if str(s).strip())
    for fmt in getattr(address, "street_name_formats", ()):  # literal words such as "Nagar" in "{{last_name}} Nagar"
        street.update(w for w in fmt.split() if "{" not in w)
    return {"locale": locale, "first": [n for n in first if not is_held_out(n)],
            "last": [n for n in last if not is_held_out(n)], "street": sorted(street)}


def main() -> int:
    lines = [json.dumps(locale_lists(loc), ensure_ascii=False, sort_keys=True) for loc in LOCALES]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
