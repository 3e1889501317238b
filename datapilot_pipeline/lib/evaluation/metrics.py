"""Evaluation metrics, exactly as DESIGN.md defines them, as rates in [0, 1].

- schema pass rate: outputs that parse as JSON, normalize and validate / all outputs;
- evidence accuracy: valid-evidence insights / all insights of schema-passing outputs (the same
  `lib.evidence.check_output` rule as validation); None when no output passed the schema, since
  the ratio is then undefined rather than zero;
- evidence coverage: insights whose evidence cites at least one aggregate (a number) / all insights of
  schema-passing outputs; a guardrail beside evidence accuracy, None when no output passed the schema;
- text grounding: numbers stated in the insight texts that the compact EDA holds / all stated numbers,
  over schema-passing outputs (`lib.grounding`); None when no such output states a number;
- BLEU (sacrebleu, mean sentence BLEU / 100) and ROUGE-L F1 (rouge-score) of the output's content against
  the reference's: the insight texts and recommendation actions, one per line, in order. The JSON
  skeleton is left out (it made outputs for different tables score BLEU 0.54); an output that does not
  parse has no content and scores 0;
- a per-category breakdown of evidence accuracy, and seeded percentile-bootstrap confidence
  intervals that resample holdout examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from datapilot_pipeline.lib.evidence import check_output
from datapilot_pipeline.lib.grounding import ground_texts
from datapilot_pipeline.lib.normalize import parse_output_text

RATE_METRICS = ("schema_pass_rate", "evidence_accuracy", "evidence_coverage", "text_grounding", "bleu", "rouge_l")
DEFAULT_BOOTSTRAP = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class ExampleScore:
    """The scores of one model output for one holdout example."""

    example_id: str
    schema_pass: bool
    n_insights: int  # counted only when the output passed the schema
    n_valid_evidence: int
    bleu: float
    rouge_l: float
    error: str | None = None
    n_numbers: int = 0  # numbers stated in the insight texts of a schema-passing output
    n_grounded: int = 0
    n_citing_number: int = 0  # insights of a schema-passing output whose evidence cites an aggregate
    # (category, evidence is valid) for every insight of a schema-passing output
    insight_categories: tuple[tuple[str, bool], ...] = field(default_factory=tuple)


def content_text(output: object) -> str:
    """The words of an output: each insight's text and recommendation action, one per line, in order."""
    insights = output.get("insights") if isinstance(output, dict) else None
    lines: list[str] = []
    for insight in insights if isinstance(insights, list) else []:
        if not isinstance(insight, dict):
            continue
        recommendation = insight.get("recommendation")
        action = recommendation.get("action") if isinstance(recommendation, dict) else None
        lines.extend(str(v).strip() for v in (insight.get("text"), action) if isinstance(v, str) and v.strip())
    return "\n".join(lines)


def comparable_text(raw: str) -> str:
    """The content (`content_text`) of a parsable output; empty when it does not parse."""
    try:
        return content_text(parse_output_text(raw))
    except ValueError:
        return ""


def bleu_rate(hypothesis: str, reference: str) -> float:
    from sacrebleu import sentence_bleu

    # sacrebleu reports 0-100 and can overshoot 100 by one ulp (exp of a float log sum)
    return min(1.0, sentence_bleu(hypothesis, [reference]).score / 100.0)


_ROUGE = None


def rouge_l_rate(hypothesis: str, reference: str) -> float:
    global _ROUGE
    if _ROUGE is None:
        from rouge_score.rouge_scorer import RougeScorer

        _ROUGE = RougeScorer(["rougeL"], use_stemmer=False)
    return float(_ROUGE.score(reference, hypothesis)["rougeL"].fmeasure)


def score_example(example_id: str, raw: str, compact_eda: dict, reference_output: dict) -> ExampleScore:
    """Score one raw model reply against the example's compact EDA and reference output."""
    check = check_output(raw, compact_eda)
    hypothesis, reference = comparable_text(raw), content_text(reference_output)
    categories: tuple[tuple[str, bool], ...] = ()
    grounding = None
    if check.schema_pass and check.output is not None:
        categories = tuple((i.category, i.id not in check.insight_problems) for i in check.output.insights)
        grounding = ground_texts([i.text for i in check.output.insights], compact_eda)
    return ExampleScore(
        example_id=example_id, schema_pass=check.schema_pass, n_insights=check.n_insights,
        n_valid_evidence=check.n_valid_evidence, bleu=bleu_rate(hypothesis, reference) if hypothesis else 0.0,
        rouge_l=rouge_l_rate(hypothesis, reference) if hypothesis else 0.0, error=check.error,
        insight_categories=categories, n_numbers=grounding.n_numbers if grounding else 0,
        n_grounded=grounding.n_grounded if grounding else 0,
        n_citing_number=check.n_citing_number if check.schema_pass else 0,
    )


