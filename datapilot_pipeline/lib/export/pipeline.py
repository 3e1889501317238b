"""The export stage end to end: reviews -> consensus examples -> splits -> masking -> JSONL files.

Used by `datapilot export` and by the `reviewed_examples` / `finetune_dataset` assets. Output bytes
depend only on the inputs and options (no clock in file content); files are written atomically.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from datapilot_pipeline.lib.atomic import atomic_open, dumps_compact
from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.export.eligibility import ReviewedExample, ReviewOutcome, review_feedback
from datapilot_pipeline.lib.export.formats import BUILDERS, FORMATS, PreparedExample, holdout_row
from datapilot_pipeline.lib.export.masking import Masker
from datapilot_pipeline.lib.export.shots import select_shots
from datapilot_pipeline.lib.export.splits import SplitFractions, assign_splits

FORMAT_PREFIX = {"prompt-completion": "finetune", "openai-chat": "finetune_chat",
                 "bedrock": "finetune_bedrock", "preference": "preference"}


class NothingToExport(ValueError):
    """No review made any job eligible: nothing is written, the previous files stay. `discarded` counts
    what the rules dropped, by reason (the answer to "why nothing?")."""

    def __init__(self, message: str, discarded: dict[str, int] | None = None):
        super().__init__(message)
        self.discarded = dict(discarded or {})


@dataclass(frozen=True)
class ExportOptions:
    """Everything that decides the exported bytes besides the reviews and the seed examples."""

    min_score: int = 3
    shot_count: int = 3
    sample: int | None = None
    seed: int = 0
    fractions: SplitFractions = SplitFractions()
    check_evidence: bool = True


@dataclass
class ExportResult:
    """What an export wrote and why: files with their sha256, counts by split, category and reason."""

    paths: dict[str, Path] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    per_split: dict[str, int] = field(default_factory=dict)
    per_category: dict[str, dict[str, int]] = field(default_factory=dict)
    discarded: dict[str, int] = field(default_factory=dict)
    review_stats: dict = field(default_factory=dict)
    n_exported: int = 0
    n_sampled_out: int = 0
    n_preference_pairs: int = 0

    def summary(self) -> dict:
        return {"n_exported": self.n_exported, "per_split": self.per_split, "per_category": self.per_category,
                "discarded": self.discarded, "n_sampled_out": self.n_sampled_out, "lines": self.lines,
                "paths": {k: str(v) for k, v in self.paths.items()}, "sha256": self.sha256,
                "review_stats": self.review_stats}


def default_output(finetune_ready: Path, fmt: str, date: str) -> Path:
    """`<finetune_ready>/finetune_YYYYMMDD.jsonl` (other formats: `finetune_chat_...`, ...)."""
    return finetune_ready / f"{FORMAT_PREFIX[fmt]}_{date}.jsonl"


def holdout_path_for(output: Path) -> Path:
    """`finetune_X.jsonl` -> `holdout_X.jsonl` beside it; any other name -> `<stem>_holdout.jsonl`."""
    stem = output.stem
    name = "holdout" + stem[len("finetune"):] if stem.startswith("finetune") else f"{stem}_holdout"
    return output.with_name(name + ".jsonl")


def validation_path_for(output: Path) -> Path:
    return output.with_name(f"{output.stem}_validation.jsonl")


def sample_examples(examples: list[ReviewedExample], n: int | None, seed: int) -> list[ReviewedExample]:
    """A seeded random sample of `n` examples, kept in job-id order; all of them when n is None."""
    if n is None or n >= len(examples):
        return list(examples)
    picked = random.Random(seed).sample(range(len(examples)), n)
    return [examples[i] for i in sorted(picked)]


def prepare_examples(examples: list[ReviewedExample], seeds: list[dict],
                     options: ExportOptions) -> list[PreparedExample]:
    """Split, choose shots and mask: one `PreparedExample` per example, ordered by split then job id."""
    splits = assign_splits(examples, lambda e: e.dataset_name, lambda e: e.dominant_category,
                           options.fractions, options.seed)
    holdout = [e for e in examples if splits[e.dataset_name] == "holdout"]
    banned_ids = {e.job_id for e in holdout}
    banned_tables = {e.dataset_name for e in holdout}
    pool = [s for s in seeds if str(s["example_id"]) not in banned_ids
            and ((s.get("compact_eda") or {}).get("dataset") or {}).get("name") not in banned_tables]
    masker = Masker.for_content([e.compact_eda for e in examples] + [s["compact_eda"] for s in pool],
                                [o for e in examples for o in (e.approved_output, e.original_output)]
                                + [s["output"] for s in pool])
    masked_seeds = {}
    for s in pool:
        renamed: dict = {}
        eda = masker.compact_eda(s["compact_eda"], renamed=renamed)
        masked_seeds[str(s["example_id"])] = {"example_id": s["example_id"], "compact_eda": eda,
                                              "output": masker.output(s["output"], renamed)}
    pool_ids = {str(s["example_id"]) for s in pool}
    pool_tables = {((s.get("compact_eda") or {}).get("dataset") or {}).get("name") for s in pool}
    shot_cache: dict[tuple, list[dict]] = {}
    order = {"train": 0, "validation": 1, "holdout": 2}
    prepared = []
    for e in sorted(examples, key=lambda e: (order[splits[e.dataset_name]], e.job_id)):
        # Shots differ from the common choice only when a seed is this job or shows its table.
        key = (e.job_id, e.dataset_name) if e.job_id in pool_ids or e.dataset_name in pool_tables else ()
        if key not in shot_cache:
            chosen = select_shots(pool, options.shot_count, exclude_ids={e.job_id}, exclude_datasets={e.dataset_name})
            shot_cache[key] = [masked_seeds[str(s["example_id"])] for s in chosen]
        renamed = {}
        eda = masker.compact_eda(e.compact_eda, renamed=renamed)
        shots = shot_cache[key]
        metadata = {"job_id": e.job_id, "reviewer_id": e.latest_reviewer_id, "reviewer_ids": e.reviewer_ids,
                    "overall_score": e.overall_score, "approved_insight_count": len(e.approved_output["insights"]),
                    "original_insight_count": len(e.original_output["insights"]),
                    "dataset_name": eda["dataset"]["name"], "categories": e.categories,
                    "dominant_category": e.dominant_category, "model": e.model, "variant": e.variant,
                    "shot_ids": [s["example_id"] for s in shots]}
        prepared.append(PreparedExample(
            job_id=e.job_id, split=splits[e.dataset_name], compact_eda=eda,
            approved_output=masker.output(e.approved_output, renamed),
            original_output=masker.output(e.original_output, renamed), shots=shots, metadata=metadata))
    return prepared


def _write_lines(path: Path, rows: Iterable[dict]) -> tuple[str, int]:
    digest, n = hashlib.sha256(), 0
    with atomic_open(path, "wb") as fh:
        for row in rows:
            data = (dumps_compact(row) + "\n").encode("utf-8")
            fh.write(data)
            digest.update(data)
            n += 1
    return digest.hexdigest(), n


def write_export(examples: list[ReviewedExample], seeds: list[dict], options: ExportOptions,
                 targets: dict[str, Path], holdout_path: Path, result: ExportResult | None = None) -> ExportResult:
    """Write each format in `targets` (format -> file) and the holdout file; returns what was written.

    prompt-completion holds train and validation lines (metadata.split); the other formats carry no
    metadata, so their validation lines go to `<stem>_validation.jsonl` beside the train file."""
    unknown = set(targets) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown export format(s): {', '.join(sorted(unknown))}")
    if not examples:
        raise NothingToExport("no eligible examples to export", result.discarded if result else None)
    result = result or ExportResult()
    chosen = sample_examples(examples, options.sample, options.seed)
    result.n_sampled_out = len(examples) - len(chosen)
    prepared = prepare_examples(chosen, seeds, options)
    trainable = [p for p in prepared if p.split != "holdout"]
    for fmt, path in targets.items():
        build = BUILDERS[fmt]
        if fmt == "prompt-completion":
            parts = {fmt: (path, trainable)}
        else:
            parts = {fmt: (path, [p for p in trainable if p.split == "train"]),
                     f"{fmt}/validation": (validation_path_for(path),
                                           [p for p in trainable if p.split == "validation"])}
        for role, (target, items) in parts.items():
            rows = (row for row in map(build, items) if row is not None)
            result.sha256[role], result.lines[role] = _write_lines(target, rows)
            result.paths[role] = target
    result.sha256["holdout"], result.lines["holdout"] = _write_lines(
        holdout_path, (holdout_row(p) for p in prepared if p.split == "holdout"))
    result.paths["holdout"] = holdout_path
    per_category: dict[str, Counter] = defaultdict(Counter)
    for p in prepared:
        per_category[p.split][p.metadata["dominant_category"]] += 1
    result.per_split = {s: sum(per_category[s].values()) for s in ("train", "validation", "holdout")}
    result.per_category = {s: dict(sorted(per_category[s].items())) for s in ("train", "validation", "holdout")}
    result.n_exported = len(prepared)
    result.n_preference_pairs = sum(1 for p in trainable if p.changed)
    return result


def export_dataset(feedbacks: Iterable[FeedbackFile], seeds: list[dict], options: ExportOptions,
                   targets: dict[str, Path], holdout_path: Path) -> ExportResult:
    """Reviews -> consensus -> files: the whole stage for callers holding feedback files."""
    outcome: ReviewOutcome = review_feedback(feedbacks, options.min_score, options.check_evidence)
    result = ExportResult(discarded=dict(sorted(outcome.discarded.items())), review_stats=outcome.stats())
    return write_export(outcome.examples, seeds, options, targets, holdout_path, result)
