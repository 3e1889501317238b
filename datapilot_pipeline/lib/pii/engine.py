"""Scanning and masking: Presidio's analyzer for the pattern entities, the name and address detectors
for the rest, and the rules that keep business numbers intact.

Rules that keep numeric data intact: JSON numbers are never strings here, so never scanned. A finding
that is a plain number (`1683.75`, `4155552671`, a row index) is dropped unless it is a 13-19 digit card
number passing brand and Luhn checks, an E.164 number (`+14155552671`), or a context word for its
entity stands right before it (`phone 4155552671`, a column named `mobile`). Dates, ranges, versions,
thousands-separated amounts and ZIP+4 codes are never phones; a dotted quad after a version word is
never an IP; a GTIN-valid bare digit run (EAN/UPC/ISBN) is a card only after a card word.

Speed: only strings passing a cheap superset test (`could_contain_pii`) reach Presidio; the name and
address detectors are regexes and set lookups; repeated strings are analyzed once; many strings go in
one Presidio call, joined by a separator no recognizer matches across.
"""

from __future__ import annotations

import bisect
import importlib
import os
import re
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from datapilot_pipeline.lib.import_guards import patched_while_importing, unavailable
from datapilot_pipeline.lib.pii.checks import digits_of, gtin_valid, looks_like_business_number, weak_phone
from datapilot_pipeline.lib.pii.config import DEFAULT_CONFIG, PiiConfig, locale_of
from datapilot_pipeline.lib.pii.context import TEXT_SEPARATOR, VERSION_WORDS, has_context

_SEP = TEXT_SEPARATOR  # findings crossing one are re-checked
_BATCH_CHARS = 200_000

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?")
_DIGIT_CLUSTER = re.compile(r"[+(]?\d[\d ()+\-./]*")
_IPV4_LIKE = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_TWO_COLONS = re.compile(r"[0-9A-Fa-f]*:[0-9A-Fa-f]*:")  # every IPv6 form has two colons ("::1" included)
# Letter-digit identifiers with fewer than 7 digits in a row: UK NINO, IN PAN, IT codice fiscale.
_ID_SHAPE = re.compile(r"\b[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b|\b[A-Z]{5}\d{4}[A-Z]\b|\b[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]",
                       re.IGNORECASE)
_MIN_CLUSTER_DIGITS = 7
# Something each way `could_contain_pii` says True needs: an "@", two colons with hex digits between, 7 digits joined by
# the digit cluster's separators only (so in one cluster), a dotted quad or an identifier shape (`MAYBE_PII_PARTS`).
MAYBE_PII_PARTS = ("@", ":[0-9A-Fa-f]*:", r"\d(?:[ ()+\-./]*\d){6}", _IPV4_LIKE.pattern, _ID_SHAPE.pattern)
# The same, written so that every branch starts at an "@", a ":" or a digit (the identifier shapes' letters are
# looked behind their first digit): the regex engine then skips every other character in C. The plain alternation of
# the parts tried each one at every character of every string, 10 us for a 36-character insight text; this takes
# 2.5 us. A test holds the two to the same answers.
_MAYBE_PII = re.compile(
    r"@|:[0-9A-Fa-f]*:|\d(?:(?:[ ()+\-./]*\d){6}|\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
    r"|(?:(?<=\b[A-Z]{2}\d)|(?<=\b[A-Z]{2} \d))\d ?\d{2} ?\d{2} ?[A-D]\b"
    r"|(?<=\b[A-Z]{5}\d)\d{3}[A-Z]\b|(?<=\b[A-Z]{6}\d)\d[A-Z]\d{2}[A-Z])", re.IGNORECASE)
# Every address shape has a number, or a street name (capitalized) after its street type: a word, a space, maybe a
# word of 1-3 characters and a space, then a capital. Each branch starts at a digit or a space (the word before is
# looked behind), so the regex engine skips every other character in C.
_ADDRESS_HINT = re.compile(r"\d|(?<=\w) (?:\w{1,3} )?[A-ZÀ-Þ]")
_TRUNK_PREFIXED = re.compile(r"0[1-9]\d{8,9}")  # a national number written with its trunk zero

