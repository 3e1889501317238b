"""The interactive part of `datapilot review`: showing an insight and asking for one verdict on it.

Every question re-asks until the answer is valid. End of input raises `EOFError` and Ctrl-C raises
`KeyboardInterrupt`; the caller writes nothing in either case.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from datapilot_pipeline.lib.contracts import PRIORITIES, Evidence, Insight, first_error
from datapilot_pipeline.lib.evidence import evidence_problems
from datapilot_pipeline.lib.normalize import PRIORITY_SYNONYMS, normalize_evidence

ACTION_KEYS = {"a": "approve", "approve": "approve", "e": "edit", "edit": "edit",
               "r": "reject", "reject": "reject", "s": "skip", "skip": "skip"}
_SEVERITY_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold white on red"}


class Asker:
    """Reads answers from the console; `ask` returns the stripped line, `EOFError` at end of input."""

    def __init__(self, console: Console):
        self.console = console

    def ask(self, prompt: str) -> str:
        # A Text prompt: brackets such as "[a]pprove" must not be read as console markup.
        return self.console.input(Text(prompt, style="bold cyan")).strip()

    def invalid(self, message: str) -> None:
        self.console.print(Text(f"  {message}", style="red"))

    def choice(self, prompt: str, options: dict[str, str], hint: str) -> str:
        while True:
            answer = options.get(self.ask(prompt).lower())
            if answer is not None:
                return answer
            self.invalid(hint)

    def score(self, prompt: str) -> int:
        while True:
            answer = self.ask(prompt)
            if answer in {"1", "2", "3", "4", "5"}:
                return int(answer)
            self.invalid("Please answer with a whole number from 1 to 5.")

    def text(self, prompt: str, required: bool = False) -> str:
        while True:
            answer = self.ask(prompt)
            if answer or not required:
                return answer
            self.invalid("An answer is required here.")


def render_insight(console: Console, insight: Insight, position: int, total: int, eda: dict) -> None:
    """A panel per insight: category, severity, text, evidence (and whether it checks out), recommendation."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("Category", insight.category)
    table.add_row("Severity", Text(insight.severity, style=_SEVERITY_STYLE[insight.severity]))
    table.add_row("Text", Text(insight.text))
    evidence = insight.evidence.model_dump()
    table.add_row("Evidence", Text(json.dumps(evidence, ensure_ascii=False)))
    problems = evidence_problems(evidence, eda)
    check = (Text("checks out against the data", style="green") if not problems
             else Text("; ".join(problems), style="yellow"))
    table.add_row("Evidence check", check)
    rec = insight.recommendation
    table.add_row("Recommendation", Text(f"{rec.action} (priority: {rec.priority})"))
    title = Text(f"Insight {position}/{total} · {insight.id}", style="bold")
    console.print(Panel(Group(table), title=title, title_align="left", border_style="blue"))


def ask_evidence(asker: Asker, current: dict, eda: dict) -> dict | None:
    """New evidence as JSON, validated (schema) and checked (grounding: a warning only); None keeps it."""
    while True:
        answer = asker.ask("New evidence as JSON (Enter keeps the current): ")
        if not answer:
            return None
        try:
            raw = json.loads(answer)
        except json.JSONDecodeError as exc:
            asker.invalid(f"Not valid JSON ({exc.msg}, column {exc.colno}). Example: "
                          '{"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 9800}}')
            continue
        if not isinstance(raw, dict):
            asker.invalid("Evidence must be a JSON object with columns, aggregates and/or row_indices.")
            continue
        try:
            evidence = Evidence.model_validate(normalize_evidence(raw)).model_dump()
        except ValueError as exc:
            asker.invalid(f"Invalid evidence: {first_error(exc)}")
            continue
        if evidence == current:
            return None
        problems = evidence_problems(evidence, eda)
        if problems:
            asker.console.print(Text("  Warning: this evidence is not grounded: " + "; ".join(problems),
                                     style="yellow"))
        return evidence


def ask_verdict(asker: Asker, insight: Insight, eda: dict) -> dict[str, Any]:
    """One feedback item for this insight (a dict in the shape of `contracts.FeedbackItem`)."""
    action = asker.choice("[a]pprove / [e]dit / [r]eject / [s]kip: ", ACTION_KEYS,
                          "Please answer a (approve), e (edit), r (reject) or s (skip).")
    item: dict[str, Any] = {"insight_id": insight.id, "action": action}
    if action == "skip":
        return item
    if action == "reject":
        item["notes"] = asker.text("Reason for rejecting: ", required=True)
    if action == "edit":
        item.update(ask_edits(asker, insight, eda))
        if len(item) == 2:
            asker.console.print(Text("  Nothing was changed; recorded as approve.", style="yellow"))
            item["action"] = "approve"
    item["human_score"] = asker.score("Score 1-5: ")
    return item


def ask_edits(asker: Asker, insight: Insight, eda: dict) -> dict[str, Any]:
    """The fields the reviewer changed: edited_text, edited_evidence, edited_recommendation."""
    edits: dict[str, Any] = {}
    text = asker.text("New text (Enter keeps the current): ")
    if text and text != insight.text:
        edits["edited_text"] = text
    evidence = ask_evidence(asker, insight.evidence.model_dump(), eda)
    if evidence is not None:
        edits["edited_evidence"] = evidence
    rec = insight.recommendation
    action = asker.text("New recommended action (Enter keeps the current): ") or rec.action
    priorities = {p: p for p in PRIORITIES} | PRIORITY_SYNONYMS | {"": rec.priority}
    priority = asker.choice(f"Priority low/medium/high (Enter keeps {rec.priority}): ", priorities,
                            "Please answer low, medium or high (or Enter to keep it).")
    if (action, priority) != (rec.action, rec.priority):
        edits["edited_recommendation"] = {"action": action, "priority": priority}
    return edits
