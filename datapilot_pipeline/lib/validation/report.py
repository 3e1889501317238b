"""Assembling the validation report of a fine-tuning JSONL (DESIGN.md "validation report")."""

from __future__ import annotations

import gc
import hashlib
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from datapilot_pipeline.lib.atomic import atomic_write_json
from datapilot_pipeline.lib.batching import chunks
from datapilot_pipeline.lib.collector import objects_alive_now_frozen, settle_worker_process
from datapilot_pipeline.lib.validation import score as scoring
from datapilot_pipeline.lib.validation.dedup import (
    NEAR_THRESHOLD, DuplicateResult, Permutations, StreamingDuplicates, chunk_signatures, find_duplicates,
    template_permutations, use_permutations,
)
from datapilot_pipeline.lib.validation.facts import LineFacts, TokenMethod, analyze_records
from datapilot_pipeline.lib.validation.pii_scan import PiiResult
from datapilot_pipeline.lib.validation.records import DatasetReadError, Record
from datapilot_pipeline.lib.validation.tokens import DEFAULT_MAX_TOKENS, MAX_DROP_RATE, TokenCounter

if TYPE_CHECKING:
    from datapilot_pipeline.lib.paths import Workspace
    from datapilot_pipeline.lib.validation.gx_suite import SuiteProcess
    from datapilot_pipeline.lib.generation.token_budget import TokenBudget

REPORT_PREFIX = "finetune_export_report_"
MAX_LISTED = 200  # per-line details listed in the report; counts always cover every line


@dataclass
class Validation:
    """The report plus what `write_clean` needs: which lines to drop or mask, and the lines themselves (`records`
    when they were validated from memory, else `source` and `sha256`, read again line by line)."""

    report: dict
    records: list[Record] | None
    duplicates: DuplicateResult
    pii: PiiResult
    source: Path | None = None
    sha256: str | None = None


