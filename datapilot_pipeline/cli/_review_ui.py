"""The interactive part of `datapilot review`: showing an insight and asking for one verdict on it.

Every question re-asks until the answer is valid. End of input raises `EOFError`, Ctrl-C raises
`KeyboardInterrupt` and `q` at the action prompt raises `QuitReview`; the caller writes nothing for the job in
progress in any of these cases. `b` at the action prompt returns `BACK` (the caller shows the previous insight
again). Approving an insight whose evidence fails the check asks for a confirmation first: export drops it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from datapilot_pipeline.lib.contracts import PRIORITIES, Evidence, Insight, first_error
from datapilot_pipeline.lib.evidence import evidence_problems
from datapilot_pipeline.lib.normalize import PRIORITY_SYNONYMS, normalize_evidence

ACTION_KEYS = {"a": "approve", "approve": "approve", "e": "edit", "edit": "edit",
               "r": "reject", "reject": "reject", "s": "skip", "skip": "skip", "b": "back", "back": "back",
               "q": "quit", "quit": "quit"}
BACK = "back"
YES_NO = {"y": "yes", "yes": "yes", "n": "no", "no": "no"}
UNGROUNDED_CHOICES = {"f": "fix", "fix": "fix", "k": "keep", "keep": "keep", "c": "cancel", "cancel": "cancel"}
_SEVERITY_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold white on red"}


class QuitReview(Exception):
    """The reviewer pressed q: stop here, write nothing for the job in progress (exit 0)."""


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

    def score(self, prompt: str, allow_back: bool = False) -> int | str:
        while True:
            answer = self.ask(prompt)
            if answer in {"1", "2", "3", "4", "5"}:
                return int(answer)
            if allow_back and answer.lower() in {"b", "back"}:
                return BACK
            self.invalid("Please answer with a whole number from 1 to 5" + (" (or b to go back)." if allow_back else "."))

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


def _edit_in_editor(text: str) -> str | None:
    """The text after the reviewer edited it in $VISUAL/$EDITOR; None when no editor applies (no terminal)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor or not sys.stdin.isatty():
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="evidence_", delete=False, encoding="utf-8") as fh:
        fh.write(text + "\n")
    try:
        subprocess.run([*shlex.split(editor), fh.name], check=False)
        with open(fh.name, encoding="utf-8") as edited:
            return edited.read().strip()
    finally:
        os.unlink(fh.name)


def _parse_evidence(asker: Asker, answer: str) -> dict | None:
    """Schema-valid, normalized evidence from the reviewer's JSON; None (after saying why) when it is not."""
    try:
        raw = json.loads(answer)
    except json.JSONDecodeError as exc:
        asker.invalid(f"Not valid JSON ({exc.msg}, column {exc.colno}). Example: "
                      '{"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 9800}}')
        return None
    if not isinstance(raw, dict):
        asker.invalid("Evidence must be a JSON object with columns, aggregates and/or row_indices.")
        return None
    try:
        return Evidence.model_validate(normalize_evidence(raw)).model_dump()
    except ValueError as exc:
        asker.invalid(f"Invalid evidence: {first_error(exc)}")
        return None


def ask_evidence(asker: Asker, current: dict, eda: dict) -> tuple[dict | None, str | None]:
    """(new evidence or None to keep the current, a reason when the reviewer keeps ungrounded evidence).

    The current evidence is pre-filled: opened in $VISUAL/$EDITOR on a terminal, else shown above the prompt.
    Evidence that fails the check re-prompts: [f]ix it, [k]eep it with a reason, or [c]ancel the change."""
    draft, label = current, "Current evidence"
    while True:
        answer = _edit_in_editor(json.dumps(draft, indent=2, ensure_ascii=False))
        if answer is None:
            asker.console.print(Text(f"  {label}: {json.dumps(draft, ensure_ascii=False)}", style="dim"),
                                 soft_wrap=True)
            answer = asker.ask("New evidence as JSON (Enter keeps the current): ")
        if not answer:
            return None, None
        evidence = _parse_evidence(asker, answer)
        if evidence is None:
            continue
        if evidence == current:
            return None, None
        problems = evidence_problems(evidence, eda)
        if not problems:
            return evidence, None
        asker.console.print(Text("  This evidence does not check out against the data: " + "; ".join(problems)
                                 + ". Export drops insights whose evidence fails the check.", style="yellow"))
        choice = asker.choice("[f]ix it / [k]eep it with a reason / [c]ancel the evidence change: ",
                              UNGROUNDED_CHOICES, "Please answer f (fix), k (keep) or c (cancel).")
        if choice == "cancel":
            return None, None
        if choice == "keep":
            return evidence, asker.text("Why keep it? ", required=True)
        draft, label = evidence, "Your last answer (Enter keeps the original evidence)"


