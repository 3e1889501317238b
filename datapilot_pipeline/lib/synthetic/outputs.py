"""LLM-style outputs: grounded insights mixed with the failure modes reviewers see in production.

Each generated insight carries its true quality (`Planned.quality`) and the grounded version it was
derived from (`Planned.correct`), neither of which is part of the output; reviews read them.
Qualities: grounded; near misses (missing_evidence, wrong_severity, imprecise_value, wrong_category);
failures (generic, invalid_rows, hallucinated).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from datapilot_pipeline.lib.contracts import CATEGORIES, SEVERITIES
from datapilot_pipeline.lib.synthetic.drafts import Draft, rows_text

QUALITIES = ("grounded", "missing_evidence", "wrong_severity", "imprecise_value", "wrong_category",
             "generic", "invalid_rows", "hallucinated")
NEAR_MISSES = frozenset({"missing_evidence", "wrong_severity", "imprecise_value", "wrong_category"})
# Share of each quality per variant: the fine-tuned model is grounded more often (the A/B effect).
QUALITY_MIX = {
    "few_shot": (0.48, 0.08, 0.07, 0.06, 0.05, 0.10, 0.06, 0.10),
    "fine_tuned": (0.66, 0.06, 0.05, 0.04, 0.03, 0.05, 0.04, 0.07),
}
_PRIORITY_OF = {"low": "low", "medium": "medium", "high": "high", "critical": "high"}
_GENERIC_TEXTS = (
    "The {col} column may contain some unusual values that could be worth a closer look.",
    "Data quality in {col} could be improved to support better decisions.",
    "There appear to be some patterns in {col} that may be relevant to the business.",
    "Overall the dataset looks reasonable, but {col} should be monitored over time.",
)
_GENERIC_ACTIONS = ("Monitor the data regularly and investigate anomalies.", "Consider further analysis.",
                    "Review the data with stakeholders.", "Improve data collection processes.")


@dataclass(frozen=True)
class Planned:
    """One generated insight (`insight`, as the model wrote it) with its hidden ground truth."""

    insight: dict
    quality: str
    correct: dict  # the grounded insight it derives from: text, evidence, recommendation, category, severity


def _insight(draft: Draft, text: str, evidence: dict, category: str | None = None, severity: str | None = None,
             action: str | None = None, priority: str | None = None) -> dict:
    return {"category": category or draft.category, "severity": severity or draft.severity, "text": text,
            "evidence": evidence, "recommendation": {"action": action or draft.action,
                                                     "priority": priority or draft.priority}}


def _perturb(rng: random.Random, draft: Draft, low: float, high: float) -> dict[str, float]:
    """The draft's aggregates with one value off by a relative error in [low, high] (either sign)."""
    aggs = dict(draft.aggregates)
    key = rng.choice(sorted(aggs))
    true = aggs[key]
    err = rng.uniform(low, high) * rng.choice((-1, 1))
    value = true * (1 + err) if true else rng.uniform(3, 40)
    if isinstance(true, int) and not isinstance(true, bool):
        value = int(round(value)) if round(value) != true else true + max(1, abs(true) // 5 or 1)
    else:
        value = round(value, 4 if abs(value) < 1 else 2)
    aggs[key] = value
    return aggs


def render(draft: Draft, quality: str, rng: random.Random, eda: dict) -> Planned:
    """Write one insight of `quality` from a grounded draft."""
    pick = rng.choice(draft.texts)
    correct = _insight(draft, pick(draft.aggregates), draft.evidence())
    n_rows = eda["dataset"]["n_rows"]
    if quality == "grounded":
        out = correct
    elif quality == "missing_evidence":
        out = _insight(draft, correct["text"], {"columns": list(draft.columns) or [next(iter(eda["columns"]))]})
    elif quality == "wrong_severity":
        wrong = rng.choice([s for s in SEVERITIES if abs(SEVERITIES.index(s) - SEVERITIES.index(draft.severity)) >= 2]
                           or [s for s in SEVERITIES if s != draft.severity])
        out = _insight(draft, correct["text"], draft.evidence(), severity=wrong, priority=_PRIORITY_OF[wrong])
    elif quality == "wrong_category":
        wrong = rng.choice([c for c in CATEGORIES if c != draft.category])
        out = _insight(draft, correct["text"], draft.evidence(), category=wrong)
    elif quality in ("imprecise_value", "hallucinated"):
        low, high = (0.015, 0.04) if quality == "imprecise_value" else (0.08, 0.6)
        aggs = _perturb(rng, draft, low, high)
        out = _insight(draft, pick(aggs), draft.evidence(aggregates=aggs))
    elif quality == "invalid_rows":
        bad = tuple(sorted({n_rows + rng.randint(0, 40), n_rows * rng.randint(2, 9) + rng.randint(0, 99)}))
        rows = tuple(sorted(set(draft.rows[:2]) | set(bad)))
        text = correct["text"].rstrip(".") + f"; see rows {rows_text(rows)}."
        out = _insight(draft, text, draft.evidence(rows=rows))
    elif quality == "generic":
        col = rng.choice(list(draft.columns) or list(eda["columns"]))
        evidence = {"columns": [col]} if rng.random() < 0.5 else {"columns": [col], "aggregates": {"row_count": n_rows}}
        out = _insight(draft, rng.choice(_GENERIC_TEXTS).format(col=col), evidence,
                       action=rng.choice(_GENERIC_ACTIONS), priority=rng.choice(("low", "medium")))
    else:
        raise ValueError(f"unknown insight quality {quality!r}")
    return Planned(out, quality, correct)


def plan_output(drafts: list[Draft], variant: str, rng: random.Random, eda: dict) -> list[Planned]:
    """3 to 7 insights (fewer when the table supports fewer) with qualities drawn for the variant."""
    k = min(len(drafts), rng.randint(3, 7))
    chosen = rng.sample(drafts, k)
    qualities = rng.choices(QUALITIES, weights=QUALITY_MIX[variant], k=k)
    return [render(d, q, rng, eda) for d, q in zip(chosen, qualities)]


def llm_output(planned: list[Planned], dataset: str) -> dict:
    """The output as the model returned it: ids i1..iN and a one-line summary."""
    insights = [{"id": f"i{n}", **p.insight} for n, p in enumerate(planned, start=1)]
    cats = sorted({i["category"] for i in insights})
    summary = f"{len(insights)} findings on {dataset}, covering {', '.join(cats)}."
    return {"insights": insights, "summary": summary}