_NEEDS_CONTEXT_BARE = {"NL_BSN", "CA_SIN", "AU_TFN", "DE_TAX_ID", "IN_AADHAAR"}


@dataclass(frozen=True)
class PiiFinding:
    """One finding in a string: entity type, character span [start, end), score, locale where known."""

    entity_type: str
    start: int
    end: int
    score: float
    locale: str | None = None


def is_plain_number(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and any(map(str.isdigit, stripped)) and _PLAIN_NUMBER.fullmatch(stripped) is not None


def could_contain_pii(text: str) -> bool:
    """Cheap superset test: False only when no Presidio recognizer here can match the string."""
    if _MAYBE_PII.search(text) is None:  # one regex scan settles most strings
        return False
    if "@" in text or (":" in text and _TWO_COLONS.search(text)):
        return True
    if is_plain_number(text) and sum(map(str.isdigit, text)) < 12 and not text.lstrip().startswith(("+", "0")):
        return False
    if _IPV4_LIKE.search(text) or _ID_SHAPE.search(text):
        return True
    return any(sum(map(str.isdigit, m.group())) >= _MIN_CLUSTER_DIGITS
               and not looks_like_business_number(m.group().strip(" ()-./")) for m in _DIGIT_CLUSTER.finditer(text))


def _keep(f: PiiFinding, text: str) -> bool:
    span = text[f.start:f.end]
    before = text[:f.start]
    if f.entity_type == "IP_ADDRESS":
        words = re.findall(r"[^\W\d_]+", before[-24:].lower())
        return not (before.endswith(("v", "V")) or any(w == v or len(v) > 2 and w.startswith(v)
                                                         for w in words[-3:] for v in VERSION_WORDS))
    if f.entity_type == "CREDIT_CARD":
        digits = digits_of(span)
        if gtin_valid(digits) and (span.isdigit() or span.count("-") > 0) and not has_context(f.entity_type, before):
            return False
    if f.entity_type == "PHONE_NUMBER" and not has_context(f.entity_type, before) and weak_phone(span):
        return False
    if f.entity_type in _NEEDS_CONTEXT_BARE and span.isdigit() and not has_context(f.entity_type, before):
        return False
    if not is_plain_number(span):
        return True
    if f.entity_type == "CREDIT_CARD":  # brand, length and Luhn already checked
        return "." not in span
    if f.entity_type == "FR_NIR":  # 15 digits, sex digit, month and a mod-97 key: no business number passes
        return True
    if f.entity_type == "PHONE_NUMBER" and (span.startswith("+") or _TRUNK_PREFIXED.fullmatch(span)):
        return True
    return has_context(f.entity_type, before)


# ---------------------------------------------------------------- analyzer
_ANALYZERS: dict[PiiConfig, object] = {}
_LOCK = threading.Lock()


class _SpacyCliOnFirstUse(types.ModuleType):
    """Stands for `spacy.cli` or `spacy.cli.info` while Presidio imports spaCy; reading an attribute it lacks
    imports spaCy's own module (the stand-ins leave `sys.modules` first) and answers from it."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        for module in ("spacy.cli.info", "spacy.cli"):
            if isinstance(sys.modules.get(module), _SpacyCliOnFirstUse):
                del sys.modules[module]
        spacy = sys.modules.get("spacy")
        if spacy is not None and isinstance(spacy.__dict__.get("cli"), _SpacyCliOnFirstUse):
            del spacy.cli
        return getattr(importlib.import_module(self.__name__), name)


def _spacy_info(*args, **kwargs):
    """`spacy.info`, spaCy's own imported on the first call."""
    from spacy.cli.info import info

    return info(*args, **kwargs)


@contextmanager
def _without_spacy_cli():
    """Import spaCy (Presidio's NLP artifacts need its `Doc`) without its command line: `spacy/__init__.py` runs
    `from .cli.info import info`, which imports every spaCy command (typer, weasel, requests, jinja2: ~0.3 s of CPU,
    a sixth of a validation worker's start). While Presidio is imported, `spacy.cli` and `spacy.cli.info` are
    stand-ins whose `info` imports the real one when called; afterwards `import spacy.cli` imports spaCy's own
    module, and `spacy.cli.<name>` (Presidio's model download) imports it on first use."""
    if "spacy" in sys.modules:
        yield
        return
    package, info = _SpacyCliOnFirstUse("spacy.cli"), _SpacyCliOnFirstUse("spacy.cli.info")
    info.info = _spacy_info
    sys.modules["spacy.cli"], sys.modules["spacy.cli.info"] = package, info
    try:
        yield
    finally:
        for name, stand_in in (("spacy.cli.info", info), ("spacy.cli", package)):
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
        spacy = sys.modules.get("spacy")
        if spacy is not None and "cli" not in spacy.__dict__:
            spacy.cli = package  # `spacy.cli.download` still works: its first read imports the real module


@contextmanager
def _without_unused_ml_imports():
    """Import Presidio without torch and transformers when this process has not imported them yet.

    `import presidio_analyzer` imports every NLP engine it ships: the transformers engine imports
    `transformers.pipeline` and torch, its device detector imports torch, and spaCy's thinc imports torch; each
    is optional there (`except ImportError`). The analyzer here runs on the no-op NLP engine and pattern
    recognizers, which use none of them, and the imports cost 4-10 s of CPU per process (most of a 20,000-line
    validation). A process that has already imported torch or transformers keeps them; after the import either
    can be imported as usual (thinc then reports no torch support, which no code here uses)."""
    if "presidio_analyzer" in sys.modules:
        yield
        return
    with unavailable(("torch", "transformers")) as blocked:
        if not blocked:
            yield
            return
        device = os.environ.get("PRESIDIO_DEVICE")
        os.environ["PRESIDIO_DEVICE"] = "cpu"  # its device detector then asks torch nothing
        try:
            yield
        finally:
            if device is None:
                os.environ.pop("PRESIDIO_DEVICE", None)
            else:
                os.environ["PRESIDIO_DEVICE"] = device


def _pattern_checks_left_to_first_use(pattern_module: types.ModuleType):
    """Presidio's `Pattern` without its check by compiling (`patched_while_importing`); returns what restores it."""
    pattern = pattern_module.Pattern
    check = pattern.__dict__["_Pattern__validate_regex"]
    pattern._Pattern__validate_regex = staticmethod(_compiled_on_first_use)

    def restore() -> None:
        pattern._Pattern__validate_regex = check

    return restore


def _compiled_on_first_use(regex: str) -> None:
    """Presidio's recognizer modules build their class-level `Pattern`s at import, and each compiled its regex to check
    it and dropped the result: ~170 patterns, 0.15 s of CPU, a fifth of the import, in every process that scans. A
    recognizer compiles its patterns again, with its flags, when it first analyzes a text, which raises on a bad one;
    so while Presidio is imported the check waits for that. Patterns built afterwards (`recognizers.build_recognizers`)
    are checked as Presidio checks them."""


def get_analyzer(config: PiiConfig = DEFAULT_CONFIG):
    """The process-wide Presidio analyzer for `config`, built on first use (well under a second)."""
    analyzer = _ANALYZERS.get(config)
    if analyzer is None:
        with _LOCK:
            analyzer = _ANALYZERS.get(config)
            if analyzer is None:
                analyzer = _ANALYZERS[config] = _build_analyzer(config)
    return analyzer


def _build_analyzer(config: PiiConfig):
    with _without_unused_ml_imports(), _without_spacy_cli(), \
            patched_while_importing("presidio_analyzer.pattern", _pattern_checks_left_to_first_use):
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
        from presidio_analyzer.nlp_engine import NoOpNlpEngine

    class NoContextEnhancer(ContextAwareEnhancer):
        """Context is judged by the project's rules (`_keep`); without NLP tokens Presidio's lemma enhancer finds
        nothing and only costs time."""

        def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
            return raw_results

    from datapilot_pipeline.lib.pii.recognizers import build_recognizers

    registry = RecognizerRegistry(recognizers=build_recognizers(config), supported_languages=["en"])
    nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"],
                          context_aware_enhancer=NoContextEnhancer(0, 0, 0, 0))


