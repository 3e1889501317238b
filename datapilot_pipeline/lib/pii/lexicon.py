"""The shipped word data, built by `scripts/build_pii_names.py`: `data/pii_lexicon.tsv.gz` (first names and
surnames with their frequency rank in the configured countries, from the `names-dataset` package; and how
often each word is written in lower case or capitalized in the docstrings of the standard library, numpy,
pandas, scikit-learn, scipy and statsmodels; multi-word place names), `data/pii_names.jsonl` (street words per
locale, from Faker's address providers); and a hand list of business words, always read as ordinary words.

Loaded once per process, no pickles, nothing downloaded. The street types (`street_types`, a small JSONL) are read
on their own: the address precheck needs only them. The word lists (`lexicon`, a gzipped TSV of 1.3 MB read
column-wise: ~0.13 s of CPU) are read when a name or address is first weighed: a text with two capitalized words
side by side, or an address pattern's match; a scan of business text may never need them.
"""

from __future__ import annotations

import gzip
import json
import operator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from itertools import compress, repeat

# Locales whose street names carry the street type before the name (rue X, Calle X, Via X, Rua X),
# glued after it (Hauptstraße, Dorpsstraat) or as a separate word after it (Main Street).
PREFIX_STREET_LOCALES = ("fr_FR", "es_ES", "it_IT", "pt_BR")
GLUED_STREET_LOCALES = ("de_DE", "nl_NL")

# Capitalized words of business prose (sentence starts, headings, product and region names): counted as
# ordinary words whatever the prose counts say (words that are also common names, such as Grant, Hope or
# Young, are left to the counts).
BUSINESS_WORDS = frozenset("""
the this that these those there their then than when where which while with within without what who why how
a an and or but if in on at by for from to of as is are was were be been has have had will would shall should
may might can could must do does did not no yes all any each every some most more less many much few other
new old top low high mean median average total sum count max min std range rate ratio share percent index
price cost costs revenue sales sale profit margin income expense expenses budget forecast growth decline
order orders customer customers client clients user users account accounts product products item items
store stores shop region regions market markets segment segments channel channels category categories
north south east west central northern southern eastern western united states kingdom america europe asia
africa australia canada india germany france spain italy brazil netherlands london paris berlin madrid rome
new york california texas florida january february march april may june july august september october
november december monday tuesday wednesday thursday friday saturday sunday spring summer autumn fall winter
feb apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat
q1 q2 q3 q4 fy ytd mtd week weeks month months year years day days quarter quarters hour hours
data dataset column columns row rows value values table field fields record records report reports
insight insights recommendation action summary chart trend trends outlier outliers anomaly anomalies
group groups class classes type types level levels score scores grade grades tier tiers rank
online offline retail wholesale direct partner partners premium standard basic gold silver bronze platinum
mobile desktop web app email phone search social paid organic referral campaign campaigns ads ad
support service services team teams sales marketing finance operations engineering hr legal
contact call ask please thanks thank hi hello dear via cc re fwd attn kunde cliente klant
reach email ping tell send invite remind notify follow check escalate forward loop
first second third last next previous current overall general global local national international
big small large medium long short early late final main key major minor primary secondary
review reviews rating ratings feedback survey note notes comment comments status priority
warehouse distribution delivery shipping supply logistics inventory stock units unit volume
monthly weekly daily annual yearly quarterly per vs versus approx approximately about over under
increase decrease drop rise spike jump change changes difference gap lift uplift churn retention
age income education health wine iris diabetes housing boston cancer tumor patient patients
model models version release build update upgrade patch api sdk
street road avenue lane drive court place square park
""".split())

TITLES = frozenset("""
mr mrs ms miss mx dr prof sir madam dame herr frau fräulein m mme mlle monsieur madame sr sra srta don doña
sig sig.ra signor signora dott dott.ssa ing avv dhr mevr mevrouw meneer shri smt kumari sri
""".split())

PARTICLES = frozenset("van von der den de del della di da dos das do du la le ten ter bin al el y e".split())


@dataclass(frozen=True)
class Lexicon:
    first: frozenset[str]  # lower case given names of the shipped lists
    last: frozenset[str]  # lower case surnames
    suffix_streets: frozenset[str]  # "Street", "Burg", "Nagar": after the name, separate word
    prefix_streets: frozenset[str]  # "rue", "Calle", "Via", "Rua": before the name
    glued_streets: tuple[str, ...]  # "straße", "straat", "laan": glued to the name, lower case
    # lower-cased word -> (first-name rank, surname rank, lower-case uses, mid-sentence capitalized uses); 0 = none
    words: Mapping[str, tuple[int, int, int, int]] = field(default_factory=dict)
    places: frozenset[str] = frozenset()  # lower-cased multi-word place names ("san diego", "new south wales")

    def usage(self, word: str) -> tuple[int, int, int, int]:
        return self.words.get(word, _NONE)


