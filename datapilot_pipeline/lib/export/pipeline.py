"""The export stage end to end: reviews -> consensus examples -> splits -> masking -> JSONL files.

Used by `datapilot export` and by the `reviewed_examples` / `finetune_dataset` assets. Output bytes
depend only on the inputs and options (no clock in file content); files are written atomically.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import pickle
import random
import tempfile
from array import array
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from datapilot_pipeline.lib.atomic import StagedFiles
from datapilot_pipeline.lib.batching import chunks
from datapilot_pipeline.lib.collector import objects_alive_now_frozen, settle_worker_process
from datapilot_pipeline.lib.contracts import FeedbackFile, StoredReview
from datapilot_pipeline.lib.export.eligibility import ReviewedExample, ReviewOutcome, group_by_job, iter_examples
from datapilot_pipeline.lib.export.fitting import BudgetFactory
from datapilot_pipeline.lib.export.formats import BUILDERS, FORMATS, PreparedExample, holdout_row
from datapilot_pipeline.lib.export.masking import Masker, cell_mapping, collect_cells
from datapilot_pipeline.lib.export.shots import select_shots
from datapilot_pipeline.lib.export.splits import HoldoutRecord, SplitFractions, split_of, table_identity
from datapilot_pipeline.lib.json_codec import jsonl_line
from datapilot_pipeline.lib.prompts import (
    PromptRecipe, RenderedEda, WorkedExample, build_prompt, fit_shots, format_completion, recipe_path_for, recipe_shots,
)
from datapilot_pipeline.lib.workers import ordered_map, worker_count


FORMAT_PREFIX = {"prompt-completion": "finetune", "openai-chat": "finetune_chat",
                 "bedrock": "finetune_bedrock", "preference": "preference"}


class NothingToExport(ValueError):
    """No review made any job eligible: nothing is written, the previous files stay. `discarded` counts
    what the rules dropped, by reason (the answer to "why nothing?")."""

    def __init__(self, message: str, discarded: dict[str, int] | None = None):
        super().__init__(message)
        self.discarded = dict(discarded or {})


class NoEligibleExamples(NothingToExport):
    """No job passed the consensus and eligibility rules (as opposed to eligible jobs that left no training line)."""


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


ExampleSource = Callable[[], Iterable[ReviewedExample]]
MASK_CHUNK = 500  # examples masked per `Masker.for_content` call: strings repeated across jobs are analyzed once
LINES_CHUNK = 500  # examples whose lines are written per `_lines_chunk` call (in a worker for a large export)
INLINE_CHUNKS = 4  # chunks masked in this process before worker processes are considered (~2 s to start each)
WORKERS_ENV = "DATAPILOT_EXPORT_WORKERS"


def sampled_positions(n_examples: int, n: int | None, seed: int) -> set[int] | None:
    """Positions (in job-id order) of a seeded random sample of `n` of `n_examples` examples; None for all."""
    if n is None or n >= n_examples:
        return None
    return set(random.Random(seed).sample(range(n_examples), n))


def _masked_seeds(masker: Masker, pool: list[dict]) -> list[dict]:
    out = []
    for s in pool:
        renamed: dict = {}
        eda = masker.compact_eda(s["compact_eda"], renamed=renamed)
        out.append(WorkedExample(example_id=s["example_id"], compact_eda=eda, output=masker.output(s["output"], renamed)))
    return out


def _prepare(e: ReviewedExample, split: str, identity: str, masker: Masker) -> PreparedExample:
    renamed: dict = {}
    eda = masker.compact_eda(e.compact_eda, renamed=renamed)
    metadata = {"job_id": e.job_id, "reviewer_id": e.latest_reviewer_id, "reviewer_ids": e.reviewer_ids,
                "overall_score": e.overall_score, "approved_insight_count": len(e.approved_output["insights"]),
                "original_insight_count": len(e.original_output["insights"]),
                "dataset_name": eda["dataset"]["name"], "table_id": identity, "categories": e.categories,
                "dominant_category": e.dominant_category, "model": e.model, "variant": e.variant}
    return PreparedExample(job_id=e.job_id, split=split, compact_eda=eda,
                           approved_output=masker.output(e.approved_output, renamed),
                           original_output=masker.output(e.original_output, renamed), shots=[], metadata=metadata)


def _chunk_cells(chunk: list[ReviewedExample]):
    return collect_cells([e.compact_eda for e in chunk], [o for e in chunk for o in (e.approved_output, e.original_output)])


@dataclass
class _Item:
    """One example as the first pass gets it from a chunk: where it goes, and for a trainable split its pickled
    (PreparedExample, 0-shot measure, `line_hints`), the bytes its spill file holds; for the holdout split its
    holdout line, written where the example was prepared (a worker, for a large export)."""

    job_id: str
    dataset_name: str
    identity: str
    split: str  # by the table identity alone (the export's forced holdout tables are applied by the first pass)
    category: str
    measured: tuple[int, int] | None  # None: no budget, or one this process did not have (`_LazyBudget`)
    row: bytes | None = None  # holdout split: its line of the holdout file
    raw: bytes | None = None  # other splits

    def prepared(self) -> PreparedExample:
        return pickle.loads(self.raw)[0]


def _holdout_line(p: PreparedExample) -> bytes:
    return jsonl_line(holdout_row(p))


def _spilled(p: PreparedExample, measured: tuple[int, int] | None, hints: dict) -> bytes:
    return pickle.dumps((p, measured, hints), protocol=pickle.HIGHEST_PROTOCOL)


def _zero_shot(p: PreparedExample, budget) -> tuple[tuple[int, int], dict]:
    """The line's measure without worked examples, and the ids the second pass can reuse (`line_hints`)."""
    prompt, completion = build_prompt(p.compact_eda, []), format_completion(p.approved_output)
    return budget.measure(prompt, completion), budget.line_hints(prompt, completion)


