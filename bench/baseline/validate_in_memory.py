"""Validation as it was before streaming (commit 851b770, `lib/validation/report.py`, verbatim below this note):
the whole file read into memory, every line's facts kept, duplicates through an in-memory datasketch LSH.
`bench.bench_validate` and `bench.bench_export` run it beside the streaming validation; `test_validation_stream.py`
checks both give the same report. The per-line checks it calls are today's, shared with the streaming path."""


from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from datapilot_pipeline.lib.atomic import atomic_write_json
from datapilot_pipeline.lib.validation import score as scoring
from datapilot_pipeline.lib.validation.content import ContentResult
from datapilot_pipeline.lib.validation.dedup import NEAR_THRESHOLD, DuplicateResult, find_duplicates
from datapilot_pipeline.lib.validation.facts import LineFacts, TokenMethod, analyze_records
from datapilot_pipeline.lib.validation.pii_scan import PiiResult
from datapilot_pipeline.lib.validation.records import DatasetReadError, Record, read_records, require_examples
from datapilot_pipeline.lib.validation.tokens import DEFAULT_MAX_TOKENS, TokenCounter, token_summary

if TYPE_CHECKING:
    from datapilot_pipeline.lib.paths import Workspace
    from datapilot_pipeline.lib.generation.token_budget import TokenBudget

REPORT_PREFIX = "finetune_export_report_"
MAX_LISTED = 200  # per-line details listed in the report; counts always cover every line


@dataclass
class Validation:
    """The report plus what `write_clean` needs (records and which lines to drop)."""

    report: dict
    records: list[Record]
    duplicates: DuplicateResult
    pii: PiiResult


def pii_result(facts: list[LineFacts]) -> PiiResult:
    result, totals, locales = PiiResult(), Counter(), Counter()
    for f in facts:
        if f.pii:
            result.lines.append(f.line)
            result.by_line[f.line] = dict(sorted(f.pii.items()))
            totals.update(f.pii)
            locales.update({(loc, e): n for loc, ents in f.pii_locales.items() for e, n in ents.items()})
    result.by_entity = dict(sorted(totals.items()))
    for (loc, entity), n in sorted(locales.items()):
        result.by_locale.setdefault(loc, {})[entity] = n
    return result


def _schema_section(facts: list[LineFacts]) -> dict:
    invalid = [f for f in facts if f.problems]
    return {"invalid_lines": [f.line for f in invalid], "invalid_count": len(invalid),
            "invalid_rate": round(len(invalid) / len(facts), 4),
            "errors": [{"line": f.line, "error": f.problems[0]} for f in invalid[:MAX_LISTED]],
            "formats": dict(Counter(f.fmt or "unknown" for f in facts))}


def _evidence_section(contents: list[ContentResult]) -> dict:
    grounded = [c for c in contents if c.schema_ok and c.has_eda]
    checked = sum(c.n_insights for c in grounded)
    valid = sum(c.n_valid_evidence for c in grounded)
    problems = [{"line": c.line, "problem": p} for c in grounded for p in c.evidence_problems]
    numbers, stated = sum(c.n_grounded for c in grounded), sum(c.n_numbers for c in grounded)
    text_grounding = {"numbers_stated": stated, "numbers_grounded": numbers,
                      "share": round(numbers / stated, 4) if stated else None,
                      "ungrounded": [{"line": c.line, "numbers": c.ungrounded} for c in grounded
                                     if c.ungrounded][:MAX_LISTED]}
    return {"lines_with_eda": len(grounded), "lines_without_eda": sum(c.schema_ok and not c.has_eda for c in contents),
            "insights_checked": checked, "insights_valid": valid,
            "accuracy": round(valid / checked, 4) if checked else None, "problems": problems[:MAX_LISTED],
            "text_grounding": text_grounding}


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
    contents = [f.content for f in facts]
    usable = [f for f in facts if f.usable]
    n = len(facts)
    schema = _schema_section(facts)
    pii = pii_result(facts)
    tokens = token_summary([f.line for f in usable], [f.prompt_tokens for f in usable],
                           [f.completion_tokens for f in usable], token_method, max_tokens, [f.fits for f in usable])
    evidence = _evidence_section(contents)
    categories = Counter(cat for c in contents for cat in c.categories)
    issues = _issues(n, schema, pii, dups, evidence, tokens, categories)
    quality = scoring.quality_score(issues)
    top = categories.most_common(1)
    report = {
        "quality_score": quality, "grade": scoring.grade(quality), "n_examples": n, "schema": schema,
        "pii": {"by_entity": pii.by_entity, "by_locale": pii.by_locale, "lines": pii.lines, "lines_count": len(pii.lines),
                "by_line": {str(k): v for k, v in list(pii.by_line.items())[:MAX_LISTED]}},
        "duplicates": {"exact": dups.exact, "near": dups.near,
                       "pairs": {str(k): v for k, v in list(dups.pairs.items())[:MAX_LISTED]},
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
    if run_gx:
        report["great_expectations"] = _run_gx(facts, max_tokens)
    return report


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


def _run_gx(facts: list[LineFacts], max_tokens: int) -> dict:
    from datapilot_pipeline.lib.validation.gx_suite import run_suite

    rows = [{"line": f.line, "is_object": f.is_object, "format": f.fmt or "unknown",
             "prompt_chars": f.prompt_chars or 0, "completion_chars": f.completion_chars or 0,
             "schema_ok": f.content.schema_ok, "n_insights": f.content.n_insights,
             "total_tokens": (f.prompt_tokens + f.completion_tokens) if f.usable else 0,
             "content_key": f.key if f.usable else f"line-{f.line}"} for f in facts]
    return run_suite(rows, max_tokens=max_tokens, min_rows=scoring.MIN_EXAMPLES)


class DatasetChangedError(ValueError):
    """The file is not the one whose sha256 was expected (another run replaced it)."""


def validate_dataset(path: str | Path, *, tokenizer_path: str | Path | None = None, max_tokens: int | None = None,
                     workspace: "Workspace | None" = None, expected_sha256: str | None = None,
                     **kwargs) -> Validation:
    """Validate a JSONL file against its recipe's token budget (`recipe.dataset_budget`); raises
    `records.DatasetReadError` when it cannot be read at all and `DatasetChangedError` when its bytes are not
    the ones with `expected_sha256`. The file is read once: the report covers exactly the bytes it names."""
    from datapilot_pipeline.lib.validation.recipe import dataset_budget, dataset_recipe, line_problems

    path = Path(path)
    if not path.is_file():
        raise DatasetReadError(f"no such file: {path}")
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and sha256 != expected_sha256:
        raise DatasetChangedError(f"{path} changed after validation: sha256 {sha256} != {expected_sha256}")
    budget, recipe_section = dataset_budget(path, tokenizer_path, max_tokens, workspace)
    records = read_records(path, data)
    require_examples(path, [(r.line, r.problems, r.prompt is not None and r.completion is not None) for r in records])
    validation = validate_records(records, budget=budget, max_tokens=recipe_section["max_length"], **kwargs)
    if recipe_section["recipe"] is not None:
        recipe_section["problems"] += line_problems(dataset_recipe(path), records)[:MAX_LISTED]
    validation.report["recipe"] = recipe_section
    validation.report["source"] = {"path": str(path), "sha256": sha256}
    validation.report["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return validation


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
