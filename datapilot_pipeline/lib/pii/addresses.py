"""Street addresses in free text by pattern, with the street-type words of each locale.

Three shapes: `391 Johnson Burg Apt. 636` / `78, Pai Ganj` (number, capitalized name, street type after
it, optional unit), `Hauptstraße 12` / `Lisasingel 8` / `Kordula-Mangold-Straße 8533` (street type glued
or hyphenated, then a number), `12, rue de Petit` / `Calle de Telmo Andres 837` / `Via Roma, 47`
(street type first, name, optional number). Business vocabulary is never a street name.
"""

from __future__ import annotations

import re
from functools import lru_cache

from datapilot_pipeline.lib.pii.lexicon import BUSINESS_WORDS, lexicon, street_types

_UP = "A-ZÀ-ÖØ-ÞĀ-ſ"
_CAP = rf"[{_UP}](?:[^\W\d_]|['’.])*(?:-[{_UP}](?:[^\W\d_]|['’])+)*"
_NUM = r"\d{1,5}[A-Za-z]?(?:[/-]\d{1,4}[A-Za-z]?)?"
_UNIT_WORD = (r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Floor|Fl\.?|#|Appartamento|Piso|Puerta|Étage|Bus|Wohnung"
              r"|Apto\.?|Sala|Bloco|Studio|Level|Shop|Piano|Interno|Scala|H\.\s?No\.?|Haus|Wohnung|App\.?|Bte)\s*\w{1,6}")
_UNIT = rf"(?:,?\s+{_UNIT_WORD})?"
_LINK = r"(?:\s+(?:de|del|de la|de las|de los|du|des|da|do|dos|das|di|della|dei|degli|the|of|van|von)\b)?"


def _alt(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern, ...]:
    streets = street_types()
    suffix = (rf"(?<![\w.,])(?:{_UNIT_WORD},?\s+(?:{_NUM},?\s+)?|{_NUM},?\s+)(?P<name>(?:{_CAP}\s+){{1,3}})"
              rf"(?P<type>{_alt(streets.suffix)})(?![\w]){_UNIT}")
    glued = (rf"(?<![\w-])(?P<name>(?:(?:{_CAP}|van|von|der|den|de)[ -]){{0,4}}(?:[{_UP}][^\W\d_]*)?(?i:{_alt(streets.glued)}))"
             rf"\s+{_NUM}(?![\w]){_UNIT}")
    prefix = (rf"(?<![\w])(?:{_NUM},?\s+)?(?:{_alt(streets.prefix)}){_LINK}{_LINK}\s+(?P<name>{_CAP}"
              rf"(?:{_LINK}{_LINK}\s+{_CAP}){{0,3}})(?:,?\s+{_NUM}(?![\w]))?{_UNIT}")
    return (re.compile(suffix), re.compile(glued), re.compile(prefix))


# Street types that are also everyday business nouns: after business words alone they are not a street.
_AMBIGUOUS_TYPES = frozenset({"center", "centers", "centre", "club", "park", "plaza", "square", "market", "point",
                              "points", "way", "station", "common", "course", "field", "fields", "light", "lights"})


def _name_ok(name: str, street_type: str = "") -> bool:
    """Not business vocabulary alone before an everyday street type ("14 Distribution Centers"), unless a word
    is also a known name ("12 King Club")."""
    if street_type and street_type.lower().rstrip(".") not in _AMBIGUOUS_TYPES:
        return True
    lex = lexicon()
    words = [w.strip(".,").lower() for w in re.split(r"[\s-]+", name) if w]
    return bool(words) and not all(w in BUSINESS_WORDS and w not in lex.first and w not in lex.last for w in words)


_LETTER_RUN = re.compile(r"[^\W\d_]+")
# What `re.IGNORECASE` matches a letter of a glued street type with that `str.lower` does not map to it: the
# regex engine lowers one character at a time (U+0130 to i) and treats dotless i as i and long s as s.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


@lru_cache(maxsize=1)
def _hints() -> tuple[frozenset[str], re.Pattern]:
    """What every match holds: the first letter run of a suffix or prefix street type as a whole letter run of the
    text (those types follow a space or a non-word character and end at a non-letter), or a glued type anywhere in
    the lower-cased text (the glued pattern ignores case)."""
    streets = street_types()
    runs = frozenset(_LETTER_RUN.match(t).group() for t in (*streets.suffix, *streets.prefix))
    return runs, re.compile(_alt(t.lower() for t in streets.glued))


def may_hold_address(text: str) -> bool:
    """False only when no address pattern can match `text` (a set lookup per word and one case-sensitive scan,
    instead of three scans with hundreds of alternatives at every position)."""
    runs, glued = _hints()
    if not runs.isdisjoint(_LETTER_RUN.findall(text)):
        return True
    folded = text if text.isascii() else text.translate(_FOLD)  # `_FOLD` maps no ASCII letter: most texts skip it
    return glued.search(folded.lower()) is not None


def find_address_spans(text: str) -> list[tuple[int, int]]:
    if not may_hold_address(text):
        return []
    spans = []
    for pattern in _patterns():
        for m in pattern.finditer(text):
            if _name_ok(m.group("name"), m.groupdict().get("type") or ""):
                spans.append((m.start(), m.end()))
    return spans