def _prepared_chunk(examples: list[ReviewedExample], masks: dict, fractions: SplitFractions,
                    lazy: "_LazyBudget") -> list[_Item]:
    """Each example of a chunk masked, split by its table and (trainable) measured without worked examples."""
    masker = Masker(masks)
    items = []
    for e in examples:
        identity = table_identity(e.compact_eda)
        split = split_of(identity, fractions)
        p = _prepare(e, split, identity, masker)
        item = _Item(e.job_id, e.dataset_name, identity, split, p.metadata["dominant_category"], None)
        if split == "holdout":
            item.row = _holdout_line(p)
        else:
            budget, hints = lazy.get(), {}
            if budget is not None:
                item.measured, hints = _zero_shot(p, budget)
            item.raw = _spilled(p, item.measured, hints)
        items.append(item)
    return items


def _mask_chunk(chunk: list[ReviewedExample], fractions: SplitFractions, lazy: "_LazyBudget") -> list[_Item]:
    """`_prepared_chunk` of examples: what a worker process returns."""
    return _prepared_chunk(chunk, cell_mapping(_chunk_cells(chunk)), fractions, lazy)


def _consensus_chunk(groups: list[list], min_score: int, check_evidence: bool, fractions: SplitFractions,
                     lazy: "_LazyBudget") -> tuple[list[_Item], ReviewOutcome]:
    """(`_prepared_chunk` of the eligible examples, the consensus outcome) of a chunk of jobs' reviews: what a worker
    process returns."""
    outcome = ReviewOutcome()
    examples = list(iter_examples(groups, min_score, check_evidence, outcome))
    return _mask_chunk(examples, fractions, lazy), outcome


def _chunk_map(fn: Callable, chunk_iter: Iterable[list], workers: int | None) -> Iterator[tuple[list, object]]:
    """(chunk, `fn(chunk)`) for each chunk, in order. An input of at most `INLINE_CHUNKS` chunks runs in this
    process; a larger one runs in `worker_count` processes (`workers`, else `$DATAPILOT_EXPORT_WORKERS`, else one per
    core when a core is spare) from its first chunk on, while this process prepares and parks what comes back. The
    first `INLINE_CHUNKS + 1` chunks are read ahead to tell (jobs' stored reviews, not yet parsed: ~6 MB a chunk of
    the bench store), so a large export neither leaves a core idle while this process masks its first chunks alone
    nor imports the PII analyzer for them. Each chunk's strings are masked together either way, so the bytes written
    do not depend on the processes."""
    it = iter(chunk_iter)
    ahead = deque(itertools.islice(it, INLINE_CHUNKS + 1))
    n = worker_count(large=True, workers=workers, env=WORKERS_ENV) if len(ahead) > INLINE_CHUNKS else 1

    def following() -> Iterator[list]:  # the chunks read ahead, each let go once taken, then the rest
        while ahead:
            yield ahead.popleft()
        yield from it

    if n <= 1:
        for chunk in following():
            yield chunk, fn(chunk)
        return
    waiting: deque[list] = deque()

    def submitted():
        for chunk in following():
            waiting.append(chunk)
            yield chunk

    for result in ordered_map(fn, submitted(), n, initializer=settle_worker_process):
        yield waiting.popleft(), result


