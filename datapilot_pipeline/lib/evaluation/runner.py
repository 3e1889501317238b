"""Both arms on the holdout: build the prompts (the export prompt builder and shot selection), generate,
score, and write `reports/eval_<TIMESTAMP>.json` atomically.

The few-shot arm sees `shot_count` worked seed examples; the fine-tuned arm sees the shots of the prompt recipe
it was trained with (`fine_tuned_shots`), else `fine_tuned_shot_count` (0 by default). When a current champion
is given it is evaluated as a third arm on the same examples. All arms are scored on the same examples and the
same bootstrap resamples, so the comparisons are paired (a local model keeps, per example, the longest prefix
of its worked examples that leaves `max_new_tokens` within its context). `per_example` holds each arm's per-example
counts, and `promotion` the decision `lib.evaluation.promotion.decide_promotion` takes on them (the rule's paired
comparisons of the candidate against each reference).
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
from datapilot_pipeline.lib.evaluation.metrics import (DEFAULT_BOOTSTRAP, RATE_METRICS, ExampleScore,
                                                       bootstrap_indices, paired_difference, score_example, summarize)
from datapilot_pipeline.lib.evaluation.paired import per_example
from datapilot_pipeline.lib.evaluation.promotion import PromotionDecision, PromotionRules, decide_promotion
from datapilot_pipeline.lib.evidence import validate_output
from datapilot_pipeline.lib.jsonl import iter_jsonl
from datapilot_pipeline.lib.prompts import PROMPT_VERSION, build_messages, build_prompt

ARMS = ("few_shot", "fine_tuned")
CHAMPION = "champion"


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
    decision: PromotionDecision | None = None


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


Shots = list[dict] | Callable[[dict], list[dict]]  # the same worked examples for every prompt, or per compact EDA


def shots_per_example(shots: Shots, holdout: Sequence[dict]) -> list[list[dict]]:
    return [shots(e["compact_eda"]) if callable(shots) else list(shots) for e in holdout]


def run_arm(arm: str, backend: Backend, holdout: Sequence[dict], per_example: list[list[dict]],
            audit: AuditLog | None = None) -> list[ExampleScore]:
    """Generate one reply per holdout example (`per_example`: its worked examples; every call audited) and score
    it."""
    prompts = [build_prompt(e["compact_eda"], s) for e, s in zip(holdout, per_example)]
    conversations = [build_messages(e["compact_eda"], s) for e, s in zip(holdout, per_example)]

    def log(index: int, gen: Generation) -> None:
        prompt = conversations[index] if backend.kind == "endpoint" else prompts[index]
        audit.record(arm=arm, model=backend.label, prompt=prompt, response=gen.text, latency_s=gen.latency_s,
                     prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                     example_id=holdout[index]["example_id"], attempts=gen.attempts, n_shots=len(per_example[index]),
                     **({"cached": True} if gen.cached else {}))

    generations = backend.generate_all(prompts, conversations, log if audit is not None else None)
    return [score_example(e["example_id"], g.text, e["compact_eda"], e["output"]) for e, g in zip(holdout, generations)]


def _fitted(shots: Shots, fit: Callable[[dict, list[dict]], list[dict]]) -> Shots:
    if callable(shots):
        return lambda compact_eda: fit(compact_eda, shots(compact_eda))
    return lambda compact_eda: fit(compact_eda, list(shots))


def _shot_summary(per_example: list[list[dict]]) -> dict:
    """Most worked examples any prompt held, and their ids in first-use order."""
    ids = list(dict.fromkeys(s.get("example_id") for used in per_example for s in used))
    return {"shot_count": max((len(used) for used in per_example), default=0), "shot_ids": ids}


def evaluate_arms(holdout: Sequence[dict], few_shot_arm: Backend, fine_tuned_arm: Backend, shot_count: int = 3, *,
                  seeds: list[dict] | None = None, fine_tuned_shot_count: int = 0,
                  fine_tuned_shots: Shots | None = None, champion_arm: Backend | None = None,
                  champion_shots: Shots | None = None, audit: AuditLog | None = None,
                  report_dir: str | Path | None = None, n_bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                  now: datetime | None = None, max_examples: int | None = None,
                  holdout_path: str | Path | None = None, promotion_rules: PromotionRules | None = None) -> EvalResult:
    """Score every arm on the holdout; write the report under `report_dir` when given.

    `fine_tuned_shots` / `champion_shots` are the worked examples of each model's own prompt recipe; None
    falls back to `fine_tuned_shot_count` shots chosen from `seeds`. The report's `promotion` is decided under
    `promotion_rules` (default `PromotionRules()`)."""
    holdout = list(holdout)[:max_examples] if max_examples else list(holdout)
    if (shot_count or (fine_tuned_shots is None and fine_tuned_shot_count)) and not seeds:
        raise ValueError("worked examples were requested but no seed examples were given")
    default_tuned = choose_shots(seeds or [], fine_tuned_shot_count, holdout) if fine_tuned_shots is None else None
    shots = {"few_shot": choose_shots(seeds or [], shot_count, holdout),
             "fine_tuned": fine_tuned_shots if fine_tuned_shots is not None else default_tuned}
    backends = {"few_shot": few_shot_arm, "fine_tuned": fine_tuned_arm}
    if champion_arm is not None:
        backends[CHAMPION] = champion_arm
        shots[CHAMPION] = champion_shots if champion_shots is not None else shots["fine_tuned"]
    for arm, backend in backends.items():  # a local model fits its worked examples to its own context
        if hasattr(backend, "fit_shots"):
            shots[arm] = _fitted(shots[arm], backend.fit_shots)
    used = {arm: shots_per_example(shots[arm], holdout) for arm in backends}  # fitted once per example
    scores = {arm: run_arm(arm, backends[arm], holdout, used[arm], audit) for arm in backends}

    indices = bootstrap_indices(len(holdout), n_bootstrap, seed)
    now = now or datetime.now(timezone.utc)
    report: dict = {"created_at": now.isoformat().replace("+00:00", "Z"), "n_examples": len(holdout),
                    "prompt_version": PROMPT_VERSION, "bootstrap": {"n_resamples": n_bootstrap, "seed": seed},
                    "holdout_path": str(holdout_path) if holdout_path else None}
    for arm in backends:
        report[arm] = {**summarize(scores[arm], indices), "model": backends[arm].label,
                       "backend": backends[arm].kind, "decoding": getattr(backends[arm], "decoding", None),
                       **_shot_summary(used[arm])}
    references = [arm for arm in backends if arm != "fine_tuned"]
    report["comparisons"] = {ref: {metric: paired_difference(scores["fine_tuned"], scores[ref], metric, indices)
                                   for metric in RATE_METRICS} for ref in references}
    report["comparison"] = report["comparisons"]["few_shot"]
    report["per_example"] = {"example_id": [e["example_id"] for e in holdout],
                             **{arm: per_example(scores[arm]) for arm in backends}}
    decision = decide_promotion(report, promotion_rules)
    report["promotion"] = decision.as_dict()
    path = None
    if report_dir is not None:
        path = Path(report_dir) / f"eval_{now.astimezone(timezone.utc):%Y%m%dT%H%M%S%fZ}.json"
        report["report_path"] = str(path)
        atomic_write_json(path, report)
    return EvalResult(report=report, report_path=path, scores=scores, decision=decision)


def comparison_table(report: dict) -> str:
    """The arms side by side as a Markdown table (rates as percentages, 95% CI in brackets)."""
    def cell(m: dict, key: str) -> str:
        value, ci = m.get(key), (m.get("ci") or {}).get(key)
        if value is None:
            return "n/a"
        return f"{value:.1%}" + (f" [{ci[0]:.1%}, {ci[1]:.1%}]" if ci else "")

    arms = [arm for arm in (*ARMS, CHAMPION) if arm in report]
    rows = ["| metric | " + " | ".join(arms) + " |", "|" + " --- |" * (len(arms) + 1),
            "| n | " + " | ".join(str(report[a]["n"]) for a in arms) + " |"]
    for key in RATE_METRICS:
        rows.append(f"| {key} | " + " | ".join(cell(report[a], key) for a in arms) + " |")
    rows.append("| model | " + " | ".join(str(report[a]["model"]) for a in arms) + " |")
    return "\n".join(rows)
