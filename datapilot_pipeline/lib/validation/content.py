"""Per-line content checks: the completion is a valid insight output (normalized, every insight
validates) and, where the prompt carries the task's compact EDA, how many insights cite evidence
that the EDA supports (`lib.evidence`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from datapilot_pipeline.lib.evidence import check_output
from datapilot_pipeline.lib.prompts import extract_task_eda
from datapilot_pipeline.lib.validation.records import Record


@dataclass
class ContentResult:
    line: int
    schema_ok: bool
    has_eda: bool = False
    n_insights: int = 0
    n_valid_evidence: int = 0
    categories: list[str] = field(default_factory=list)
    evidence_problems: list[str] = field(default_factory=list)


def check_record(rec: Record) -> ContentResult:
    """Adds schema problems of the completion to `rec.problems`; returns the line's content facts."""
    if rec.problems or rec.prompt is None or rec.completion is None:
        return ContentResult(line=rec.line, schema_ok=False)
    eda = extract_task_eda(rec.prompt)
    check = check_output(rec.completion, eda or {})
    if not check.schema_pass:
        rec.problems.append(f"completion: {check.error}")
        return ContentResult(line=rec.line, schema_ok=False, has_eda=eda is not None)
    result = ContentResult(line=rec.line, schema_ok=True, has_eda=eda is not None, n_insights=check.n_insights,
                           categories=[i.category for i in check.output.insights])
    if eda is not None:
        result.n_valid_evidence = check.n_valid_evidence
        result.evidence_problems = [f"{iid}: {p[0]}" for iid, p in sorted(check.insight_problems.items())]
    return result