class ReportFold:
    """Every section of the report folded line by line: counts, sums, maxima, the lines behind each issue and the
    first `MAX_LISTED` details, never the lines themselves. One fold serves a whole file read in chunks
    (`validate_dataset`), one list of facts (`build_report`) and shards merged in line order (`shards`), so all
    three give the same report. With `gx_rows` it also keeps the nine small values per line the Great
    Expectations suite checks (about 80 bytes a line, in arrays)."""

    def __init__(self, gx_rows: bool = True) -> None:
        self.n = 0
        self.formats: Counter = Counter()
        self.invalid: list[int] = []
        self.errors: list[dict] = []
        self.pii = PiiResult()
        self._pii_totals: Counter = Counter()
        self._pii_locales: Counter = Counter()
        self.usable = 0
        self.prompt_tokens = _Stats()
        self.completion_tokens = _Stats()
        self.total_tokens = _Stats()
        self.over = array("q")  # lines the trainer drops (arrays: on a long file every line may be one)
        self.fits_known = True  # every usable line carries a verdict of the trainer's count
        self._totals_over = array("q")  # lines whose total exceeds max length, for when a verdict is missing
        self.categories: Counter = Counter()
        self.grounded_lines = self.without_eda = self.checked = self.valid = self.numbers = self.stated = 0
        self.evidence_problems: list[dict] = []
        self.ungrounded: list[dict] = []
        self.any_object = False
        self.first_problem: tuple[int, str] | None = None
        self.gx = _GxColumns() if gx_rows else None

    def add(self, facts: Iterable[LineFacts], max_tokens: int) -> None:
        for f in facts:
            self._add(f, max_tokens)

    def _add(self, f: LineFacts, max_tokens: int) -> None:
        self.n += 1
        self.formats[f.fmt or "unknown"] += 1
        self.any_object |= f.is_object
        if f.problems:
            self.invalid.append(f.line)
            if len(self.errors) < MAX_LISTED:
                self.errors.append({"line": f.line, "error": f.problems[0]})
            if self.first_problem is None:
                self.first_problem = (f.line, f.problems[0])
        if f.pii:
            self.pii.lines.append(f.line)
            if len(self.pii.by_line) < MAX_LISTED:
                self.pii.by_line[f.line] = dict(sorted(f.pii.items()))
            self._pii_totals.update(f.pii)
            self._pii_locales.update({(loc, e): n for loc, ents in f.pii_locales.items() for e, n in ents.items()})
        if f.usable:
            self.usable += 1
            total = f.prompt_tokens + f.completion_tokens
            self.prompt_tokens.add(f.prompt_tokens)
            self.completion_tokens.add(f.completion_tokens)
            self.total_tokens.add(total)
            if f.fits is None:
                self.fits_known = False
            elif not f.fits:
                self.over.append(f.line)
            if total > max_tokens:
                self._totals_over.append(f.line)
        c = f.content
        self.categories.update(c.categories)
        if c.schema_ok and c.has_eda:
            self.grounded_lines += 1
            self.checked += c.n_insights
            self.valid += c.n_valid_evidence
            room = MAX_LISTED - len(self.evidence_problems)
            if room > 0:
                self.evidence_problems += [{"line": c.line, "problem": p} for p in c.evidence_problems[:room]]
            self.numbers += c.n_grounded
            self.stated += c.n_numbers
            if c.ungrounded and len(self.ungrounded) < MAX_LISTED:
                self.ungrounded.append({"line": c.line, "numbers": c.ungrounded})
        elif c.schema_ok:
            self.without_eda += 1
        if self.gx is not None:
            self.gx.add(f)

    def pii_result(self) -> PiiResult:
        result = PiiResult(lines=list(self.pii.lines), by_line=dict(self.pii.by_line))
        result.by_entity = dict(sorted(self._pii_totals.items()))
        for (loc, entity), n in sorted(self._pii_locales.items()):
            result.by_locale.setdefault(loc, {})[entity] = n
        return result

    def schema_section(self) -> dict:
        return {"invalid_lines": list(self.invalid), "invalid_count": len(self.invalid),
                "invalid_rate": round(len(self.invalid) / self.n, 4), "errors": list(self.errors),
                "formats": dict(self.formats)}

    def evidence_section(self) -> dict:
        numbers, stated = self.numbers, self.stated
        text_grounding = {"numbers_stated": stated, "numbers_grounded": numbers,
                          "share": round(numbers / stated, 4) if stated else None, "ungrounded": list(self.ungrounded)}
        return {"lines_with_eda": self.grounded_lines, "lines_without_eda": self.without_eda,
                "insights_checked": self.checked, "insights_valid": self.valid,
                "accuracy": round(self.valid / self.checked, 4) if self.checked else None,
                "problems": list(self.evidence_problems), "text_grounding": text_grounding}

    def tokens_section(self, token_method: TokenMethod, max_tokens: int) -> dict:
        over = self.over if self.fits_known else self._totals_over
        rate = len(over) / self.usable if self.usable else 0.0
        return {"method": token_method.method, "exact": token_method.exact, "max_tokens": max_tokens,
                "prompt": self.prompt_tokens.as_dict(), "completion": self.completion_tokens.as_dict(),
                "total": self.total_tokens.as_dict(), "over_max_lines": list(over), "over_max_count": len(over),
                "drop_rate": round(rate, 4), "max_drop_rate": MAX_DROP_RATE}

    def report(self, dups: DuplicateResult, token_method: TokenMethod, *, max_tokens: int = DEFAULT_MAX_TOKENS,
               near_threshold: float = NEAR_THRESHOLD, run_gx: bool = True,
               suite_process: "SuiteProcess | None" = None) -> dict:
        """The report (DESIGN.md) of every line folded so far and the duplicate pass over them; the Great
        Expectations suite runs here, or in `suite_process` when given."""
        n = self.n
        schema = self.schema_section()
        pii = self.pii_result()
        tokens = self.tokens_section(token_method, max_tokens)
        evidence = self.evidence_section()
        categories = self.categories
        issues = _issues(n, schema, pii, dups, evidence, tokens, categories)
        quality = scoring.quality_score(issues)
        top = categories.most_common(1)
        report = {
            "quality_score": quality, "grade": scoring.grade(quality), "n_examples": n, "schema": schema,
            "pii": {"by_entity": pii.by_entity, "by_locale": pii.by_locale, "lines": pii.lines,
                    "lines_count": len(pii.lines), "by_line": {str(k): v for k, v in pii.by_line.items()}},
            "duplicates": {"exact": dups.exact, "near": dups.near,
                           "pairs": {str(k): v for k, v in islice(dups.pairs.items(), MAX_LISTED)},
                           "rate": round((len(dups.exact) + len(dups.near)) / n, 4), "near_threshold": near_threshold,
                           "compared": "task block of the prompt + completion (shared system prompt and shots excluded)"},
            "tokens": tokens, "evidence": evidence,
            "size": {"n_examples": n, "minimum": scoring.MIN_EXAMPLES, "recommended": scoring.RECOMMENDED_EXAMPLES,
                     "meets_minimum": n >= scoring.MIN_EXAMPLES, "meets_recommended": n >= scoring.RECOMMENDED_EXAMPLES},
            "category_balance": {"counts": dict(sorted(categories.items())),
                                 "dominant": top[0][0] if top else None,
                                 "dominant_share": round(top[0][1] / sum(categories.values()), 4) if top else None},
            "issues": [i.as_dict() for i in issues],
        }
        if run_gx and suite_process is not None:
            report["great_expectations"] = suite_process.run(self.gx, max_tokens, scoring.MIN_EXAMPLES)
        elif run_gx:
            from datapilot_pipeline.lib.validation.gx_suite import run_suite

            frame, self.gx = self.gx.frame(), None  # the columns are the frame's now: not kept twice
            report["great_expectations"] = run_suite(frame, max_tokens=max_tokens, min_rows=scoring.MIN_EXAMPLES)
        return report