def _point(scores: Sequence[ExampleScore]) -> dict[str, float | None]:
    n = len(scores)
    if n == 0:
        return {m: None for m in RATE_METRICS}
    insights = sum(s.n_insights for s in scores if s.schema_pass)
    valid = sum(s.n_valid_evidence for s in scores if s.schema_pass)
    numbers = sum(s.n_numbers for s in scores)
    citing = sum(s.n_citing_number for s in scores if s.schema_pass)
    return {
        "schema_pass_rate": sum(s.schema_pass for s in scores) / n,
        "evidence_accuracy": valid / insights if insights else None,
        "evidence_coverage": citing / insights if insights else None,
        "text_grounding": sum(s.n_grounded for s in scores) / numbers if numbers else None,
        "bleu": float(np.mean([s.bleu for s in scores])),
        "rouge_l": float(np.mean([s.rouge_l for s in scores])),
    }


def bootstrap_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n) indices of seeded resamples with replacement; shared so arms can be paired."""
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def percentile_ci(values: np.ndarray, confidence: float = CONFIDENCE) -> list[float] | None:
    """Percentile interval of the finite draws (NaN marks a resample where the metric is undefined)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return [float(lo), float(hi)]


def _ratio(numerator: np.ndarray, denominator: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """sum(numerator) / sum(denominator) on every resample; NaN where the denominator sums to 0."""
    total = denominator[indices].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, numerator[indices].sum(axis=1) / total, np.nan)


def _resampled(scores: Sequence[ExampleScore], indices: np.ndarray) -> dict[str, np.ndarray]:
    """Every rate metric on every resample (one row of `indices` each); NaN where undefined."""
    passed = np.array([s.schema_pass for s in scores], dtype=float)
    insights = np.array([s.n_insights if s.schema_pass else 0 for s in scores], dtype=float)
    valid = np.array([s.n_valid_evidence if s.schema_pass else 0 for s in scores], dtype=float)
    return {
        "schema_pass_rate": passed[indices].mean(axis=1),
        "evidence_accuracy": _ratio(valid, insights, indices),
        "evidence_coverage": _ratio(np.array([s.n_citing_number if s.schema_pass else 0 for s in scores], dtype=float),
                                    insights, indices),
        "text_grounding": _ratio(np.array([s.n_grounded for s in scores], dtype=float),
                                 np.array([s.n_numbers for s in scores], dtype=float), indices),
        "bleu": np.array([s.bleu for s in scores])[indices].mean(axis=1),
        "rouge_l": np.array([s.rouge_l for s in scores])[indices].mean(axis=1),
    }


def bootstrap_cis(scores: Sequence[ExampleScore], indices: np.ndarray) -> dict[str, list[float] | None]:
    """Percentile CI of every rate metric over the given resamples of the examples."""
    if not scores or indices.size == 0:
        return {m: None for m in RATE_METRICS}
    draws = _resampled(scores, indices)
    return {m: percentile_ci(draws[m]) for m in RATE_METRICS}


def per_category(scores: Sequence[ExampleScore]) -> dict[str, dict[str, float | int]]:
    """Evidence accuracy per insight category over schema-passing outputs."""
    counts: dict[str, list[int]] = {}
    for score in scores:
        for category, valid in score.insight_categories:
            tally = counts.setdefault(category, [0, 0])
            tally[0] += 1
            tally[1] += int(valid)
    return {c: {"n_insights": n, "n_valid_evidence": v, "evidence_accuracy": v / n}
            for c, (n, v) in sorted(counts.items())}


def summarize(scores: Sequence[ExampleScore], indices: np.ndarray | None = None,
              n_resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict:
    """The report entry M of one arm: `n`, the four rates, `ci` per rate, `per_category`, failures."""
    if indices is None:
        indices = bootstrap_indices(len(scores), n_resamples, seed)
    metrics = _point(scores)
    return {
        "n": len(scores),
        **metrics,
        "n_schema_pass": sum(s.schema_pass for s in scores),
        "n_insights": sum(s.n_insights for s in scores if s.schema_pass),
        "n_valid_evidence": sum(s.n_valid_evidence for s in scores if s.schema_pass),
        "n_citing_number": sum(s.n_citing_number for s in scores if s.schema_pass),
        "n_numbers": sum(s.n_numbers for s in scores), "n_grounded": sum(s.n_grounded for s in scores),
        "ci": bootstrap_cis(scores, indices),
        "confidence": CONFIDENCE,
        "per_category": per_category(scores),
        "schema_errors": {s.example_id: s.error for s in scores if not s.schema_pass},
    }


def paired_difference(treatment: Sequence[ExampleScore], control: Sequence[ExampleScore], metric: str,
                      indices: np.ndarray) -> dict:
    """treatment - control for one metric on the same holdout examples, with a paired bootstrap CI."""
    if [s.example_id for s in treatment] != [s.example_id for s in control]:
        raise ValueError("a paired difference needs both arms scored on the same examples in the same order")
    point_t, point_c = _point(treatment)[metric], _point(control)[metric]
    value = None if point_t is None or point_c is None else point_t - point_c
    ci = None
    if treatment and indices.size:
        ci = percentile_ci(_resampled(treatment, indices)[metric] - _resampled(control, indices)[metric])
    return {"value": value, "ci": ci, "confidence": CONFIDENCE}