def _analyze(text: str, config: PiiConfig, skipped: frozenset[str] = frozenset()) -> list[PiiFinding]:
    wanted = [e for e in config.entities if e not in ("PERSON", "STREET_ADDRESS") and e not in skipped]
    results = get_analyzer(config).analyze(text=text, language="en", entities=wanted,
                                           score_threshold=min([config.min_score, *config.thresholds.values()]))
    out = []
    for r in results:
        if r.score >= config.threshold(r.entity_type):
            region = (r.recognition_metadata or {}).get("region")
            out.append(PiiFinding(r.entity_type, r.start, r.end, float(r.score), locale_of(r.entity_type, region)))
    return out


_TEXT_ENTITIES = ("PERSON", "STREET_ADDRESS")  # found in free text by lib/pii/names.py and addresses.py


def _inside_another(f: PiiFinding, findings: list[PiiFinding]) -> bool:
    """A name or street found strictly inside a longer name or street: a part of it ("Rita Vila Castelló" is a
    person whose surname starts like a street)."""
    return f.entity_type in _TEXT_ENTITIES and any(
        g.entity_type in _TEXT_ENTITIES and g.start <= f.start and f.end <= g.end and g.end - g.start > f.end - f.start
        for g in findings)


def resolve_overlaps(findings: list[PiiFinding]) -> list[PiiFinding]:
    """Keep the best of overlapping findings (higher score, then longer span), sorted by start; a name or street
    inside a longer one gives way to it."""
    ranked = sorted((f for f in findings if not _inside_another(f, findings)),
                    key=lambda f: (-f.score, -(f.end - f.start), f.start))
    kept: list[PiiFinding] = []
    for f in ranked:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


