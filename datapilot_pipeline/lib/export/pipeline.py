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

from datapilot_pipeline.lib.atomic import atomic_open, atomic_write_json, dumps_compact
from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.export.eligibility import ReviewedExample, ReviewOutcome, review_feedback
from datapilot_pipeline.lib.export.formats import BUILDERS, FORMATS, PreparedExample, holdout_row
from datapilot_pipeline.lib.export.masking import Masker
from datapilot_pipeline.lib.export.shots import select_shots
from datapilot_pipeline.lib.export.splits import HoldoutRecord, SplitFractions, assign_splits, table_identity
from datapilot_pipeline.lib.export.fitting import BudgetFactory, Prepared, within_budget
from datapilot_pipeline.lib.prompts import PromptRecipe, recipe_path_for, recipe_shots

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
    seed: int = 0  # of sampling; splits follow table identities only
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
    recipe: PromptRecipe | None = None
    # worked examples a written train/validation prompt really holds -> how many prompts (the token budget may
    # leave room for fewer than the recipe's shot_count); keys are str for JSON, most shots first
    shots_per_prompt: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"recipe": self.recipe.to_dict() if self.recipe else None, "n_exported": self.n_exported, "per_split": self.per_split, "per_category": self.per_category,
                "discarded": self.discarded, "n_sampled_out": self.n_sampled_out, "lines": self.lines,
                "paths": {k: str(v) for k, v in self.paths.items()}, "sha256": self.sha256,
                "review_stats": self.review_stats, "shots_per_prompt": self.shots_per_prompt}


def run_token() -> str:
    """`<UTC yyyymmddThhmmssZ>_<8 hex>`: what makes one export's file names its own."""
    import time
    import uuid

    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}_{uuid.uuid4().hex[:8]}"


def default_output(finetune_ready: Path, fmt: str, token: str | None = None) -> Path:
    """`<finetune_ready>/finetune_<UTC stamp>_<8 hex>.jsonl` (other formats: `finetune_chat_...`, ...): a new
    name per export, so no export ever overwrites a dataset a model was trained on."""
    return finetune_ready / f"{FORMAT_PREFIX[fmt]}_{token or run_token()}.jsonl"


def holdout_path_for(output: Path) -> Path:
    """`<output stem>_holdout.jsonl` beside the dataset."""
    return output.with_name(f"{output.stem}_holdout.jsonl")


def validation_path_for(output: Path) -> Path:
    return output.with_name(f"{output.stem}_validation.jsonl")


def sample_examples(examples: list[ReviewedExample], n: int | None, seed: int) -> list[ReviewedExample]:
    """A seeded random sample of `n` examples, kept in job-id order; all of them when n is None."""
    if n is None or n >= len(examples):
        return list(examples)
    picked = random.Random(seed).sample(range(len(examples)), n)
    return [examples[i] for i in sorted(picked)]


def _masked_seeds(masker: Masker, pool: list[dict]) -> list[dict]:
    out = []
    for s in pool:
        renamed: dict = {}
        eda = masker.compact_eda(s["compact_eda"], renamed=renamed)
        out.append({"example_id": s["example_id"], "compact_eda": eda, "output": masker.output(s["output"], renamed)})
    return out


