"""Reviewer behaviour: analysts who follow the review guidelines, each with their own habits.

Guidelines: approve grounded insights (score 4-5); edit near misses so that text, evidence and
recommendation are right (score 3-4; edited evidence is always valid); reject hallucinations, invalid
rows and generic advice (score 1-2, with the reason in the notes); skip what you cannot judge.
Reviewers differ: a lenient one edits what others reject, a strict one rejects what others edit, one
skips a lot, one sometimes misses a wrong number. Notes occasionally quote customer details from the
table (as real notes do), which is why exports are PII-masked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from datapilot_pipeline.lib.synthetic.outputs import Planned

# (approve, edit, reject, skip) by true quality, for a reviewer who follows the guidelines exactly.
POLICY = {
    "grounded": (0.88, 0.05, 0.02, 0.05),
    "missing_evidence": (0.06, 0.82, 0.07, 0.05),
    "wrong_severity": (0.12, 0.74, 0.09, 0.05),
    "imprecise_value": (0.10, 0.70, 0.15, 0.05),
    "wrong_category": (0.06, 0.36, 0.53, 0.05),
    "generic": (0.04, 0.22, 0.70, 0.04),
    "invalid_rows": (0.03, 0.30, 0.63, 0.04),
    "hallucinated": (0.03, 0.08, 0.85, 0.04),
}
ACTIONS = ("approve", "edit", "reject", "skip")


@dataclass(frozen=True)
class Reviewer:
    reviewer_id: str
    weight: float  # share of the review workload
    leniency: float = 0.0  # >0 moves rejects to edits/approvals, <0 moves edits/approvals of flawed work to rejects
    skip_factor: float = 1.0
    misses_numbers: float = 0.0  # chance of approving a wrong number without checking it
    top_score: float = 0.6  # chance an approval gets 5 rather than 4
    score_bias: float = 0.0


REVIEWERS = (
    Reviewer("analyst_jane", 0.30),
    Reviewer("analyst_omar", 0.22, leniency=0.45, top_score=0.8, score_bias=0.3),
    Reviewer("analyst_li", 0.20, leniency=-0.45, top_score=0.35, score_bias=-0.3),
    Reviewer("analyst_priya", 0.15, skip_factor=3.0),
    Reviewer("analyst_marco", 0.13, misses_numbers=0.25, top_score=0.7),
)
_REJECT_NOTES = {
    "hallucinated": "Hallucinated value: {key} is {true} in the EDA, not {claimed}.",
    "imprecise_value": "Number does not match the EDA: {key} is {true}, not {claimed}.",
    "invalid_rows": "Cites rows that do not exist (table has {n_rows} rows).",
    "generic": "Generic advice with no finding specific to this table.",
    "wrong_category": "Mislabelled: this is a {category} finding.",
    "missing_evidence": "No evidence cited; cannot verify.",
    "wrong_severity": "Severity is way off for what the data shows.",
    "grounded": "Correct but not useful for this team.",
}
_EDIT_NOTES = {
    "missing_evidence": "Added the aggregates that support the claim.",
    "wrong_severity": "Severity and priority adjusted to the actual impact.",
    "imprecise_value": "Corrected the number to the EDA value.",
    "wrong_category": "Rewrote as a {category} finding.",
    "invalid_rows": "Replaced nonexistent row references with real ones.",
    "generic": "Rewrote with the specific finding.",
    "hallucinated": "Replaced the invented figure with the real one.",
    "grounded": "Made the recommendation more concrete.",
}


def _weights(reviewer: Reviewer, quality: str) -> list[float]:
    approve, edit, reject, skip = POLICY[quality]
    if quality != "grounded" and reviewer.leniency > 0:
        moved = reject * reviewer.leniency
        reject, edit, approve = reject - moved, edit + 0.7 * moved, approve + 0.3 * moved
    elif quality != "grounded" and reviewer.leniency < 0:
        moved_a, moved_e = approve * -reviewer.leniency, edit * -reviewer.leniency * 0.6
        approve, edit, reject = approve - moved_a, edit - moved_e, reject + moved_a + moved_e
    if quality in ("hallucinated", "imprecise_value") and reviewer.misses_numbers:
        moved = reject * reviewer.misses_numbers
        reject, approve = reject - moved, approve + moved
    return [approve, edit, reject, skip * reviewer.skip_factor]


def _claimed_vs_true(planned: Planned) -> tuple[str, object, object]:
    claimed = planned.insight["evidence"].get("aggregates") or {}
    true = planned.correct["evidence"]["aggregates"]
    for key, value in claimed.items():
        if key in true and true[key] != value:
            return key, true[key], value
    key = next(iter(true), "the cited value")
    return key, true.get(key, "?"), claimed.get(key, "?")


def _edit(planned: Planned, rng: random.Random) -> dict:
    q, fix = planned.quality, planned.correct
    if q == "missing_evidence":
        return {"edited_evidence": fix["evidence"]}
    if q == "wrong_severity":
        return {"edited_recommendation": fix["recommendation"]}
    if q == "grounded":
        rec = dict(fix["recommendation"])
        rec["action"] = rec["action"].rstrip(".") + rng.choice(
            ("; owner: data engineering, due this sprint.", "; flag in the weekly ops review.",
             "; share with the finance lead before month-end close."))
        return {"edited_recommendation": rec}
    edits = {"edited_text": fix["text"], "edited_evidence": fix["evidence"]}
    if q == "generic":
        edits["edited_recommendation"] = fix["recommendation"]
    return edits


def review_item(planned: Planned, insight_id: str, reviewer: Reviewer, rng: random.Random, n_rows: int) -> dict:
    """One feedback item (approve / edit / reject / skip) for one insight."""
    action = rng.choices(ACTIONS, weights=_weights(reviewer, planned.quality))[0]
    item: dict = {"insight_id": insight_id, "action": action}
    if action == "skip":
        return item
    fmt = {"category": planned.correct["category"], "n_rows": n_rows}
    if action == "approve":
        good = planned.quality == "grounded"
        item["human_score"] = (5 if rng.random() < reviewer.top_score else 4) if good else rng.choice((3, 4))
        if rng.random() < 0.15:
            item["notes"] = rng.choice(("Checked against the source table.", "Matches what finance reported.",
                                        "Good catch.", "Useful for the weekly review."))
    elif action == "edit":
        item.update(_edit(planned, rng))
        item["human_score"] = 4 if planned.quality in ("missing_evidence", "wrong_severity", "grounded") else 3
        item["notes"] = _EDIT_NOTES[planned.quality].format(**fmt)
    else:
        key, true, claimed = _claimed_vs_true(planned)
        item["human_score"] = 2 if planned.quality in ("wrong_category", "wrong_severity", "grounded") else rng.choice((1, 1, 2))
        item["notes"] = _REJECT_NOTES[planned.quality].format(key=key, true=true, claimed=claimed, **fmt)
    return item


def overall_score(items: list[dict], reviewer: Reviewer, rng: random.Random) -> int:
    """The reviewer's 1-5 verdict on the whole output: the mean item score, nudged by temperament."""
    scores = [i["human_score"] for i in items if i.get("human_score") is not None]
    base = sum(scores) / len(scores) if scores else 3.0
    return max(1, min(5, round(base + reviewer.score_bias + rng.gauss(0, 0.45))))


def pick_reviewer(rng: random.Random, exclude: str | None = None) -> Reviewer:
    pool = [r for r in REVIEWERS if r.reviewer_id != exclude]
    return rng.choices(pool, weights=[r.weight for r in pool])[0]


def pii_snippets(eda: dict, pii_columns: list[str]) -> list[str]:
    """PII values present in the compact EDA's sample rows (what a reviewer can see and quote)."""
    found = []
    for row in eda.get("sample_rows") or []:
        for col in pii_columns:
            value = row.get("values", {}).get(col)
            if isinstance(value, str):
                found.append(value)
    return found


def add_pii(item: dict, snippets: list[str], rng: random.Random) -> None:
    """Quote a customer detail in the notes (or an edited text), as reviewers sometimes do."""
    value = rng.choice(snippets)
    if item.get("edited_text") and rng.random() < 0.4:
        item["edited_text"] = item["edited_text"].rstrip(".") + f" (one affected record: {value})."
    else:
        item["notes"] = (item.get("notes", "") + f" Customer {value} already raised this with support.").strip()