# A run of digits each apart from the next by at most one whitespace, dot, dash, slash or colon, and the fewest
# digits in one such run that every pattern of these recognizers needs (`recognizers.build_recognizers` and
# Presidio's): an NIF/NIE has 7 or 8 digits before its letter, a Corsican NIR 8 after its "2A"/"2B", an SSN, BSN,
# SIN or TFN 9, a CPF or German tax id 11, a card or Aadhaar number 12.
_DIGIT_RUN = re.compile(r"\d(?:[\s./:-]?\d)*")
_DIGITS_IN_A_RUN = (("ES_NIF", 7), ("ES_NIE", 7), ("FR_NIR", 8), ("US_SSN", 9), ("NL_BSN", 9), ("CA_SIN", 9),
                    ("AU_TFN", 9), ("BR_CPF", 11), ("DE_TAX_ID", 11), ("CREDIT_CARD", 12), ("IN_AADHAAR", 12))


def _longest_digit_run(text: str) -> int:
    longest = 0
    for run in _DIGIT_RUN.findall(text):
        if len(run) > longest:  # a run holds at most as many digits as characters
            longest = max(longest, sum(map(str.isdigit, run)))
    return longest


def _impossible(text: str) -> frozenset[str]:
    """Entities no recognizer can find in `text`: an email address needs an "@"; every IP pattern Presidio has needs
    three dots (IPv4, IPv4-mapped) or two colons (IPv6); the identifiers of `_DIGITS_IN_A_RUN` need a run of that
    many digits."""
    skipped = set()
    if "@" not in text:
        skipped.add("EMAIL_ADDRESS")
    if text.count(".") < 3 and text.count(":") < 2:
        skipped.add("IP_ADDRESS")
    longest = _longest_digit_run(text)
    skipped.update(entity for entity, digits in _DIGITS_IN_A_RUN if longest < digits)
    return frozenset(skipped)


