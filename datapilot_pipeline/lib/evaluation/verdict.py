"""The evaluation's outcome in one sentence a reader can act on: is the fine-tuned model better, by how much,
on how many held-out examples, and was it promoted (or which rules stopped it)."""

from __future__ import annotations


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}"


def verdict_sentence(report: dict) -> str:
    """One sentence from an evaluation report (`eval_*.json`): the evidence-accuracy comparison with few-shot
    (and the champion, when one was evaluated), its paired 95% interval, and the promotion decision."""
    tuned, few = report["fine_tuned"], report["few_shot"]
    diff = ((report.get("comparisons") or {}).get("few_shot") or report.get("comparison") or {}).get(
        "evidence_accuracy") or {}
    value, ci = diff.get("value"), diff.get("ci")
    if value is None:
        relation = "cannot be compared with few-shot on evidence accuracy"
    elif ci and ci[0] > 0:
        relation = "is better than few-shot"
    elif ci and ci[1] < 0:
        relation = "is worse than few-shot"
    else:
        relation = "is not distinguishable from few-shot"
    interval = f", 95% CI [{_points(ci[0])}, {_points(ci[1])}] points" if ci else ""
    parts = [f"The fine-tuned model {relation} on evidence accuracy ({_pct(tuned.get('evidence_accuracy'))} vs "
             f"{_pct(few.get('evidence_accuracy'))}, {_points(value)} points{interval}) on {tuned.get('n', 0)} "
             f"held-out examples"]
    if "champion" in report:
        parts.append(f" and scores {_pct(report['champion'].get('evidence_accuracy'))} for the current champion")
    promotion = report.get("promotion") or {}
    if promotion.get("promote"):
        parts.append("; it was promoted to champion.")
    else:
        failed = [rule for rule in promotion.get("rules") or [] if not rule.get("passed")]
        why = "; ".join(f"{r['name']}: {r['observed']} (needs {r.get('needs', r.get('required'))})" for r in failed)
        parts.append(f"; it was not promoted because {why}." if why else "; it was not promoted.")
    return "".join(parts)