class _Stats:
    def __init__(self) -> None:
        self.count = self.total = self.max = 0

    def add(self, value: int) -> None:
        self.count += 1
        self.total += value
        self.max = max(self.max, value)

    def as_dict(self) -> dict:  # tokens._stats of the values added
        if not self.count:
            return {"mean": 0.0, "max": 0, "total": 0}
        return {"mean": round(self.total / self.count, 1), "max": self.max, "total": self.total}


class _GxColumns:
    """The Great Expectations suite's columns, one compact array each. `content_key` is kept as 64 bits of the
    exact key (a line that is no example gets its own negative number), which makes the same values unique."""

    FORMATS = ("unknown", "prompt-completion", "openai-chat", "bedrock", "preference", "seed-example")

    def __init__(self) -> None:
        self.cols = {"line": array("q"), "is_object": array("b"), "format": array("b"), "prompt_chars": array("q"),
                     "completion_chars": array("q"), "schema_ok": array("b"), "n_insights": array("q"),
                     "total_tokens": array("q"), "content_key": array("q")}
        self._extra_formats: list[str] = []

    def _format_code(self, fmt: str) -> int:
        if fmt in self.FORMATS:
            return self.FORMATS.index(fmt)
        if fmt not in self._extra_formats:
            self._extra_formats.append(fmt)
        return len(self.FORMATS) + self._extra_formats.index(fmt)

    def add(self, f: LineFacts) -> None:
        c = self.cols
        c["line"].append(f.line)
        c["is_object"].append(f.is_object)
        c["format"].append(self._format_code(f.fmt or "unknown"))
        c["prompt_chars"].append(f.prompt_chars or 0)
        c["completion_chars"].append(f.completion_chars or 0)
        c["schema_ok"].append(f.content.schema_ok)
        c["n_insights"].append(f.content.n_insights)
        c["total_tokens"].append((f.prompt_tokens + f.completion_tokens) if f.usable else 0)
        c["content_key"].append(int(f.key[:16], 16) - (1 << 63) if f.usable else -f.line - 1)

    def frame(self):
        import numpy as np
        import pandas as pd

        names = np.array(self.FORMATS + tuple(self._extra_formats), dtype=object)
        data = {k: np.frombuffer(v, dtype=np.int64 if v.typecode == "q" else np.int8) for k, v in self.cols.items()}
        frame = pd.DataFrame({"line": data["line"], "is_object": data["is_object"].astype(bool),
                              "format": names[data["format"]], "prompt_chars": data["prompt_chars"],
                              "completion_chars": data["completion_chars"], "schema_ok": data["schema_ok"].astype(bool),
                              "n_insights": data["n_insights"], "total_tokens": data["total_tokens"],
                              "content_key": data["content_key"]})
        return frame


def pii_result(facts: list[LineFacts]) -> PiiResult:
    fold = ReportFold(gx_rows=False)
    fold.add(facts, DEFAULT_MAX_TOKENS)
    result = fold.pii_result()
    result.by_line = {f.line: dict(sorted(f.pii.items())) for f in facts if f.pii}  # every line, not the first ones
    return result


