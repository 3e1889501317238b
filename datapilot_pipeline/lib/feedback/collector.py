"""Feedback collection: one reviewer's verdicts on one job, validated and written to the inbox.

A feedback file is validated in full with `contracts.FeedbackFile` before anything touches the disk, and
written atomically (temp file + rename) so the ingestion never reads half a file.

NaN and infinity are not JSON. In a compact EDA they mean "no value" (pandas' missing statistics) and are
converted to null, as `lib.eda.compact_eda` writes them; anywhere else (an insight's claimed aggregate,
an item) they are rejected with a `ValueError` naming the field.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from datapilot_pipeline.lib.atomic import atomic_write_text
from datapilot_pipeline.lib.contracts import SCHEMA_VERSION, FeedbackFile, JobResult, first_error, is_safe_id
from datapilot_pipeline.lib.feedback.inbox import MAX_FEEDBACK_BYTES, feedback_filename
from datapilot_pipeline.lib.normalize import normalize_output
from datapilot_pipeline.lib.paths import Workspace


def utc_now_iso() -> str:
    """The current time as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_plain(value: Any, exclude_none: bool = True) -> Any:
    """Models become plain JSON-compatible data; everything else passes through."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=exclude_none)
    return value


def _created_at(value: str | datetime | None) -> str:
    if value is None:
        return utc_now_iso()
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"created_at: not an ISO-8601 timestamp: {value!r}") from None
    else:
        raise ValueError(f"created_at: expected an ISO-8601 string or a datetime, got {type(value).__name__}")
    if parsed.tzinfo is None:
        raise ValueError(f"created_at: needs a timezone (for example '2026-11-24T10:00:00Z'), got {str(value)!r}")
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _non_finite_to_null(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _non_finite_to_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_non_finite_to_null(v) for v in value]
    return value


def _reject_non_finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not a JSON number; give a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _reject_non_finite(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _reject_non_finite(v, f"{where}.{i}")


def build_feedback(
    *,
    job_id: str,
    compact_eda: Mapping[str, Any] | BaseModel,
    llm_output: Mapping[str, Any] | BaseModel,
    feedback_items: Iterable[Mapping[str, Any] | BaseModel],
    reviewer_id: str,
    overall_score: int,
    model: str | None = None,
    variant: str = "few_shot",
    created_at: str | datetime | None = None,
    feedback_id: str | None = None,
) -> FeedbackFile:
    """Validate one review into a `FeedbackFile`; raises `ValueError` whose message names the field."""
    # The pattern admits '.' and '..'; these ids end up in file names, so refuse them up front too.
    for name, value in (("job_id", job_id), ("reviewer_id", reviewer_id)):
        if not is_safe_id(value):
            raise ValueError(f"{name}: must match [A-Za-z0-9_.-]{{1,128}} and not be '.' or '..', got {value!r}")
    if isinstance(feedback_items, (str, bytes, Mapping)) or not isinstance(feedback_items, Iterable):
        raise ValueError(f"feedback_items: expected a list of items, got {type(feedback_items).__name__}")
    items = [_as_plain(item) for item in feedback_items]
    llm_output = normalize_output(_as_plain(llm_output))
    _reject_non_finite(llm_output, "llm_output")
    _reject_non_finite(items, "items")
    raw = {
        "schema_version": SCHEMA_VERSION,
        "feedback_id": feedback_id or str(uuid.uuid4()),
        "job_id": job_id,
        "reviewer_id": reviewer_id,
        "created_at": _created_at(created_at),
        "overall_score": overall_score,
        "model": model,
        "variant": variant,
        "compact_eda": _non_finite_to_null(_as_plain(compact_eda, exclude_none=False)),  # null stats are data
        "llm_output": llm_output,
        "items": items,
    }
    try:
        return FeedbackFile.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(first_error(exc)) from None


def feedback_json(feedback: FeedbackFile) -> str:
    """The file text of a feedback file: indented JSON; items omit fields that were not given."""
    data = feedback.model_dump(mode="json")
    data["items"] = [item.model_dump(mode="json", exclude_none=True) for item in feedback.items]
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def load_job_result(path: str | os.PathLike, job_id: str | None = None) -> JobResult:
    """Read the job result a reviewer reviews; `job_id` must match the file's (or fills it in when absent).

    The output is normalized first (synonyms, numeric strings), as for every model output. Raises
    `ValueError` with one readable line.
    """
    path = Path(path)
    data = path.read_bytes()
    # Its feedback file embeds the whole job; over the inbox limit it could never be ingested.
    if len(data) > MAX_FEEDBACK_BYTES:
        raise ValueError(f"{path.name}: larger than the {MAX_FEEDBACK_BYTES // (1024 * 1024)} MB a feedback file may be")
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path.name}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name}: malformed JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise ValueError(f"{path.name}: malformed JSON (nested too deeply)") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path.name}: top level is a JSON {type(raw).__name__}, not a job result object")
    if job_id is not None:
        if raw.get("job_id") is None:
            raw["job_id"] = job_id
        elif raw["job_id"] != job_id:
            raise ValueError(f"job_id: {path.name} holds job {raw['job_id']!r}, not {job_id!r}")
    if "llm_output" in raw:
        raw["llm_output"] = normalize_output(raw["llm_output"])
    try:
        return JobResult.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{path.name}: invalid job result: {first_error(exc)}") from None


class FeedbackCollector:
    """Writes reviewers' feedback files into an inbox (default: the workspace's `feedback_inbox/`)."""

    def __init__(self, inbox: str | os.PathLike | None = None):
        self.inbox = Path(inbox) if inbox is not None else Workspace.current().inbox
        if self.inbox.exists() and not self.inbox.is_dir():
            raise ValueError(f"inbox {self.inbox} is a file; give the folder feedback files go to")

    def collect_feedback(
        self,
        *,
        job_id: str,
        compact_eda: Mapping[str, Any] | BaseModel,
        llm_output: Mapping[str, Any] | BaseModel,
        feedback_items: Iterable[Mapping[str, Any] | BaseModel],
        reviewer_id: str,
        overall_score: int,
        model: str | None = None,
        variant: str = "few_shot",
        created_at: str | datetime | None = None,
    ) -> Path:
        """Validate one review and write it atomically to the inbox; returns the file's path.

        Raises `ValueError` naming the offending field; nothing is written then.
        """
        feedback = build_feedback(
            job_id=job_id, compact_eda=compact_eda, llm_output=llm_output, feedback_items=feedback_items,
            reviewer_id=reviewer_id, overall_score=overall_score, model=model, variant=variant,
            created_at=created_at,
        )
        return self.write(feedback)

    def write(self, feedback: FeedbackFile) -> Path:
        """Write an already-validated feedback file; refuses one the ingestion would quarantine."""
        text = feedback_json(feedback)
        size = len(text.encode("utf-8"))
        if size > MAX_FEEDBACK_BYTES:
            raise ValueError(f"feedback: {size} bytes is over the inbox limit of {MAX_FEEDBACK_BYTES} bytes")
        path = self.inbox / feedback_filename(feedback.job_id, feedback.created_at, feedback.feedback_id)
        # Safe ids cannot contain a separator; this guards the invariant rather than trusting it.
        if path.parent != self.inbox:
            raise ValueError(f"job_id: {feedback.job_id!r} would write outside the inbox")
        if path.exists():
            raise FileExistsError(f"{path} already exists; refusing to overwrite another review")
        return atomic_write_text(path, text)
