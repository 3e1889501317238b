"""PII detection and masking, offline: Presidio pattern recognizers for the configured locales, a
name detector and an address detector of the project's own, one `PiiConfig` for every user.

Presidio's analyzer is built explicitly with no NLP model (its default engine downloads spaCy models);
names and street addresses come from shipped word lists and patterns (`lexicon`, `names`, `addresses`),
or from the column a value sits in (`columns`, `cells`). See `engine` for the rules that keep business
numbers intact.
"""

from datapilot_pipeline.lib.pii.cells import mask_cells, mask_json, scan_cells
from datapilot_pipeline.lib.pii.config import DEFAULT_CONFIG, ENTITIES, LOCALES, MIN_SCORE, PiiConfig, locale_of
from datapilot_pipeline.lib.pii.engine import (
    PiiFinding, could_contain_pii, get_analyzer, is_plain_number, mask_text, mask_texts, scan_texts,
)


def entities(config: PiiConfig = DEFAULT_CONFIG) -> list[str]:
    """Entity types this scanner reports."""
    return list(config.entities)


__all__ = ["DEFAULT_CONFIG", "ENTITIES", "LOCALES", "MIN_SCORE", "PiiConfig", "PiiFinding", "could_contain_pii",
           "entities", "get_analyzer", "is_plain_number", "locale_of", "mask_cells", "mask_json", "mask_text",
           "mask_texts", "scan_cells", "scan_texts"]
