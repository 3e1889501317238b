"""Per-line content checks: the completion is a valid insight output (normalized, every insight
validates) and, where the prompt carries the task's compact EDA, how many insights cite evidence
that the EDA supports (`lib.evidence`) and how many numbers its texts state that the EDA holds (`lib.grounding`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from datapilot_pipeline.lib.evidence import check_output
from datapilot_pipeline.lib.grounding import eda_numbers, ground_text, sorted_magnitudes
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
    n_numbers: int = 0  # numbers stated in the insight texts (lib.grounding)
    n_grounded: int = 0
    ungrounded: list[str] = field(default_factory=list)  # "i2: 13,500" per number the EDA does not hold


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
        values = eda_numbers(eda)  # once per line, not once per insight
        ordered = sorted_magnitudes(values)
        for insight in check.output.insights:
            grounding = ground_text(insight.text, eda, values, ordered)
            result.n_numbers += grounding.n_numbers
            result.n_grounded += grounding.n_grounded
            result.ungrounded.extend(f"{insight.id}: {number}" for number in grounding.ungrounded)
    return result