class ReviewChunks:
    """Jobs' reviews to export (`groups()`: a fresh iterator of one job's reviews at a time, in job-id order, e.g. a
    store cursor) with the consensus rule's counts of the last complete read in `outcome`. Unsampled, parsing,
    consensus and masking run a chunk of `MASK_CHUNK` jobs at a time, in worker processes for a large export
    (`_chunk_map`): they are most of an export's work."""

    def __init__(self, groups: Callable[[], Iterable[list]], options: ExportOptions) -> None:
        self.groups, self.options, self.outcome = groups, options, ReviewOutcome()

    def examples(self) -> Iterator[ReviewedExample]:
        self.outcome = ReviewOutcome()
        return iter_examples(self.groups(), self.options.min_score, self.options.check_evidence, self.outcome)

    def prepared(self, workers: int | None, lazy: "_LazyBudget") -> Iterator[list[_Item]]:
        self.outcome = ReviewOutcome()
        work = functools.partial(_consensus_chunk, min_score=self.options.min_score,
                                 check_evidence=self.options.check_evidence, fractions=self.options.fractions,
                                 lazy=lazy)
        for _groups, (items, outcome) in _chunk_map(work, chunks(self.groups(), MASK_CHUNK), workers):
            self.outcome.add(outcome)
            yield items


def _chosen(source: ExampleSource, options: ExportOptions, state: _Pass1) -> Iterator[ReviewedExample]:
    """The examples `options.sample` keeps (all without it), each counted in `state.n_examples`."""
    positions = None
    if options.sample is not None:
        positions = sampled_positions(sum(1 for _ in source()), options.sample, options.seed)
    for position, example in enumerate(source()):
        state.n_examples += 1
        if positions is None or position in positions:
            yield example


def _prepared_examples(examples: ExampleSource | Iterable[ReviewedExample] | ReviewChunks, options: ExportOptions,
                       state: _Pass1, workers: int | None, lazy: "_LazyBudget") -> Iterator[list[_Item]]:
    """Chunks of the examples to export, masked, split and measured (`_prepared_chunk`)."""
    if isinstance(examples, ReviewChunks) and options.sample is None:
        for items in examples.prepared(workers, lazy):
            state.n_examples += len(items)
            yield items
        return
    source = examples.examples if isinstance(examples, ReviewChunks) else \
        examples if callable(examples) else _once(examples)
    work = functools.partial(_mask_chunk, fractions=options.fractions, lazy=lazy)
    for _chunk, items in _chunk_map(work, chunks(_chosen(source, options, state), MASK_CHUNK), workers):
        yield items


class _Spill:
    """Prepared examples of one split parked in a temp file (pickled, in job-id order) until the recipe is known.
    Read back as each item's pickled bytes (`raw`), which a worker process unpickles."""

    def __init__(self, folder: Path, name: str) -> None:
        self.path = folder / f"{name}.pickle"
        self._fh = self.path.open("wb")
        self._sizes = array("q")

    @property
    def count(self) -> int:
        return len(self._sizes)

    def add_raw(self, data: bytes) -> None:
        """Park one item given as its pickle."""
        self._fh.write(data)
        self._sizes.append(len(data))

    def raw(self) -> Iterator[bytes]:
        self._fh.close()
        with self.path.open("rb") as fh:
            for size in self._sizes:
                yield fh.read(size)


@dataclass
class _Pass1:
    """What the first pass learns about the whole export (kept small: counts, a max, the holdout's seed bans)."""

    n_examples: int = 0  # eligible examples before sampling
    n_kept: int = 0  # prepared and within budget
    reserve: int = 0  # the longest kept completion, in tokens
    over_budget: int = 0
    banned_ids: set[str] = field(default_factory=set)  # seed ids that are holdout job ids
    banned_tables: set[str] = field(default_factory=set)  # seed table names that are holdout table names
    holdout_tables: set[str] = field(default_factory=set)
    per_category: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))