def _issues(n: int, schema: dict, pii: PiiResult, dups: DuplicateResult, evidence: dict, tokens: dict,
            categories: Counter) -> list[scoring.Issue]:
    def lines(values: list[int]) -> str:
        shown = ", ".join(str(v) for v in values[:10])
        return f": lines {shown}{', ...' if len(values) > 10 else ''}" if values else ""

    entities = ", ".join(f"{k} {v}" for k, v in pii.by_entity.items())
    candidates = [
        scoring.rated_issue("schema", schema["invalid_count"], n, "lines fail the schema", lines(schema["invalid_lines"])),
        scoring.rated_issue("pii", len(pii.lines), n, f"lines hold unmasked PII ({entities})", lines(pii.lines)),
        scoring.rated_issue("duplicates", len(dups.exact) + len(dups.near), n,
                            f"lines repeat an earlier line ({len(dups.exact)} exact, {len(dups.near)} near)",
                            lines(sorted(dups.exact + dups.near))),
        scoring.rated_issue("evidence", evidence["insights_checked"] - evidence["insights_valid"],
                            evidence["insights_checked"], "insights cite evidence the compact EDA does not support"),
        scoring.rated_issue("length", tokens["over_max_count"], n,
                            f"lines exceed {tokens['max_tokens']} tokens (training drops them)",
                            lines(tokens["over_max_lines"])),
        scoring.size_issue(n),
        scoring.balance_issue(dict(categories)),
    ]
    return [i for i in candidates if i is not None and i.points > 0]


def build_report(facts: list[LineFacts], dups: DuplicateResult, token_method: TokenMethod, *,
                 max_tokens: int = DEFAULT_MAX_TOKENS, near_threshold: float = NEAR_THRESHOLD,
                 run_gx: bool = True) -> dict:
    """The report from every line's facts (in file order) and the duplicate pass over them."""
    fold = ReportFold(gx_rows=run_gx)
    fold.add(facts, max_tokens)
    return fold.report(dups, token_method, max_tokens=max_tokens, near_threshold=near_threshold, run_gx=run_gx)


def validate_records(records: list[Record], *, tokenizer_path: str | Path | None = None,
                     max_tokens: int = DEFAULT_MAX_TOKENS, near_threshold: float = NEAR_THRESHOLD,
                     run_gx: bool = True, budget: TokenBudget | None = None) -> Validation:
    """Every check on already-read records; returns the report and what cleaning needs."""
    counter = TokenCounter(tokenizer_path, max_tokens, budget)
    facts, varying = analyze_records(records, counter)
    dups = find_duplicates(list(varying.items()), threshold=near_threshold)
    report = build_report(facts, dups, TokenMethod(counter.method, counter.exact), max_tokens=counter.max_tokens,
                          near_threshold=near_threshold, run_gx=run_gx)
    return Validation(report=report, records=records, duplicates=dups, pii=pii_result(facts))


class DatasetChangedError(ValueError):
    """The file is not the one whose sha256 was expected (another run replaced it)."""


CHUNK_LINES = 250  # lines parsed and checked at a time: memory holds a chunk (~12 MB of 12.8 KB lines), never the file
# Great Expectations' import holds ~230 MB (pandas, pyarrow, SQLAlchemy, SciPy). With spawned workers (no fork here:
# see `FORK_MAX_BYTES`), for a file below this size this process imports it while the workers check the first
# chunks; for a larger one, after the workers have exited, so the import never sits beside them (2 workers x ~290 MB
# + this process's fold, growing ~0.15 KB a line).
GX_BESIDE_WORKERS_MAX_BYTES = 256 * 2**20
# Below this size, where a fork is safe (`workers.start_method`), Great Expectations is imported and run in a process
# forked for it (`gx_suite.SuiteProcess`): its import (~0.85 s of CPU) runs beside the line checks instead of after
# them or in this process; and the workers are forked: they start with this process's modules and its PII analyzer,
# built once here, instead of importing and building them again (~0.6 s of CPU each, a fifth of a 20,000-line
# file's work per worker). A larger file is all line work; its workers are spawned, so none counts this process's
# pages in its resident memory, and GX is imported once they have exited.
FORK_MAX_BYTES = 256 * 2**20
PARALLEL_MIN_BYTES = 16 * 2**20  # below this a file is checked in this process (a worker takes ~2 s to start)
WORKERS_ENV = "DATAPILOT_VALIDATE_WORKERS"


