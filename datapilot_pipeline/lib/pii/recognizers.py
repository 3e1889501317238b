"""Presidio recognizers for the configured locales, built without any NLP model (nothing downloads).

Presidio's own recognizers where they exist (email with an offline suffix list, IBAN, IP, US SSN, UK
NINO, ES NIF/NIE, IT fiscal code, IN Aadhaar/PAN, DE tax id, AU TFN); the project's for the rest:
phones of every configured region validated by libphonenumber (one cheap candidate regex, then a parse
per region, instead of Presidio's matcher run once per region), cards of every major brand (prefix and
length per brand, then Luhn), BR CPF, NL BSN, FR NIR, CA SIN with their checksums.
"""

from __future__ import annotations

import re
from functools import lru_cache

from datapilot_pipeline.lib.pii.checks import (
    bsn_valid, cpf_valid, digits_of, looks_like_business_number, luhn_valid, nir_valid, weak_phone,
)
from datapilot_pipeline.lib.pii.config import PiiConfig
from datapilot_pipeline.lib.pii.context import has_context, text_before
from datapilot_pipeline.lib.pii.phone_lengths import may_be_valid

# Brand prefixes and lengths (ISO/IEC 7812 issuer ranges of Visa, Mastercard incl. 2221-2720, Amex,
# Discover, Diners, JCB incl. the 15-digit 1800/2131 range, Maestro, UnionPay, Mir).
_CARD_BRANDS = (
    (re.compile(r"4"), (13, 16, 19)),
    (re.compile(r"5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720"), (16,)),
    (re.compile(r"3[47]"), (15,)),
    (re.compile(r"6011|64[4-9]|65"), (16, 17, 18, 19)),
    (re.compile(r"30[0-5]|36|38|39"), (14, 15, 16, 17, 18, 19)),
    (re.compile(r"35"), (16, 17, 18, 19)),
    (re.compile(r"1800|2131|2100"), (15,)),
    (re.compile(r"5018|5020|5038|5893|6304|6759|676[1-3]|0604|6390|5[6-8]"), tuple(range(12, 20))),
    (re.compile(r"62"), (16, 17, 18, 19)),
    (re.compile(r"220[0-4]"), (16,)),
)
CARD_PATTERN = r"(?<![\w.,+-])\d(?:[ -]?\d){11,18}(?![\w]|[.,-]\d)"
PHONE_CANDIDATE = re.compile(
    r"(?<![\w.,/+-])(?:\+|00)?\(?\d[\d \t\u00a0().\-/]{5,24}\d(?:[ \t]*(?:x|ext\.?|#)[ \t]*\d{1,6})?(?![\w]|[.,/-]\d)")
# Layouts of other entities, never read as phones: the US SSN's 3-2-4 and the IPv4 dotted quad.
_NOT_PHONE = re.compile(r"\d{3}-\d{2}-\d{4}|\d{1,3}(?:\.\d{1,3}){3}")
_EXTENSION = re.compile(r"[ \t]*(?:x|ext\.?|#)[ \t]*\d{1,6}$")


def card_brand_ok(digits: str) -> bool:
    return any(p.match(digits) and len(digits) in lengths for p, lengths in _CARD_BRANDS) and luhn_valid(digits)


# Regions whose national numbers are written with a trunk zero (0161 496 0066) and those written without
# (415 555 0132, 612 345 678, 98765 43210, (11) 91234-5678); Italy's landlines keep their leading zero.
_TRUNK_ZERO = {"GB", "DE", "FR", "NL", "AU", "IN", "BR", "IT"}
_NO_TRUNK = {"US", "CA", "ES", "IT", "IN", "BR"}


@lru_cache(maxsize=1 << 14)  # ~5 MB
def _phone_region(candidate: str, regions: tuple[str, ...]) -> str | None:
    """The first configured region in which libphonenumber calls `candidate` a valid number (remembered: a third of
    the candidates of an export repeat one seen before, the same number in several rows or cut at another place)."""
    import phonenumbers

    number = _EXTENSION.sub("", candidate).strip()
    if number.startswith("00"):
        number = "+" + number[2:]
    if number.startswith("+"):
        tries: tuple = (None,)
    else:
        plausible = _TRUNK_ZERO if digits_of(number).startswith("0") else _NO_TRUNK
        tries = tuple(r for r in regions if r in plausible and not (r == "CA" and "US" in regions))
    for region in tries:
        if not may_be_valid(number, region):  # no parse could make it valid there (~1 us against ~90 us)
            continue
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if region is None or region == "US":
            if phonenumbers.is_valid_number(parsed):
                return phonenumbers.region_code_for_number(parsed) or region
        elif phonenumbers.is_valid_number_for_region(parsed, region):
            return region
    return None


