"""Both arms on the holdout: build the prompts (the export prompt builder and shot selection), generate,
score, and write `reports/eval_<TIMESTAMP>.json` atomically.

The few-shot arm sees `shot_count` worked seed examples; the fine-tuned arm sees `fine_tuned_shot_count`
(0 by default: the behaviour was trained in). Both arms are scored on the same examples and the same
bootstrap resamples, so the comparison's confidence intervals are paired.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from datapilot_pipeline.lib.atomic import atomic_write_json
from datapilot_pipeline.lib.audit import AuditLog
from datapilot_pipeline.lib.contracts import CompactEDA, first_error, is_safe_id
from datapilot_pipeline.lib.evaluation.endpoint import Generation
from datapilot_pipeline.lib.evaluation.metrics import (DEFAULT_BOOTSTRAP, RATE_METRICS, ExampleScore, bootstrap_indices,
                                                       paired_difference, score_example, summarize)
from datapilot_pipeline.lib.evidence import validate_output
from datapilot_pipeline.lib.jsonl import iter_jsonl
from datapilot_pipeline.lib.prompts import PROMPT_VERSION, build_messages, build_prompt

ARMS = ("few_shot", "fine_tuned")


class Backend(Protocol):
    kind: str  # "endpoint" | "local"

    @property
    def label(self) -> str: ...

    def generate_all(self, prompts: Sequence[str], conversations: Sequence[Sequence[dict]],
                     on_done: Callable[[int, Generation], None] | None = None) -> list[Generation]: ...


@dataclass
class EvalResult:
    report: dict
    report_path: Path | None
    scores: dict[str, list[ExampleScore]]


def load_holdout(path: str | Path) -> list[dict]:
    """Holdout examples (`{"example_id", "compact_eda", "output"}` per line); ValueError names the bad line."""
    examples, seen = [], set()
    for number, row in iter_jsonl(path):
        where = f"{path}:{number}"
        if not isinstance(row, dict) or not is_safe_id(row.get("example_id")):
            raise ValueError(f"{where}: needs a safe string example_id")
        if row["example_id"] in seen:
            raise ValueError(f"{where}: example_id {row['example_id']!r} repeats")
        try:
            CompactEDA.model_validate(row.get("compact_eda"))
        except ValidationError as exc:
            raise ValueError(f"{where}: compact_eda: {first_error(exc)}") from None
        try:
            validate_output(row.get("output"))
        except ValueError as exc:
            raise ValueError(f"{where}: output: {exc}") from None
        seen.add(row["example_id"])
        examples.append(row)
    if not examples:
        raise ValueError(f"{path}: no holdout examples")
    return examples


def choose_shots(seeds: list[dict], count: int, holdout: Sequence[dict]) -> list[dict]:
    """The export's shot selection, never using a holdout example or a holdout table as a worked example."""
    if count == 0:
        return []
    from datapilot_pipeline.lib.export.shots import select_shots

    return select_shots(seeds, count, exclude_ids=frozenset(e["example_id"] for e in holdout),
                        exclude_datasets=frozenset(e["compact_eda"]["dataset"]["name"] for e in holdout))


def run_arm(arm: str, backend: Backend, holdout: Sequence[dict], shots: list[dict],
            audit: AuditLog | None = None) -> list[ExampleScore]:
    """Generate one reply per holdout example (every call audited) and score it."""
    prompts = [build_prompt(e["compact_eda"], shots) for e in holdout]
    conversations = [build_messages(e["compact_eda"], shots) for e in holdout]

    def log(index: int, gen: Generation) -> None:
        prompt = conversations[index] if backend.kind == "endpoint" else prompts[index]
        audit.record(arm=arm, model=backend.label, prompt=prompt, response=gen.text, latency_s=gen.latency_s,
                     prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                     example_id=holdout[index]["example_id"], attempts=gen.attempts, n_shots=len(shots))

    generations = backend.generate_all(prompts, conversations, log if audit is not None else None)
    return [score_example(e["example_id"], g.text, e["compact_eda"], e["output"]) for e, g in zip(holdout, generations)]


def evaluate_arms(holdout: Sequence[dict], few_shot_arm: Backend, fine_tuned_arm: Backend, shot_count: int = 3, *,
                  seeds: list[dict] | None = None, fine_tuned_shot_count: int = 0, audit: AuditLog | None = None,
                  report_dir: str | Path | None = None, n_bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                  now: datetime | None = None, max_examples: int | None = None) -> EvalResult:
    """Score both arms on the holdout; write the report under `report_dir` when given."""
    holdout = list(holdout)[:max_examples] if max_examples else list(holdout)
    if (shot_count or fine_tuned_shot_count) and not seeds:
        raise ValueError("worked examples were requested but no seed examples were given")
    shots = {"few_shot": choose_shots(seeds or [], shot_count, holdout),
             "fine_tuned": choose_shots(seeds or [], fine_tuned_shot_count, holdout)}
    backends = {"few_shot": few_shot_arm, "fine_tuned": fine_tuned_arm}
    scores = {arm: run_arm(arm, backends[arm], holdout, shots[arm], audit) for arm in ARMS}

    indices = bootstrap_indices(len(holdout), n_bootstrap, seed)
    now = now or datetime.now(timezone.utc)
    report: dict = {"created_at": now.isoformat().replace("+00:00", "Z"), "n_examples": len(holdout),
                    "prompt_version": PROMPT_VERSION, "bootstrap": {"n_resamples": n_bootstrap, "seed": seed}}
    for arm in ARMS:
        report[arm] = {**summarize(scores[arm], indices), "model": backends[arm].label,
                       "backend": backends[arm].kind, "decoding": getattr(backends[arm], "decoding", None),
                       "shot_count": len(shots[arm]),
                       "shot_ids": [s.get("example_id") for s in shots[arm]]}
    report["comparison"] = {metric: paired_difference(scores["fine_tuned"], scores["few_shot"], metric, indices)
                            for metric in RATE_METRICS}
    path = None
    if report_dir is not None:
        path = Path(report_dir) / f"eval_{now.astimezone(timezone.utc):%Y%m%dT%H%M%S%fZ}.json"
        report["report_path"] = str(path)
        atomic_write_json(path, report)
    return EvalResult(report=report, report_path=path, scores=scores)


def comparison_table(report: dict) -> str:
    """The two arms side by side as a Markdown table (rates as percentages, 95% CI in brackets)."""
    def cell(m: dict, key: str) -> str:
        value, ci = m.get(key), (m.get("ci") or {}).get(key)
        if value is None:
            return "n/a"
        return f"{value:.1%}" + (f" [{ci[0]:.1%}, {ci[1]:.1%}]" if ci else "")

    rows = ["| metric | few_shot | fine_tuned |", "| --- | --- | --- |",
            f"| n | {report['few_shot']['n']} | {report['fine_tuned']['n']} |"]
    for key in RATE_METRICS:
        rows.append(f"| {key} | {cell(report['few_shot'], key)} | {cell(report['fine_tuned'], key)} |")
    rows.append(f"| model | {report['few_shot']['model']} | {report['fine_tuned']['model']} |")
    return "\n".join(rows)