def worker_count(path: Path, workers: int | None = None) -> int:
    """How many processes check a file's chunks (`lib.workers.worker_count`): `workers` when given, else
    `$DATAPILOT_VALIDATE_WORKERS`, else one per CPU core (at most 4) for a file of `PARALLEL_MIN_BYTES` or more on a
    machine with a core to spare, and 1 (this process) otherwise: on a busy machine workers only add their start-up
    (~2 s of CPU each) and memory (~290 MB each beside this process's ~300 MB)."""
    from datapilot_pipeline.lib import workers as processes

    return processes.worker_count(path.stat().st_size >= PARALLEL_MIN_BYTES, workers, WORKERS_ENV)


def _check_chunk(chunk: list[tuple[int, str]], counter: TokenCounter, cache, recipe, b: int, r: int):
    """(facts, `dedup.chunk_signatures`, recipe problems) of a chunk of (line number, text)."""
    from datapilot_pipeline.lib.validation.recipe import line_problems
    from datapilot_pipeline.lib.validation.records import parse_record

    records = [parse_record(n, raw) for n, raw in chunk]
    facts, varying = analyze_records(records, counter, cache)
    problems = line_problems(recipe, records) if recipe is not None else []
    keys = {f.line: f.key for f in facts if f.key is not None}  # the exact keys analyze_records computed
    items = list(varying.items())
    return facts, chunk_signatures(items, b, r, [keys[line] for line, _ in items]), problems


@dataclass(frozen=True)
class _ChunkSpec:
    """What a worker process needs to check chunks as `validate_dataset` does (the budget as `TokenBudget` sends it)."""

    max_tokens: int
    budget: "TokenBudget | None"  # sent as its `portable` form where it has one (no transformers in the worker)
    recipe: object
    b: int
    r: int
    permutations: Permutations = field(default_factory=template_permutations)


_WORKER: dict = {}


def _init_worker(spec: _ChunkSpec) -> None:
    from datapilot_pipeline.lib.validation.pii_scan import ScanCache

    use_permutations(spec.permutations)
    _WORKER.update(spec=spec, counter=TokenCounter(None, spec.max_tokens, spec.budget), cache=ScanCache(), chunks=0)
    settle_worker_process()  # it lives for one validation: what it holds now, it holds to the end (`collector`)


def _worker_chunk(chunk: list[tuple[int, str]]):
    spec = _WORKER["spec"]
    checked = _check_chunk(chunk, _WORKER["counter"], _WORKER["cache"], spec.recipe, spec.b, spec.r)
    _WORKER["chunks"] += 1
    if _WORKER["chunks"] == 1:
        gc.freeze()  # and the modules its first chunk imported (Presidio, the lexicon)
    return checked


def parallel_chunks(chunk_iter: Iterable[list[tuple[int, str]]], spec: _ChunkSpec, workers: int,
                    preload_gx: bool = False, fork: bool = False):
    """`_check_chunk` of every chunk in `workers` processes (forked with `fork` where `workers.start_method` finds it
    safe, else spawned), results in file order, at most two chunks per worker in flight (memory stays bounded). With
    `preload_gx` a thread of this process imports Great Expectations while the workers check the first chunks and
    this thread folds them (the import takes seconds of CPU, the suite runs at the end)."""
    from datapilot_pipeline.lib.workers import ordered_map

    def preload() -> None:
        from datapilot_pipeline.lib.validation.gx_suite import preload as import_gx

        import_gx()

    return ordered_map(_worker_chunk, chunk_iter, workers, _init_worker, (spec,), preload if preload_gx else None,
                       fork=fork)