class _LazyBudget:
    """The target model's budget, loaded at the first line that needs it (an export of nothing loads no tokenizer).
    Sent to a worker process, it is the budget's `TokenBudget.portable` form; where there is none (a chat template),
    the worker measures nothing and the first pass measures in this process."""

    def __init__(self, factory: BudgetFactory | None, budget=None) -> None:
        self.factory, self.budget = factory, budget

    def get(self):
        if self.budget is None and self.factory is not None:
            self.budget = self.factory()
        return self.budget

    def __reduce__(self):
        budget = self.get()
        return _LazyBudget, (None, budget.portable() if budget is not None else None)


def _first_pass(prepared: Iterator[list[_Item]], state: _Pass1, seeds: list[dict], forced: frozenset[str],
                lazy: _LazyBudget, staged: StagedFiles, holdout_path: Path, spills: dict[str, _Spill]) -> None:
    """Stream the prepared examples once: the export's forced holdout tables on top of the split by table identity,
    write holdout rows, leave out the lines over budget even without worked examples, park train / validation
    examples in their spill files."""
    seed_ids = {str(s["example_id"]) for s in seeds}
    seed_tables = {((s.get("compact_eda") or {}).get("dataset") or {}).get("name") for s in seeds}
    holdout_fh = None
    for items in prepared:
        for item in items:
            split = "holdout" if item.identity in forced else item.split
            if split == "holdout":
                if item.job_id in seed_ids:
                    state.banned_ids.add(item.job_id)
                if item.dataset_name in seed_tables:
                    state.banned_tables.add(item.dataset_name)
                state.holdout_tables.add(item.identity)
                if holdout_fh is None:
                    holdout_fh = staged.open(holdout_path)
                holdout_fh.write(item.row if item.row is not None else _holdout_line(item.prepared()))
            else:
                measured, raw = item.measured, item.raw
                budget = lazy.get() if measured is None else None
                if budget is not None:  # a worker without this budget's portable form
                    p = item.prepared()
                    measured, hints = _zero_shot(p, budget)
                    raw = _spilled(p, measured, hints)
                if measured is not None:
                    total, completion = measured
                    if total > lazy.get().max_length or completion == 0:
                        state.over_budget += 1
                        continue
                    state.reserve = max(state.reserve, completion)
                spills[split].add_raw(raw)
            state.n_kept += 1
            state.per_category[split][item.category] += 1


def _targets_parts(targets: dict[str, Path]) -> list[tuple[str, str, Path, tuple[str, ...]]]:
    """(role, format, file, splits it holds) in the order the files are reported: prompt-completion holds train
    and validation (metadata.split); the other formats carry no metadata, so their validation lines go to
    `<stem>_validation.jsonl` beside the train file."""
    parts = []
    for fmt, path in targets.items():
        if fmt == "prompt-completion":
            parts.append((fmt, fmt, path, ("train", "validation")))
        else:
            parts.append((fmt, fmt, path, ("train",)))
            parts.append((f"{fmt}/validation", fmt, validation_path_for(path), ("validation",)))
    return parts