def _presidio_findings(texts: list[str], config: PiiConfig) -> dict[str, list[PiiFinding]]:
    """Findings per distinct text, analyzing many texts per Presidio call; texts that cannot hold an email or an
    IP address go in calls that skip those recognizers (which would find nothing in them)."""
    out: dict[str, list[PiiFinding]] = {t: [] for t in texts}
    groups: dict[frozenset[str], list[str]] = {}
    for text in texts:
        groups.setdefault(_impossible(text), []).append(text)
    recheck: list[tuple[str, frozenset[str]]] = []
    for skipped, group in groups.items():
        for batch in _batches(group):
            starts, pos = [], 0
            for t in batch:
                starts.append(pos)
                pos += len(t) + len(_SEP)
            for f in _analyze(_SEP.join(batch), config, skipped):
                i = bisect.bisect_right(starts, f.start) - 1
                local = PiiFinding(f.entity_type, f.start - starts[i], f.end - starts[i], f.score, f.locale)
                if local.end > len(batch[i]):
                    recheck.append((batch[i], skipped))
                else:
                    out[batch[i]].append(local)
    for text, skipped in dict.fromkeys(recheck):
        out[text] = _analyze(text, config, skipped)
    return out


def _batches(texts: list[str]) -> Iterator[list[str]]:
    """Consecutive runs of `texts` of about `_BATCH_CHARS` characters, separators included."""
    batch: list[str] = []
    size = 0
    for text in texts:
        batch.append(text)
        size += len(text) + len(_SEP)
        if size >= _BATCH_CHARS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


_TEXT_FINDERS: tuple | None = None  # (find_address_spans, find_person_spans), imported on first use


def _text_finders() -> tuple:
    global _TEXT_FINDERS
    if _TEXT_FINDERS is None:
        from datapilot_pipeline.lib.pii.addresses import find_address_spans
        from datapilot_pipeline.lib.pii.names import find_person_spans

        _TEXT_FINDERS = find_address_spans, find_person_spans
    return _TEXT_FINDERS


def _text_findings(text: str, config: PiiConfig) -> list[PiiFinding]:
    find_address_spans, find_person_spans = _TEXT_FINDERS or _text_finders()  # not an import per text: ~2 us each
    found = []
    if config.wants("STREET_ADDRESS") and " " in text and _ADDRESS_HINT.search(text):
        spans = find_address_spans(text)
        if spans:
            found += [PiiFinding("STREET_ADDRESS", a, b, 0.6) for a, b in spans]
    if config.wants("PERSON"):
        spans = find_person_spans(text)
        if spans:
            found += [PiiFinding("PERSON", a, b, 0.55) for a, b in spans]
    return found


def scan_texts(texts: list[str], config: PiiConfig = DEFAULT_CONFIG) -> list[list[PiiFinding]]:
    """PII findings for each text (same order); texts without PII get an empty list."""
    unique = list(dict.fromkeys(t for t in texts if isinstance(t, str)))
    candidates = [t for t in unique if could_contain_pii(t)]
    found = _presidio_findings(candidates, config) if candidates else {}
    result: dict[str, list[PiiFinding]] = {}
    for text in unique:
        findings = _text_findings(text, config)
        hits = found.get(text)  # Presidio's, for the few candidates
        if hits:
            findings = [f for f in hits if _keep(f, text)] + findings
        result[text] = resolve_overlaps(findings) if findings else findings
    return [list(result.get(t, [])) if isinstance(t, str) else [] for t in texts]


def apply_findings(text: str, findings: list[PiiFinding]) -> str:
    for f in sorted(findings, key=lambda f: f.start, reverse=True):
        text = text[: f.start] + f"<{f.entity_type}>" + text[f.end:]
    return text


def mask_texts(texts: list[str], config: PiiConfig = DEFAULT_CONFIG) -> list[str]:
    """Each text with its findings replaced by typed placeholders such as `<EMAIL_ADDRESS>`."""
    return [apply_findings(t, fs) if fs else t for t, fs in zip(texts, scan_texts(texts, config))]


def mask_text(text: str, config: PiiConfig = DEFAULT_CONFIG) -> str:
    return mask_texts([text], config)[0]