def build_recognizers(config: PiiConfig) -> list:
    from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import (
        AuTfnRecognizer, DeTaxIdRecognizer, EmailRecognizer, EsNieRecognizer, EsNifRecognizer, IbanRecognizer,
        InAadhaarRecognizer, InPanRecognizer, IpRecognizer, ItFiscalCodeRecognizer, UkNinoRecognizer,
        UsSsnRecognizer,
    )
    import tldextract

    # No suffix-list URLs and no disk cache: tldextract uses the snapshot bundled with the package.
    offline_tld = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str):
            return offline_tld(pattern_text).fqdn != ""

    regions = config.regions  # a property that builds its tuple: read once, not per candidate

    class LocalePhoneRecognizer(EntityRecognizer):
        """Digit clusters that libphonenumber validates for one of the configured regions."""

        def load(self) -> None:
            pass

        def _region(self, text: str, start: int, cand: str) -> str | None:
            n_digits = len(digits_of(_EXTENSION.sub("", cand)))
            if not 7 <= n_digits <= 15 or looks_like_business_number(cand) or _NOT_PHONE.fullmatch(cand):
                return None
            if weak_phone(cand) and not has_context("PHONE_NUMBER", text_before(text, start)):
                return None
            return _phone_region(cand, regions)

        def _spans(self, text: str, start: int, cand: str):
            """The candidate, or when it is no phone, the longest phones among its space-separated parts
            (`... Street 5 0409 679 290 ...`: a number written right after another)."""
            region = self._region(text, start, cand)
            if region:
                yield start, start + len(cand), region
                return
            parts = [(p.start(), p.end()) for p in re.finditer(r"\S+", cand)]
            i = 0
            while 1 < len(parts) <= 8 and i < len(parts):
                for j in range(len(parts), i, -1):
                    if (i, j) == (0, len(parts)):
                        continue
                    sub = cand[parts[i][0]:parts[j - 1][1]].rstrip(" ()-./")
                    region = self._region(text, start + parts[i][0], sub) if sum(map(str.isdigit, sub)) >= 7 else None
                    if region:
                        yield start + parts[i][0], start + parts[i][0] + len(sub), region
                        i = j
                        break
                else:
                    i += 1

        def analyze(self, text, entities, nlp_artifacts=None):
            out = []
            for m in PHONE_CANDIDATE.finditer(text):
                cand = m.group().rstrip(" ()-./")
                offset = 1 if cand.startswith("(") and ")" not in cand else 0
                for start, end, region in self._spans(text, m.start() + offset, cand[offset:]):
                    out.append(RecognizerResult("PHONE_NUMBER", start, end, 0.75,
                                                recognition_metadata={"region": region, "recognizer_name": self.name}))
            return out

    def checked(entity: str, regex: str, check, score: float = 1.0):
        class Checked(PatternRecognizer):
            def validate_result(self, pattern_text: str):
                return check(pattern_text)

        return Checked(supported_entity=entity, patterns=[Pattern(entity, regex, score)], name=f"{entity}_recognizer")

    def strong(patterns):
        """Patterns that can reach the threshold without a checksum: PAN's "Low" pattern (two look-aheads
        scanning to the end of the text at every position) costs more than all other recognizers together
        and scores 0.01, so it never produced a finding."""
        return [p for p in patterns if p.score >= config.min_score]

    en = {"supported_language": "en"}
    recognizers = [
        OfflineEmailRecognizer(), LocalePhoneRecognizer(supported_entities=["PHONE_NUMBER"], name="phone_recognizer"),
        checked("CREDIT_CARD", CARD_PATTERN, lambda t: card_brand_ok(digits_of(t))),
        IpRecognizer(), IbanRecognizer(), UsSsnRecognizer(), UkNinoRecognizer(),
        EsNifRecognizer(**en), EsNieRecognizer(**en), ItFiscalCodeRecognizer(**en),
        InAadhaarRecognizer(), InPanRecognizer(patterns=strong(InPanRecognizer.PATTERNS)), DeTaxIdRecognizer(**en), AuTfnRecognizer(),
        checked("BR_CPF", r"(?<![\w.-])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\w]|[.-]\d)", lambda t: cpf_valid(digits_of(t))),
        checked("NL_BSN", r"(?<![\w.-])\d{4}\.?\d{2}\.?\d{3}(?![\w]|[.-]\d)|(?<![\w.-])\d{9}(?![\w]|[.-]\d)",
                lambda t: bsn_valid(digits_of(t))),
        checked("FR_NIR", r"(?<![\w.])[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?![\w])", nir_valid),
        checked("CA_SIN", r"(?<![\w.-])[1-79]\d{2}[- ]?\d{3}[- ]?\d{3}(?![\w]|[.-]\d)",
                lambda t: luhn_valid(digits_of(t))),
    ]
    return [r for r in recognizers if any(e in config.entities for e in r.supported_entities)]