def write_export(examples: ExampleSource | Iterable[ReviewedExample] | ReviewChunks, seeds: list[dict],
                 options: ExportOptions,
                 targets: dict[str, Path], holdout_path: Path, result: ExportResult | None = None, *,
                 budget_for: BudgetFactory | None = None, holdout_record: HoldoutRecord | None = None,
                 forced_holdout: Iterable[str] = (), workers: int | None = None) -> ExportResult:
    """Write each format in `targets` (format -> file), the holdout file and the recipe; returns what was written.

    `examples` in job-id order: a callable returning a fresh iterator (read twice with `options.sample`: once to
    count) or an iterable. Memory holds one chunk of examples, not the export: a first pass masks and measures
    each example and parks it in a temp file by split; the recipe (worked examples, completion reserve) follows
    from the whole first pass; a second pass fits each prompt's worked examples and writes the lines (train,
    then validation, each in job-id order). Files are staged beside their targets and published together at the
    end (the dataset last); on any error nothing is published. The holdout (seed-example format) is written only
    when it has examples. `holdout_record` is updated with this export's holdout tables before any dataset file
    is published, and its tables are held out here. `workers`: processes that mask and measure
    (`_prepared_examples`) and write the lines (`_second_pass`, with a budget where it is `portable`); they never
    change the bytes written."""
    unknown = set(targets) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown export format(s): {', '.join(sorted(unknown))}")
    result = result or ExportResult()
    forced = frozenset(forced_holdout) | (frozenset(holdout_record.tables()) if holdout_record else frozenset())
    main = next(iter(targets.values()))
    with StagedFiles() as staged, tempfile.TemporaryDirectory(prefix=f".{main.name}.", dir=_mkdir(main.parent)) as tmp, \
            objects_alive_now_frozen():
        spills = {split: _Spill(Path(tmp), split) for split in ("train", "validation")}
        lazy = _LazyBudget(budget_for)
        state = _Pass1()
        prepared = _prepared_examples(examples, options, state, workers, lazy)
        _first_pass(prepared, state, seeds, forced, lazy, staged, holdout_path, spills)
        if not state.n_examples:
            raise NoEligibleExamples("no eligible examples to export", result.discarded)
        chosen_count = state.n_examples if options.sample is None else min(options.sample, state.n_examples)
        result.n_sampled_out = state.n_examples - chosen_count
        if state.over_budget:
            result.discarded["over_token_budget"] = state.over_budget
        if not spills["train"].count:
            raise NothingToExport(f"no training example: the {state.n_kept} examples left fall in validation or "
                                  f"holdout tables (or exceed the token budget)")
        pool = [s for s in seeds if str(s["example_id"]) not in state.banned_ids
                and ((s.get("compact_eda") or {}).get("dataset") or {}).get("name") not in state.banned_tables]
        chosen = select_shots(pool, options.shot_count)
        shot_ids = [str(s["example_id"]) for s in chosen]
        masker = Masker.for_content([s["compact_eda"] for s in chosen], [s["output"] for s in chosen])
        masked_pool = _masked_seeds(masker, chosen)
        recipe = PromptRecipe(shot_ids=tuple(shot_ids))
        budget = lazy.get()
        if budget is not None:
            recipe = replace(recipe, max_length=budget.max_length, tokenizer=budget.tokenizer_path,
                             tokenizer_sha256=budget.tokenizer_hash, base_model=budget.base_model,
                             completion_reserve=state.reserve)
        result.recipe = recipe
        parts = _targets_parts(targets)
        handles = {role: staged.open(path) for role, _fmt, path, _splits in parts}
        digests = {role: hashlib.sha256() for role in handles}
        lines = Counter()
        shots, pairs = Counter(), 0
        spec = _LineSpec(tuple(shot_ids), tuple(masked_pool), recipe.completion_reserve,
                         tuple((role, fmt, splits) for role, fmt, _path, splits in parts))
        for n_shots, changed, written in _second_pass(spills, spec, budget, workers):
            shots[n_shots] += 1
            pairs += changed
            for role, data in written:
                handles[role].write(data)
                digests[role].update(data)
                lines[role] += 1
        if holdout_record is not None:
            holdout_record.add(state.holdout_tables, main.stem)
        recipe_path = recipe_path_for(main)
        staged.open(recipe_path, "w").write(json.dumps(recipe.to_dict(), indent=2, ensure_ascii=False,
                                                       sort_keys=True) + "\n")
        # The recipe goes last: `train` finds a dataset through the newest recipe, so a recipe is never seen
        # before the files it describes (a kill mid-publish leaves the previous recipe and its dataset's name)
        staged.commit(last=recipe_path)
    for role, _fmt, path, _splits in parts:
        result.sha256[role], result.lines[role], result.paths[role] = digests[role].hexdigest(), lines[role], path
    if state.holdout_tables:
        result.sha256["holdout"], result.lines["holdout"] = _file_digest(holdout_path)
        result.paths["holdout"] = holdout_path
    result.paths["recipe"] = recipe_path
    result.per_split = {s: sum(state.per_category[s].values()) for s in ("train", "validation", "holdout")}
    result.per_category = {s: dict(sorted(state.per_category[s].items())) for s in ("train", "validation", "holdout")}
    result.n_exported = state.n_kept
    result.n_preference_pairs = pairs
    result.shots_per_prompt = {str(n): shots[n] for n in sorted(shots, reverse=True)}
    return result


@dataclass(frozen=True)
class _LineSpec:
    """What writing an export's lines needs besides the examples and the budget: the recipe's worked examples
    (masked), the completion reserve and the files' parts."""

    shot_ids: tuple[str, ...]
    pool: tuple[dict, ...]
    reserve: int
    parts: tuple[tuple[str, str, tuple[str, ...]], ...]  # (role, format, splits it holds)