def _describe(item: dict) -> str:
    score = f", score {item['human_score']}" if item.get("human_score") else ""
    return f"{item['action']}{score}" + (f", notes: {item['notes']}" if item.get("notes") else "")


def ask_verdict(asker: Asker, insight: Insight, eda: dict, previous: dict | None = None,
                can_go_back: bool = False) -> dict[str, Any] | str:
    """One feedback item for this insight (a dict in the shape of `contracts.FeedbackItem`), or `BACK`.
    With a `previous` verdict (the reviewer came back here), Enter keeps it."""
    keys = dict(ACTION_KEYS)
    hint = ("Please answer a (approve), e (edit), r (reject), s (skip), b (back) or q (quit)." if can_go_back
            else "Please answer a (approve), e (edit), r (reject), s (skip) or q (quit).")
    if previous is not None:
        asker.console.print(Text(f"  Your verdict so far: {_describe(previous)} (Enter keeps it)", style="dim"))
        keys[""] = "keep"
    if not can_go_back:
        keys = {k: v for k, v in keys.items() if v != BACK}
    prompt = "[a]pprove / [e]dit / [r]eject / [s]kip" + (" / [b]ack" if can_go_back else "") + " / [q]uit: "
    action = asker.choice(prompt, keys, hint)
    if action == "quit":
        raise QuitReview
    if action == BACK:
        return BACK
    if action == "approve" and not _confirm_approval(asker, insight, eda):
        return ask_verdict(asker, insight, eda, previous, can_go_back)
    if action == "keep":
        return previous
    item: dict[str, Any] = {"insight_id": insight.id, "action": action}
    if action == "reject":
        item["notes"] = asker.text("Reason for rejecting: ", required=True)
    elif action == "edit":
        edits, kept_reason = ask_edits(asker, insight, eda)
        item.update(edits)
        if len(item) == 2:
            asker.console.print(Text("  Nothing was changed; recorded as approve.", style="yellow"))
            item["action"] = "approve"
        if kept_reason:
            item["notes"] = f"evidence kept although it fails the check: {kept_reason}"
    if action != "reject":
        notes = asker.text("Notes (Enter for none): ")
        if notes:
            item["notes"] = f"{item['notes']}; {notes}" if item.get("notes") else notes
    if action != "skip":
        item["human_score"] = asker.score("Score 1-5: ")
    return item


def _confirm_approval(asker: Asker, insight: Insight, eda: dict) -> bool:
    """True when the insight's evidence checks out, or the reviewer approves it anyway after the warning."""
    problems = evidence_problems(insight.evidence.model_dump(), eda)
    if not problems:
        return True
    asker.console.print(Text(f"  Warning: this insight's evidence does not check out against the data ("
                             f"{'; '.join(problems)}). Export drops insights whose evidence fails the check, so an "
                             f"approval trains nothing; [e]dit can fix the evidence.", style="yellow"))
    return asker.choice("Approve it anyway? [y]es / [n]o, choose again: ", YES_NO,
                        "Please answer y (approve anyway) or n (choose again).") == "yes"


def ask_edits(asker: Asker, insight: Insight, eda: dict) -> tuple[dict[str, Any], str | None]:
    """The fields the reviewer changed (edited_text, edited_evidence, edited_recommendation) and the reason
    given for keeping evidence that fails the check (None otherwise)."""
    edits: dict[str, Any] = {}
    text = asker.text("New text (Enter keeps the current): ")
    if text and text != insight.text:
        edits["edited_text"] = text
    evidence, kept_reason = ask_evidence(asker, insight.evidence.model_dump(), eda)
    if evidence is not None:
        edits["edited_evidence"] = evidence
    rec = insight.recommendation
    action = asker.text("New recommended action (Enter keeps the current): ") or rec.action
    priorities = {p: p for p in PRIORITIES} | PRIORITY_SYNONYMS | {"": rec.priority}
    priority = asker.choice(f"Priority low/medium/high (Enter keeps {rec.priority}): ", priorities,
                            "Please answer low, medium or high (or Enter to keep it).")
    if (action, priority) != (rec.action, rec.priority):
        edits["edited_recommendation"] = {"action": action, "priority": priority}
    return edits, kept_reason