_NONE = (0, 0, 0, 0)


class _Counts(Mapping):
    """word -> (first-name rank, surname rank, lower-case uses, capitalized uses) over the TSV's columns, which stay
    strings until a word is looked up (the detector's callers cache what they look up)."""

    def __init__(self, index: dict[str, int], columns: list[list[str]]) -> None:
        self._index, self._columns = index, columns

    def get(self, word: str, default=None):
        row = self._index.get(word)
        if row is None:
            return default
        first, last, lower, cap = self._columns
        return int(first[row] or 0), int(last[row] or 0), int(lower[row] or 0), int(cap[row] or 0)

    def __getitem__(self, word: str) -> tuple[int, int, int, int]:
        found = self.get(word)
        if found is None:
            raise KeyError(word)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


_FIELDS = 5  # word or place, first_rank, last_rank, lower_uses, capitalized_uses


def tsv_columns(text: str) -> list[list[str]]:
    """The columns of the lexicon's TSV `text`, without its header: lists of strings, '' where a count is empty.
    Read column-wise (the cells are one `split`, a column every fifth cell) rather than row by row: a Python loop
    over the 200,000 rows took 1.7 G instructions, more than a quarter of a validation worker's start. The cell count
    catches a short or long row; a short row beside a long one would shift a column, which the shipped file's test
    (read row by row) rules out."""
    body = text[text.index("\n") + 1:].rstrip("\n")
    cells = body.replace("\n", "\t").split("\t")
    if len(cells) != _FIELDS * (body.count("\n") + 1):
        raise ValueError(f"the PII lexicon has a row without its {_FIELDS} fields")
    return [cells[k::_FIELDS] for k in range(_FIELDS)]


def _read_words() -> tuple[_Counts, frozenset[str], frozenset[str], frozenset[str]]:
    """(word counts, given names, surnames, places): a name is a word with a rank in its column."""
    raw = resources.files("datapilot_pipeline").joinpath("data/pii_lexicon.tsv.gz").read_bytes()
    words, first_ranks, last_ranks, lower, cap = tsv_columns(gzip.decompress(raw).decode("utf-8"))
    places = frozenset(compress(words, map(operator.contains, words, repeat(" "))))
    index = dict(zip(words, range(len(words))))
    for place in places:
        del index[place]
    first = frozenset(compress(words, first_ranks)).difference(places)
    last = frozenset(compress(words, last_ranks)).difference(places)
    return _Counts(index, [first_ranks, last_ranks, lower, cap]), first, last, places


@dataclass(frozen=True)
class StreetTypes:
    suffix: frozenset[str]  # "Street", "Burg", "Nagar": after the name, separate word
    prefix: frozenset[str]  # "rue", "Calle", "Via", "Rua": before the name
    glued: tuple[str, ...]  # "straße", "straat", "laan": glued to the name, lower case, longest first


@lru_cache(maxsize=1)
def street_types() -> StreetTypes:
    suffix: set[str] = set()
    prefix: set[str] = set()
    glued: set[str] = set()
    text = resources.files("datapilot_pipeline").joinpath("data/pii_names.jsonl").read_text(encoding="utf-8")
    for line in text.splitlines():
        entry = json.loads(line)
        words = [w for w in entry["street"] if w.lower() not in PARTICLES]
        if entry["locale"] in PREFIX_STREET_LOCALES:
            prefix.update(w for w in words if w != "Street")
        elif entry["locale"] in GLUED_STREET_LOCALES:
            glued.update(w.lower() for w in words if w != "Street")
        else:
            suffix.update(words)
    glued.update(("strasse", "str.", "gracht", "plein", "kade", "dijk", "straat", "markt"))
    suffix.update(("St", "St.", "Rd", "Rd.", "Ave", "Ave.", "Blvd", "Blvd.", "Ln", "Dr.", "Hwy", "Pkwy"))
    prefix.update(("Avenue", "Boulevard", "Chemin", "Rue", "Allée", "Impasse", "Quai", "Carrer", "Travesía"))
    return StreetTypes(frozenset(suffix), frozenset(prefix), tuple(sorted(glued, key=len, reverse=True)))


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    streets = street_types()
    words, first, last, places = _read_words()
    return Lexicon(first, last, streets.suffix, streets.prefix, streets.glued, words, places)
