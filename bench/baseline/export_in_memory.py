"""The export as it was before streaming (commit 851b770, `lib/export/pipeline.py`): every review, example and
prepared line held in memory, each file written at the end. `bench.bench_export` runs it beside the streaming
export; `test_export_stream.py` checks both write the same bytes. Shared helpers (consensus, masking, formats,
fitting) are imported from `lib`: only the orchestration, which decides the memory, is copied here."""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from datapilot_pipeline.lib.atomic import atomic_open, atomic_write_json, dumps_compact
from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.export.eligibility import ReviewedExample, ReviewOutcome, review_feedback
from datapilot_pipeline.lib.export.fitting import BudgetFactory, Prepared, within_budget
from datapilot_pipeline.lib.export.formats import BUILDERS, FORMATS, PreparedExample, holdout_row
from datapilot_pipeline.lib.export.masking import Masker
from datapilot_pipeline.lib.export.pipeline import ExportOptions, ExportResult, NothingToExport, validation_path_for
from datapilot_pipeline.lib.export.shots import select_shots
from datapilot_pipeline.lib.export.splits import HoldoutRecord, assign_splits, table_identity
from datapilot_pipeline.lib.prompts import PromptRecipe, recipe_path_for, recipe_shots

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
