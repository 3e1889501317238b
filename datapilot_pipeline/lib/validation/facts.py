"""What the report needs to know about each line, computed once per line.

Every section of the report is a fold over these facts plus the duplicate pass, so lines checked in
separate shards (processes, machines) give the same report as one pass over the whole file: only the
duplicate pass needs all lines, and it needs just each line's exact key and MinHash signature.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from datapilot_pipeline.lib.validation.content import ContentResult, check_record
from datapilot_pipeline.lib.validation.dedup import exact_key, varying_content
from datapilot_pipeline.lib.validation.pii_scan import ScanCache, scan_records
from datapilot_pipeline.lib.validation.records import Record
from datapilot_pipeline.lib.validation.tokens import TokenCounter


@dataclass
class LineFacts:
    line: int  # 1-based
    problems: list[str]
    fmt: str | None
    is_object: bool
    content: ContentResult
    pii: dict[str, int] = field(default_factory=dict)  # findings per entity type
    pii_locales: dict[str, dict[str, int]] = field(default_factory=dict)  # locale -> entity -> findings
    # Set only for usable lines (a prompt and a completion were found):
    prompt_chars: int | None = None
    completion_chars: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    key: str | None = None  # exact-duplicate key of the varying content
    fits: bool | None = None  # training keeps the line (within the token budget)

    @property
    def usable(self) -> bool:
        return self.key is not None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LineFacts":
        return cls(**{**data, "content": ContentResult(**data["content"])})


@dataclass(frozen=True)
class TokenMethod:
    """How token counts were made (what `tokens.token_summary` reports)."""

    method: str
    exact: bool


def analyze_records(records: list[Record], counter: TokenCounter,
                    pii_cache: ScanCache | None = None) -> tuple[list[LineFacts], dict[int, str]]:
    """Facts of every record and the varying content (for duplicates) of each usable line (`pii_cache` carries
    what PII scanning learned from one chunk of a file to the next)."""
    contents = [check_record(r) for r in records]  # adds completion schema problems to each record
    pii = scan_records([(r.line, r.data is not None, r.raw, r.pairs) for r in records], pii_cache)
    usable = [r for r in records if r.prompt is not None and r.completion is not None]
    prompt_tokens = dict(zip((r.line for r in usable), counter.count([r.prompt for r in usable])))
    completion_tokens = dict(zip((r.line for r in usable), counter.count([r.completion for r in usable])))
    varying = {r.line: varying_content(r.prompt, r.completion) for r in usable}
    facts = []
    for rec, content in zip(records, contents):
        fact = LineFacts(line=rec.line, problems=list(rec.problems), fmt=rec.fmt, is_object=isinstance(rec.data, dict),
                         content=content, pii=pii.by_line.get(rec.line, {}),
                         pii_locales=pii.locales_by_line.get(rec.line, {}))
        if rec.line in varying:
            fact.prompt_chars, fact.completion_chars = len(rec.prompt), len(rec.completion)
            fact.prompt_tokens, fact.completion_tokens = prompt_tokens[rec.line], completion_tokens[rec.line]
            fact.key = exact_key(varying[rec.line])
            fact.fits = counter.fits(rec.prompt, rec.completion, fact.prompt_tokens, fact.completion_tokens)
        facts.append(fact)
    return facts, varying
