"""PII detection and masking with Presidio, configured to run offline and fast.

The analyzer is built explicitly (Presidio's default engine downloads spaCy's en_core_web_lg):
pattern recognizers for emails, US phones, US SSNs, credit cards, IP addresses and IBANs, no NLP
model (context words are not needed at `MIN_SCORE`), and a spaCy NER model for PERSON only when one is
already installed. The email recognizer's domain check uses tldextract's bundled suffix snapshot, never
the network.

Rules that keep numeric data intact: plain numbers (JSON numbers, numeric strings such as `1683.75`,
row indices) are never findings, except 13-19 digit Luhn-valid card numbers. Typed placeholders
(`<EMAIL_ADDRESS>`) contain nothing a recognizer matches, so masking is idempotent.

Speed: only strings passing a cheap superset test (`could_contain_pii`: an '@', two colons, a dotted
quad, or a run of 7+ digits in the separators phone/SSN/card/IBAN formats use) reach Presidio;
repeated strings are analyzed once; many strings go in one call, joined by a separator no recognizer
matches across.
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass
from typing import Any

ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IP_ADDRESS", "IBAN_CODE")
# Presidio base scores: phone 0.4, SSN (delimited) 0.5, IPv4/IPv6 0.6, validated email/card/IBAN 1.0.
# The "very weak" SSN patterns (0.05, bare digit runs) fall below this bar.
MIN_SCORE = 0.4
SPACY_NER_MODELS = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm")
# Blank lines break every pattern used here (none spans "\n\n"); findings crossing one are re-checked.
_SEP = "\n\n"
_BATCH_CHARS = 200_000

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?")
# A run of digits and the separators phone/SSN/card/IBAN formats use.
_DIGIT_CLUSTER = re.compile(r"[+(]?\d[\d ()+\-./]*")
_IPV4_LIKE = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_TWO_COLONS = re.compile(r"[0-9A-Fa-f]*:[0-9A-Fa-f]*:")  # every IPv6 form has two colons ("::1" included)
_MIN_CLUSTER_DIGITS = 7  # the shortest valid phone numbers (with country code) have 7 digits


@dataclass(frozen=True)
class PiiFinding:
    """One finding in a string: Presidio entity type, character span [start, end), score."""

    entity_type: str
    start: int
    end: int
    score: float


def is_plain_number(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and any(c.isdigit() for c in stripped) and _PLAIN_NUMBER.fullmatch(stripped) is not None


def could_contain_pii(text: str) -> bool:
    """Cheap superset test: False only when no recognizer here can match the string."""
    if "@" in text or (":" in text and _TWO_COLONS.search(text)):
        return True
    if not any(c.isdigit() for c in text):
        return False
    if is_plain_number(text) and sum(c.isdigit() for c in text) < 13:
        return False
    if _IPV4_LIKE.search(text):
        return True
    return any(sum(c.isdigit() for c in m.group()) >= _MIN_CLUSTER_DIGITS for m in _DIGIT_CLUSTER.finditer(text))


def _keep(entity_type: str, matched: str) -> bool:
    if not is_plain_number(matched):
        return True
    digits = sum(c.isdigit() for c in matched)
    return entity_type == "CREDIT_CARD" and 13 <= digits <= 19 and "." not in matched


# ---------------------------------------------------------------- analyzer
_ANALYZER = None
_LOCK = threading.Lock()


def _installed_ner_model() -> str | None:
    import spacy.util

    return next((name for name in SPACY_NER_MODELS if spacy.util.is_package(name)), None)


def _build_analyzer():
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer, EmailRecognizer, IbanRecognizer, IpRecognizer, PhoneRecognizer, SpacyRecognizer,
        UsSsnRecognizer,
    )

    # No suffix-list URLs and no disk cache: tldextract uses the snapshot bundled with the package.
    offline_tld = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str):
            return offline_tld(pattern_text).fqdn != ""

    # US region only: one phonenumbers pass per text; "+<country>" numbers still parse from the US region.
    recognizers = [OfflineEmailRecognizer(), PhoneRecognizer(supported_regions=("US",)), UsSsnRecognizer(),
                   CreditCardRecognizer(), IpRecognizer(), IbanRecognizer()]
    model = _installed_ner_model()
    if model:
        nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
        recognizers.append(SpacyRecognizer(supported_entities=["PERSON"]))
    else:
        nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def get_analyzer():
    """The process-wide analyzer, built on first use (a few hundred ms)."""
    global _ANALYZER
    if _ANALYZER is None:
        with _LOCK:
            if _ANALYZER is None:
                _ANALYZER = _build_analyzer()
    return _ANALYZER


def entities() -> list[str]:
    """Entity types this scanner reports (PERSON only when a spaCy NER model is installed)."""
    return list(ENTITIES) + (["PERSON"] if _installed_ner_model() else [])


def _analyze(text: str) -> list[PiiFinding]:
    results = get_analyzer().analyze(text=text, language="en", entities=entities(), score_threshold=MIN_SCORE)
    return [PiiFinding(r.entity_type, r.start, r.end, float(r.score)) for r in results]


def _resolve_overlaps(findings: list[PiiFinding]) -> list[PiiFinding]:
    """Keep the best of overlapping findings (higher score, then longer span), sorted by start."""
    ranked = sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start))
    kept: list[PiiFinding] = []
    for f in ranked:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def _scan_unique(texts: list[str]) -> dict[str, list[PiiFinding]]:
    """Findings per distinct text, analyzing many texts per Presidio call."""
    out: dict[str, list[PiiFinding]] = {t: [] for t in texts}
    recheck: list[str] = []
    batch: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal batch, size
        if not batch:
            return
        starts, pos = [], 0
        for t in batch:
            starts.append(pos)
            pos += len(t) + len(_SEP)
        for f in _analyze(_SEP.join(batch)):
            i = bisect.bisect_right(starts, f.start) - 1
            local = PiiFinding(f.entity_type, f.start - starts[i], f.end - starts[i], f.score)
            if local.end > len(batch[i]):
                recheck.append(batch[i])
            else:
                out[batch[i]].append(local)
        batch, size = [], 0

    for text in texts:
        batch.append(text)
        size += len(text) + len(_SEP)
        if size >= _BATCH_CHARS:
            flush()
    flush()
    for text in dict.fromkeys(recheck):
        out[text] = _analyze(text)
    return {t: _resolve_overlaps([f for f in fs if _keep(f.entity_type, t[f.start:f.end])]) for t, fs in out.items()}


def scan_texts(texts: list[str]) -> list[list[PiiFinding]]:
    """PII findings for each text (same order); texts without PII get an empty list."""
    candidates = list(dict.fromkeys(t for t in texts if isinstance(t, str) and could_contain_pii(t)))
    found = _scan_unique(candidates) if candidates else {}
    return [list(found.get(t, [])) if isinstance(t, str) else [] for t in texts]


def _apply(text: str, findings: list[PiiFinding]) -> str:
    for f in sorted(findings, key=lambda f: f.start, reverse=True):
        text = text[: f.start] + f"<{f.entity_type}>" + text[f.end:]
    return text


def mask_texts(texts: list[str]) -> list[str]:
    """Each text with its findings replaced by typed placeholders such as `<EMAIL_ADDRESS>`."""
    return [_apply(t, fs) if fs else t for t, fs in zip(texts, scan_texts(texts))]


def mask_text(text: str) -> str:
    return mask_texts([text])[0]


def _collect_strings(obj: Any, sink: list[str], keys: bool) -> None:
    if isinstance(obj, str):
        sink.append(obj)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if keys and isinstance(key, str):
                sink.append(key)
            _collect_strings(value, sink, keys)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _collect_strings(value, sink, keys)


def _rebuild(obj: Any, masked: dict[str, str], keys: bool) -> Any:
    if isinstance(obj, str):
        return masked.get(obj, obj)
    if isinstance(obj, dict):
        return {(masked.get(k, k) if keys and isinstance(k, str) else k): _rebuild(v, masked, keys)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rebuild(value, masked, keys) for value in obj]
    if isinstance(obj, tuple):
        return tuple(_rebuild(value, masked, keys) for value in obj)
    return obj


def mask_json(obj: Any, keys: bool = False) -> Any:
    """A copy of `obj` with every string value masked; numbers, bools, None and shape unchanged. Keys stay as
    they are unless `keys` (a file that will be trained on must not carry PII even in a key)."""
    strings: list[str] = []
    _collect_strings(obj, strings, keys)
    unique = list(dict.fromkeys(strings))
    masked = {s: m for s, m in zip(unique, mask_texts(unique)) if m != s}
    return _rebuild(obj, masked, keys)