def validate_dataset(path: str | Path, *, tokenizer_path: str | Path | None = None, max_tokens: int | None = None,
                     workspace: "Workspace | None" = None, expected_sha256: str | None = None,
                     near_threshold: float = NEAR_THRESHOLD, run_gx: bool = True,
                     workers: int | None = None) -> Validation:
    """Validate a JSONL file against its recipe's token budget (`recipe.dataset_budget`); raises
    `records.DatasetReadError` when it cannot be read at all and `DatasetChangedError` when its bytes are not
    the ones with `expected_sha256`. The file is read once, `CHUNK_LINES` lines at a time, and hashed as it is
    read: the report covers exactly the bytes it names, in memory that does not grow with the file (the report's
    fold, ~100 bytes a line for duplicates in arrays, MinHash signatures in a temp file).

    `workers` processes check the chunks (`worker_count`: by default one per CPU core for a file of at least
    `PARALLEL_MIN_BYTES`, else this process alone); the report is the same whatever the number."""
    from datapilot_pipeline.lib.pii import get_analyzer
    from datapilot_pipeline.lib.validation.pii_scan import ScanCache
    from datapilot_pipeline.lib.validation.recipe import dataset_budget, dataset_recipe
    from datapilot_pipeline.lib.validation.records import iter_lines, no_example_error, no_object_error
    from datapilot_pipeline.lib.workers import start_method

    path = Path(path)
    if not path.is_file():
        raise DatasetReadError(f"no such file: {path}")
    budget, recipe_section = dataset_budget(path, tokenizer_path, max_tokens, workspace)
    recipe = dataset_recipe(path) if recipe_section["recipe"] is not None else None
    counter = TokenCounter(None, recipe_section["max_length"], budget)
    fold, cache, digest = ReportFold(gx_rows=run_gx), ScanCache(), hashlib.sha256()
    recipe_problems: list[str] = []

    def unchanged() -> str:
        sha256 = digest.hexdigest()
        if expected_sha256 is not None and sha256 != expected_sha256:
            raise DatasetChangedError(f"{path} changed after validation: sha256 {sha256} != {expected_sha256}")
        return sha256

    suite_process = None
    with tempfile.TemporaryDirectory(prefix="datapilot_validate_") as tmp, objects_alive_now_frozen() as freeze, \
            ExitStack() as cleanup:
        duplicates = StreamingDuplicates(tmp, near_threshold)
        n_workers = worker_count(path, workers)
        size = path.stat().st_size
        fork = size < FORK_MAX_BYTES and start_method(True) == "fork"
        if fork and run_gx:
            from datapilot_pipeline.lib.validation.gx_suite import SuiteProcess

            suite_process = SuiteProcess()  # forked first: GX's import runs beside all that follows
            cleanup.callback(suite_process.close)
        try:
            if n_workers > 1:
                spec = _ChunkSpec(counter.max_tokens, counter.budget, recipe, duplicates.b,
                                  duplicates.r)
                if fork:
                    get_analyzer()  # built once here: the forked workers start with it
                checked = parallel_chunks(chunks(iter_lines(path, digest), CHUNK_LINES), spec, n_workers,
                                          preload_gx=run_gx and not fork and size < GX_BESIDE_WORKERS_MAX_BYTES,
                                          fork=fork)
            else:
                checked = (_check_chunk(chunk, counter, cache, recipe, duplicates.b, duplicates.r)
                           for chunk in chunks(iter_lines(path, digest), CHUNK_LINES))
            try:
                for n_chunk, (facts, signatures, problems) in enumerate(checked):
                    if n_chunk == 0:
                        freeze()  # the modules the first chunk imported
                    fold.add(facts, counter.max_tokens)
                    duplicates.append(signatures)
                    if len(recipe_problems) < MAX_LISTED:
                        recipe_problems += problems
            finally:
                checked.close()
        except DatasetReadError:
            unchanged()  # a replaced file is reported as such, not as the bad bytes it now holds
            raise
        sha256 = unchanged()
        if not fold.any_object:
            raise no_object_error(path)
        if not fold.usable:
            raise no_example_error(path, fold.first_problem)
        dups = duplicates.result()
        report = fold.report(dups, TokenMethod(counter.method, counter.exact), max_tokens=counter.max_tokens,
                             near_threshold=near_threshold, run_gx=run_gx, suite_process=suite_process)
    recipe_section["problems"] += recipe_problems[:MAX_LISTED]
    report["recipe"] = recipe_section
    report["source"] = {"path": str(path), "sha256": sha256}
    report["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return Validation(report=report, records=None, duplicates=dups, pii=fold.pii_result(), source=path, sha256=sha256)


def write_report(report: dict, report_dir: str | Path) -> Path:
    """Write `<report_dir>/finetune_export_report_<UTC timestamp>.json` atomically; returns its path."""
    report_dir = Path(report_dir)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = report_dir / f"{REPORT_PREFIX}{stamp}.json"
    suffix = 1
    while path.exists():  # two reports in one second must not overwrite each other
        path = report_dir / f"{REPORT_PREFIX}{stamp}_{suffix}.json"
        suffix += 1
    return atomic_write_json(path, report)
