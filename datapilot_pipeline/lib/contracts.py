"""The data contracts of DESIGN.md as pydantic models. Field names are the contract.

Models are strict: numbers must be numbers (normalize first, see `lib.normalize`), unknown keys are
rejected in insights so that a misspelt field is a schema failure rather than silently dropped data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints,
                      field_validator, model_validator)

from datapilot_pipeline.lib.json_codec import loads

CATEGORIES = ("outlier", "correlation", "trend", "quality", "missing_data", "distribution", "segment")
SEVERITIES = ("low", "medium", "high", "critical")
PRIORITIES = ("low", "medium", "high")
ACTIONS = ("approve", "edit", "reject", "skip")
VARIANTS = ("few_shot", "fine_tuned")
SCHEMA_VERSION = 1

Category = Literal["outlier", "correlation", "trend", "quality", "missing_data", "distribution", "segment"]
Severity = Literal["low", "medium", "high", "critical"]
Priority = Literal["low", "medium", "high"]
Action = Literal["approve", "edit", "reject", "skip"]
Variant = Literal["few_shot", "fine_tuned"]

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"


def _not_dot_path(value: str) -> str:
    # `.` and `..` match the pattern but name directories, never a job or a reviewer.
    if value in {".", ".."}:
        raise ValueError(f"{value!r} is a path component, not an id")
    return value


SafeId = Annotated[str, StringConstraints(pattern=ID_PATTERN), AfterValidator(_not_dot_path)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Score = Annotated[StrictInt, Field(ge=1, le=5)]
Number = StrictInt | StrictFloat

_ID_RE = re.compile(ID_PATTERN)


def is_safe_id(value: object) -> bool:
    """True for ids usable in file names: `[A-Za-z0-9_.-]{1,128}` and not `.` or `..`."""
    return isinstance(value, str) and bool(_ID_RE.fullmatch(value)) and value not in {".", ".."}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- compact EDA
class DatasetInfo(BaseModel):
    name: str
    n_rows: Annotated[StrictInt, Field(ge=0)]
    n_cols: Annotated[StrictInt, Field(ge=0)]


class ColumnProfile(BaseModel):
    model_config = ConfigDict(extra="allow")
    dtype: str
    missing: Annotated[StrictInt, Field(ge=0)] = 0
    unique: Annotated[StrictInt, Field(ge=0)] = 0
    stats: dict[str, Number | None] | None = None
    outliers: dict[str, Any] | None = None
    top_values: dict[str, Number] | None = None


class CompactEDA(BaseModel):
    model_config = ConfigDict(extra="allow")
    dataset: DatasetInfo
    columns: dict[str, ColumnProfile]
    correlations: list[dict[str, Any]] = []
    kpis: dict[str, Number | None] = {}
    sample_rows: list[dict[str, Any]] = []


# ---------------------------------------------------------------- insights
class Evidence(_Strict):
    columns: list[str] = []
    aggregates: dict[str, Number] = {}
    row_indices: list[StrictInt] = []  # range is an evidence rule, not a schema rule


class Recommendation(_Strict):
    action: NonEmptyText
    priority: Priority


class Insight(_Strict):
    id: NonEmptyText
    category: Category
    severity: Severity
    text: NonEmptyText
    evidence: Evidence
    recommendation: Recommendation


class LLMOutput(_Strict):
    insights: Annotated[list[Insight], Field(min_length=1, max_length=20)]
    summary: str | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> "LLMOutput":
        ids = [i.id for i in self.insights]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"insight ids must be unique within an output; repeated: {', '.join(dupes)}")
        return self


# ---------------------------------------------------------------- job result and feedback
class JobResult(BaseModel):
    """What a reviewer reviews (`datapilot review JOB_ID RESULT_JSON`)."""

    model_config = ConfigDict(extra="ignore")
    job_id: SafeId
    created_at: str | None = None
    model: str | None = None
    variant: Variant = "few_shot"
    compact_eda: CompactEDA
    llm_output: LLMOutput


class FeedbackItem(_Strict):
    insight_id: NonEmptyText
    action: Action
    human_score: Score | None = None
    notes: str | None = None
    edited_text: str | None = None
    edited_evidence: dict[str, Any] | None = None
    edited_recommendation: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _action_fields(self) -> "FeedbackItem":
        if self.action != "skip" and self.human_score is None:
            raise ValueError(f"human_score is required for action '{self.action}'")
        if self.action == "edit":
            if self.edited_text is None and self.edited_evidence is None and self.edited_recommendation is None:
                raise ValueError("an edit needs edited_text, edited_evidence or edited_recommendation")
            if self.edited_text is not None and not self.edited_text.strip():
                raise ValueError("edited_text must not be empty")
            if self.edited_evidence is not None:
                Evidence.model_validate(self.edited_evidence)
            if self.edited_recommendation is not None:
                Recommendation.model_validate(self.edited_recommendation)
        elif any(v is not None for v in (self.edited_text, self.edited_evidence, self.edited_recommendation)):
            raise ValueError(f"edited_* fields are only allowed with action 'edit', not '{self.action}'")
        return self


class FeedbackFile(_Strict):
    schema_version: Literal[1]
    feedback_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{32,36}$")]
    job_id: SafeId
    reviewer_id: SafeId
    created_at: str
    overall_score: Score
    model: str | None = None
    variant: Variant = "few_shot"
    compact_eda: CompactEDA
    llm_output: LLMOutput
    items: list[FeedbackItem]

    @field_validator("schema_version", mode="before")
    @classmethod
    def _int_version(cls, value: Any) -> Any:
        # Literal[1] alone would also take True and 1.0 (they compare equal to 1).
        if type(value) is not int:
            raise ValueError(f"schema_version must be the integer 1, got {value!r}")
        return value

    @field_validator("created_at")
    @classmethod
    def _iso_utc(cls, value: str) -> str:
        from datetime import datetime

        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"created_at is not an ISO-8601 timestamp: {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _items_reference_insights(self) -> "FeedbackFile":
        known = {i.id for i in self.llm_output.insights}
        seen: set[str] = set()
        for item in self.items:
            if item.insight_id not in known:
                raise ValueError(f"items: insight_id {item.insight_id!r} is not in llm_output")
            if item.insight_id in seen:
                raise ValueError(f"items: insight_id {item.insight_id!r} is reviewed twice")
            seen.add(item.insight_id)
        return self


@dataclass(frozen=True)
class StoredReview:
    """A review as the feedback store holds it: its job id and its JSON, read by `data` where it is used (a worker
    process of a large export reads its own chunk's reviews)."""

    job_id: str
    raw_json: str

    def data(self) -> dict:
        """The review as `FeedbackFile.model_dump()` gives it, without validating it again: ingest stores the JSON
        of `model_dump(mode="json")` of the review it validated, which for these models holds the same values as
        the Python dump, and leaves out `variant` when the review did not set it (its default is put back here).
        Reading a review this way costs a sixth of validating and dumping it (`test_stored_review_data_*`)."""
        review = loads(self.raw_json)
        review.setdefault("variant", FeedbackFile.model_fields["variant"].default)
        return review


def first_error(exc: Exception) -> str:
    """One readable line naming the field from a pydantic ValidationError (or any exception)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        # Model-level validators have no location; their messages name the field themselves.
        return f"{loc}: {msg}{more}" if loc else f"{msg}{more}"
    return str(exc)
