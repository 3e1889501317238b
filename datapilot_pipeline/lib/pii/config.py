"""`PiiConfig`: which entities are looked for, in which locales, at which scores.

One configuration serves export masking, validation scanning and the audit log (`DEFAULT_CONFIG`).
Entity types are Presidio's names where Presidio has the recognizer (`UK_NINO`, `ES_NIF`, ...) and
the same naming for the project's own (`BR_CPF`, `NL_BSN`, `FR_NIR`, `PERSON`, `STREET_ADDRESS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOCALES = ("en_US", "en_GB", "en_CA", "en_AU", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR")

# Entities with no locale of their own; phone findings carry the region libphonenumber validated.
GENERIC_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IP_ADDRESS", "IBAN_CODE", "PERSON",
                    "STREET_ADDRESS")
NATIONAL_ID_LOCALES = {
    "US_SSN": "en_US", "UK_NINO": "en_GB", "CA_SIN": "en_CA", "AU_TFN": "en_AU", "IN_AADHAAR": "en_IN",
    "IN_PAN": "en_IN", "DE_TAX_ID": "de_DE", "FR_NIR": "fr_FR", "ES_NIF": "es_ES", "ES_NIE": "es_ES",
    "IT_FISCAL_CODE": "it_IT", "NL_BSN": "nl_NL", "BR_CPF": "pt_BR",
}
ENTITIES = GENERIC_ENTITIES + tuple(NATIONAL_ID_LOCALES)

# Score a finding needs. Presidio's validated recognizers (checksum passed) score 1.0; format-only ones
# (UK NINO 0.5, IN PAN 0.5, IT fiscal code 0.3 whose pattern already encodes the date/month rules) keep
# their pattern score. The delimited-only "very weak" patterns (bare digit runs at 0.01-0.05) stay below.
DEFAULT_THRESHOLDS = {"IT_FISCAL_CODE": 0.3}
MIN_SCORE = 0.4


@dataclass(frozen=True)
class PiiConfig:
    entities: tuple[str, ...] = ENTITIES
    locales: tuple[str, ...] = LOCALES
    min_score: float = MIN_SCORE
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))

    def __hash__(self) -> int:
        return hash((self.entities, self.locales, self.min_score, tuple(sorted(self.thresholds.items()))))

    @property
    def regions(self) -> tuple[str, ...]:
        """libphonenumber regions of the locales (en_GB -> GB)."""
        return tuple(dict.fromkeys(loc.split("_")[1] for loc in self.locales))

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity, self.min_score)

    def wants(self, entity: str) -> bool:
        return entity in self.entities


DEFAULT_CONFIG = PiiConfig()


def locale_of(entity: str, region: str | None = None) -> str | None:
    """The locale a finding belongs to, where known (national IDs; phones by their validated region)."""
    if entity in NATIONAL_ID_LOCALES:
        return NATIONAL_ID_LOCALES[entity]
    if region:
        return next((loc for loc in LOCALES if loc.endswith("_" + region)), region)
    return None