def _second_pass(spills: dict[str, _Spill], spec: _LineSpec, budget, workers: int | None) -> Iterator[tuple]:
    """`_lines_chunk`'s results for every spilled example, train then validation, in order, `LINES_CHUNK` examples at
    a time, in worker processes for a large export (`_chunk_map`). A token budget goes to the workers as its
    `TokenBudget.portable` form (`tokenizers` alone); one that has none (a chat template) stays in this process, which
    holds the tokenizer already (a worker would import transformers and torch again: ~300 MB each, which would take an
    export past 1 GB at once)."""
    items = ((split, raw) for split in ("train", "validation") for raw in spills[split].raw())
    work = functools.partial(_lines_chunk, spec=spec, budget=budget)
    n = workers if budget is None or budget.portable() is not None else 1
    for _items, results in _chunk_map(work, chunks(items, LINES_CHUNK), n):
        yield from results


def _lines_chunk(items: list[tuple[str, bytes]], spec: _LineSpec,
                 budget=None) -> list[tuple[int, bool, list[tuple[str, bytes]]]]:
    """Each spilled example of a chunk ((split, pickled (example, 0-shot measure, hints))) as (worked examples its
    prompt holds, whether it has a preference pair, the lines it adds to each file): what a worker process returns."""
    out = []
    for split, raw in items:
        p, measured, hints = pickle.loads(raw)
        p.compact_eda = RenderedEda(p.compact_eda)  # its prompt JSON made once for the builds below
        p.shots = recipe_shots(spec.shot_ids, spec.pool, p.compact_eda)
        if budget is not None:
            budget.hinted(hints)  # the first pass's ids of this line: not tokenized again
            _fit(p, measured, budget, spec.reserve)
        written = []
        for role, fmt, splits in spec.parts:
            if split in splits:
                row = BUILDERS[fmt](p)
                if row is not None:
                    written.append((role, jsonl_line(row)))
        out.append((len(p.shots), p.changed, written))
    if budget is not None:
        budget.hinted({})
    return out


def _fit(p: PreparedExample, measured: tuple[int, int], budget, reserve: int) -> None:
    """`fitting.within_budget`'s rule for one line: the longest prefix of worked examples within max length minus
    the completion reserve; none when even those push this (longer than most) completion over."""
    completion = format_completion(p.approved_output)
    p.shots = fit_shots(p.compact_eda, p.shots, budget.prompt_tokens, budget.max_length - reserve)
    total, completion_tokens = budget.measure(build_prompt(p.compact_eda, p.shots), completion)
    if total > budget.max_length:
        p.shots = []
        total, completion_tokens = measured
    p.metadata.update(sequence_tokens=total, completion_tokens=completion_tokens)


def _once(examples: Iterable[ReviewedExample]) -> ExampleSource:
    """A source over examples already in memory (a list is read as often as needed)."""
    items = examples if isinstance(examples, (list, tuple)) else list(examples)
    return lambda: iter(items)


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _file_digest(path: Path) -> tuple[str, int]:
    digest, n = hashlib.sha256(), 0
    with path.open("rb") as fh:
        for line in fh:
            digest.update(line)
            n += 1
    return digest.hexdigest(), n


def export_reviews(groups: Callable[[], Iterable[list[FeedbackFile | StoredReview]]], seeds: list[dict],
                   options: ExportOptions, targets: dict[str, Path], holdout_path: Path, **kwargs) -> ExportResult:
    """Reviews grouped by job, in job-id order (`groups()` a fresh iterator each call, e.g. a store cursor) ->
    consensus -> files, one chunk of jobs' reviews in memory at a time (kwargs: `write_export`'s)."""
    source = ReviewChunks(groups, options)
    result = ExportResult()
    try:
        return write_export(source, seeds, options, targets, holdout_path, result, **kwargs)
    except NoEligibleExamples as exc:
        exc.discarded = dict(sorted(source.outcome.discarded.items()))
        raise
    finally:  # counts of the last complete read (a sampled export reads twice)
        result.discarded = {**dict(sorted(source.outcome.discarded.items())),
                            **({"over_token_budget": result.discarded["over_token_budget"]}
                               if "over_token_budget" in result.discarded else {})}
        result.review_stats = source.outcome.stats()


def export_dataset(feedbacks: Iterable[FeedbackFile], seeds: list[dict], options: ExportOptions,
                   targets: dict[str, Path], holdout_path: Path, **kwargs) -> ExportResult:
    """Reviews -> consensus -> files: the whole stage for callers holding feedback files (kwargs: `write_export`'s)."""
    groups = group_by_job(feedbacks)
    return export_reviews(lambda: iter(groups), seeds, options, targets, holdout_path, **kwargs)