def prepare_examples(examples: list[ReviewedExample], seeds: list[dict], options: ExportOptions,
                     budget_for: BudgetFactory | None = None,
                     forced_holdout: frozenset[str] = frozenset()) -> Prepared:
    """Split by table identity, choose the recipe's worked examples, mask, and (with a budget) fit every line
    within it (`fitting.within_budget`); ordered by split then job id."""
    identity = {e.job_id: table_identity(e.compact_eda) for e in examples}
    splits = assign_splits(examples, lambda e: identity[e.job_id], options.fractions, forced_holdout)
    split = {e.job_id: splits[identity[e.job_id]] for e in examples}
    holdout = [e for e in examples if split[e.job_id] == "holdout"]
    banned_ids = {e.job_id for e in holdout}
    banned_tables = {e.dataset_name for e in holdout}
    pool = [s for s in seeds if str(s["example_id"]) not in banned_ids
            and ((s.get("compact_eda") or {}).get("dataset") or {}).get("name") not in banned_tables]
    shot_ids = [str(s["example_id"]) for s in select_shots(pool, options.shot_count)]
    masker = Masker.for_content([e.compact_eda for e in examples] + [s["compact_eda"] for s in pool],
                                [o for e in examples for o in (e.approved_output, e.original_output)]
                                + [s["output"] for s in pool])
    masked_pool = _masked_seeds(masker, [s for s in pool if str(s["example_id"]) in shot_ids])
    order = {"train": 0, "validation": 1, "holdout": 2}
    prepared = []
    for e in sorted(examples, key=lambda e: (order[split[e.job_id]], e.job_id)):
        renamed: dict = {}
        eda = masker.compact_eda(e.compact_eda, renamed=renamed)
        metadata = {"job_id": e.job_id, "reviewer_id": e.latest_reviewer_id, "reviewer_ids": e.reviewer_ids,
                    "overall_score": e.overall_score, "approved_insight_count": len(e.approved_output["insights"]),
                    "original_insight_count": len(e.original_output["insights"]),
                    "dataset_name": eda["dataset"]["name"], "table_id": identity[e.job_id], "categories": e.categories,
                    "dominant_category": e.dominant_category, "model": e.model, "variant": e.variant}
        prepared.append(PreparedExample(
            job_id=e.job_id, split=split[e.job_id], compact_eda=eda,
            approved_output=masker.output(e.approved_output, renamed),
            original_output=masker.output(e.original_output, renamed),
            shots=recipe_shots(shot_ids, masked_pool, eda), metadata=metadata))
    recipe = PromptRecipe(shot_ids=tuple(shot_ids))
    if budget_for is None:
        return Prepared(prepared, recipe)
    return within_budget(prepared, recipe, budget_for)


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
                 targets: dict[str, Path], holdout_path: Path, result: ExportResult | None = None, *,
                 budget_for: BudgetFactory | None = None, holdout_record: HoldoutRecord | None = None,
                 forced_holdout: Iterable[str] = ()) -> ExportResult:
    """Write each format in `targets` (format -> file), the holdout file and the recipe; returns what was written.

    prompt-completion holds train and validation lines (metadata.split); the other formats carry no
    metadata, so their validation lines go to `<stem>_validation.jsonl` beside the train file. The holdout
    (seed-example format) is written only when it has examples. `holdout_record` is updated with this
    export's holdout tables before any dataset file is written, and its tables are held out here."""
    unknown = set(targets) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown export format(s): {', '.join(sorted(unknown))}")
    if not examples:
        raise NothingToExport("no eligible examples to export", result.discarded if result else None)
    result = result or ExportResult()
    chosen = sample_examples(examples, options.sample, options.seed)
    result.n_sampled_out = len(examples) - len(chosen)
    forced = frozenset(forced_holdout) | (frozenset(holdout_record.tables()) if holdout_record else frozenset())
    ready = prepare_examples(chosen, seeds, options, budget_for, forced)
    prepared, result.recipe = ready.examples, ready.recipe
    if ready.over_budget:
        result.discarded["over_token_budget"] = len(ready.over_budget)
    trainable = [p for p in prepared if p.split != "holdout"]
    if not any(p.split == "train" for p in prepared):
        raise NothingToExport(f"no training example: the {len(prepared)} examples left fall in validation or "
                              f"holdout tables (or exceed the token budget)")
    holdout_rows = [holdout_row(p) for p in prepared if p.split == "holdout"]
    main = next(iter(targets.values()))
    if holdout_record is not None:
        holdout_record.add({p.metadata["table_id"] for p in prepared if p.split == "holdout"}, main.stem)
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
    if holdout_rows:  # an empty JSONL is a file `datasets.load_dataset` cannot read: none is written
        result.sha256["holdout"], result.lines["holdout"] = _write_lines(holdout_path, holdout_rows)
        result.paths["holdout"] = holdout_path
    result.paths["recipe"] = atomic_write_json(recipe_path_for(main), result.recipe.to_dict())
    per_category: dict[str, Counter] = defaultdict(Counter)
    for p in prepared:
        per_category[p.split][p.metadata["dominant_category"]] += 1
    result.per_split = {s: sum(per_category[s].values()) for s in ("train", "validation", "holdout")}
    result.per_category = {s: dict(sorted(per_category[s].items())) for s in ("train", "validation", "holdout")}
    result.n_exported = len(prepared)
    result.n_preference_pairs = sum(1 for p in trainable if p.changed)
    shots = Counter(len(p.shots) for p in trainable)
    result.shots_per_prompt = {str(n): shots[n] for n in sorted(shots, reverse=True)}
    return result


def export_dataset(feedbacks: Iterable[FeedbackFile], seeds: list[dict], options: ExportOptions,
                   targets: dict[str, Path], holdout_path: Path, **kwargs) -> ExportResult:
    """Reviews -> consensus -> files: the whole stage for callers holding feedback files (kwargs: `write_export`'s)."""
    outcome: ReviewOutcome = review_feedback(feedbacks, options.min_score, options.check_evidence)
    result = ExportResult(discarded=dict(sorted(outcome.discarded.items())), review_stats=outcome.stats())
    return write_export(outcome.examples, seeds, options, targets, holdout_path, result, **kwargs)
