"""`datapilot review` driven through stdin: verdicts written once, bad input one line, interruptions write nothing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.cli._review_ui import Asker
from datapilot_pipeline.lib.feedback.inbox import read_feedback_file
from datapilot_pipeline_tests.feedback_fixtures import JOB_ID, job_result, write_job

# Reviewer, then i1..i4 (each with notes), the overall score and the confirmation, with invalid answers along the way.
FULL_SESSION = "\n".join([
    "jane",
    "a", "", "5",                                   # i1 approve, no notes
    "e", "Revenue tracks units.",                   # i2 edit: text
    '{"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": "50,000"}}',  # ungrounded: re-prompted
    "k", "Max taken from the raw export",           # keep it, with a reason
    "", "medium", "", "4",                          # keep the action, change the priority, no notes, score
    "maybe", "r", "", "Made up maximum", "9", "1",   # i3: bad action, empty reason, bad score
    "s", "looked fine",                             # i4 skip, with a note
    "4",                                            # overall
    "y",                                            # write it
]) + "\n"


def _run_cli(home: Path, args: list[str], stdin: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DATAPILOT_HOME": str(home), "COLUMNS": "100"}
    full_env.pop("DATAPILOT_REVIEWER", None)
    return subprocess.run([sys.executable, "-m", "datapilot_pipeline", "review", *args], input=stdin,
                          capture_output=True, text=True, env=full_env, timeout=60)


def _inbox_files(home: Path) -> list[Path]:
    inbox = home / "feedback_inbox"
    return sorted(inbox.iterdir()) if inbox.exists() else []


def test_a_full_review_through_stdin_writes_one_feedback_file(home: Path):
    job = write_job(home / "job.json")
    proc = _run_cli(home, [JOB_ID, str(job)], FULL_SESSION)
    assert proc.returncode == 0, proc.stderr
    [path] = _inbox_files(home)
    assert f"Feedback written to {path}" in proc.stdout
    assert "Please answer a (approve), e (edit), r (reject), s (skip), b (back) or q (quit)." in proc.stdout
    assert "An answer is required here." in proc.stdout
    assert "Please answer with a whole number from 1 to 5." in proc.stdout
    assert "This evidence does not check out against the data" in proc.stdout
    assert '"aggregates": {"/columns/revenue/stats/max": 9800.0}' in proc.stdout  # the current evidence, shown
    assert "Insight 4/4" in proc.stdout and "Audit order 3 for a data-entry error." in proc.stdout

    feedback = read_feedback_file(path)
    assert (feedback.job_id, feedback.reviewer_id, feedback.overall_score) == (JOB_ID, "jane", 4)
    assert (feedback.model, feedback.variant) == ("fewshot-base", "few_shot")
    approve, edit, reject, skip = feedback.items
    assert (approve.action, approve.human_score) == ("approve", 5)
    assert (edit.action, edit.human_score, edit.edited_text) == ("edit", 4, "Revenue tracks units.")
    assert edit.edited_evidence == {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 50000},
                                    "row_indices": []}
    assert edit.edited_recommendation == {"action": "Report revenue per unit.", "priority": "medium"}
    assert edit.notes == "evidence kept although it fails the check: Max taken from the raw export"
    assert (reject.action, reject.human_score, reject.notes) == ("reject", 1, "Made up maximum")
    assert (skip.action, skip.human_score, skip.notes) == ("skip", None, "looked fine")


@pytest.mark.parametrize("cut", [1, 3, 9, FULL_SESSION.count("\n") - 1])
def test_end_of_input_mid_review_writes_nothing(home: Path, cut: int):
    job = write_job(home / "job.json")
    partial = "".join(FULL_SESSION.splitlines(keepends=True)[:cut])
    proc = _run_cli(home, [JOB_ID, str(job)], partial)
    assert proc.returncode == 2
    assert proc.stderr == "datapilot: error: input ended before the review was complete; nothing was written\n"
    assert _inbox_files(home) == []


def _main(monkeypatch: pytest.MonkeyPatch, argv: list[str], answers: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(answers))
    return main(["review", *argv])


def test_in_process_with_reviewer_from_env_and_evidence_re_prompts(home, monkeypatch, capsys):
    monkeypatch.setenv("DATAPILOT_REVIEWER", "analyst_env")
    job = write_job(home / "job.json")
    answers = "\n".join([
        "s", "", "s", "", "s", "",
        "edit", "",                                      # i4: keep the text
        "{not json", "[1, 2]", '{"row_indices": ["x"]}', '{"colums": []}',  # four invalid evidence answers
        '{"columns": ["region"], "row_indices": ["9", 2, 2]}',
        "Drop rows 2 and 9.", "asap", "Urgent", "", "3", "2", "y",
    ]) + "\n"
    assert _main(monkeypatch, [JOB_ID, str(job), "--inbox", str(home / "elsewhere")], answers) == 0
    out = capsys.readouterr().out
    assert "Reviewer id:" not in out
    assert out.count("Not valid JSON") == 1 and out.count("Evidence must be a JSON object") == 1
    assert out.count("Invalid evidence: row_indices.0") == 1 and out.count("Invalid evidence: colums") == 1
    assert "Please answer low, medium or high" in out and "does not check out" not in out
    [path] = sorted((home / "elsewhere").iterdir())
    feedback = read_feedback_file(path)
    assert feedback.reviewer_id == "analyst_env" and feedback.overall_score == 2
    item = feedback.items[3]
    assert item.edited_text is None
    assert item.edited_evidence == {"columns": ["region"], "aggregates": {}, "row_indices": [2, 9]}
    assert item.edited_recommendation == {"action": "Drop rows 2 and 9.", "priority": "high"}
    assert _inbox_files(home) == []


def test_q_quits_and_writes_nothing(home, monkeypatch, capsys):
    job = write_job(home / "job.json")
    assert _main(monkeypatch, [JOB_ID, str(job), "--reviewer", "jo"], "a\n\n5\nq\n") == 0
    assert f"Quit; nothing was written for {JOB_ID}." in capsys.readouterr().out
    assert _inbox_files(home) == []


def test_an_edit_that_changes_nothing_is_recorded_as_approve(home, monkeypatch, capsys):
    job = write_job(home / "job.json", job_id=None)  # a file without job_id takes the command line's
    answers = "bad id!\nanalyst_kim\n" + "e\n\n\n\n\n\n5\n" + "s\n\n" * 3 + "3\ny\n"
    assert _main(monkeypatch, ["job_from_cli", str(job)], answers) == 0
    out = capsys.readouterr().out
    assert "Use 1-128 letters" in out and "Nothing was changed; recorded as approve." in out
    [path] = _inbox_files(home)
    feedback = read_feedback_file(path)
    assert feedback.job_id == "job_from_cli" and feedback.reviewer_id == "analyst_kim"
    assert (feedback.items[0].action, feedback.items[0].human_score) == ("approve", 5)


def test_ctrl_c_exits_130_and_writes_nothing(home, monkeypatch, capsys):
    job = write_job(home / "job.json")
    answers = iter(["a", "", "5", "a"])

    def ask(self, prompt):
        try:
            return next(answers)
        except StopIteration:
            raise KeyboardInterrupt from None

    monkeypatch.setattr(Asker, "ask", ask)
    assert main(["review", JOB_ID, str(job), "--reviewer", "jane"]) == 130
    assert capsys.readouterr().err == "datapilot: interrupted; nothing was written\n"
    assert _inbox_files(home) == []


def _write(path: Path, content) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


@pytest.mark.parametrize(
    ("argv", "make", "phrase"),
    [
        ([JOB_ID, "{job}"], lambda p: _write(p, job_result("job_other")), "holds job 'job_other', not 'job_sales_001'"),
        ([JOB_ID, "{job}"], lambda p: _write(p, b"{oops"), "malformed JSON"),
        ([JOB_ID, "{job}"], lambda p: _write(p, b"\xff\xfe{}"), "not UTF-8"),
        ([JOB_ID, "{job}"], lambda p: _write(p, [1]), "top level is a JSON list"),
        ([JOB_ID, "{job}"], lambda p: _write(p, {**job_result(), "llm_output": {"insights": []}}), "llm_output.insights"),
        ([JOB_ID, "{job}"], lambda p: _write(p, {**job_result(), "variant": "zero_shot"}), "variant"),
        ([JOB_ID, "{job}"], lambda p: _write(p, {k: v for k, v in job_result().items() if k != "compact_eda"}),
         "compact_eda"),
        (["../etc", "{job}"], lambda p: _write(p, job_result()), "JOB_ID '../etc'"),
        ([JOB_ID, "{job}", "--reviewer", "a/b"], lambda p: _write(p, job_result()), "reviewer id 'a/b'"),
        ([JOB_ID, "{missing}"], lambda p: _write(p, job_result()), "no such file"),
        ([JOB_ID], lambda p: _write(p, job_result()), "required"),
        ([JOB_ID, "{job}", "--reviewer", "jane", "--inbox", "{job}"], lambda p: _write(p, job_result()),
         "is a file; give the folder feedback files go to"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(home, monkeypatch, capsys, argv, make, phrase):
    job = make(home / "job.json")
    argv = [a.format(job=job, missing=home / "missing.json") for a in argv]
    monkeypatch.setattr(sys, "stdin", io.StringIO("s\n" * 4 + "3\n"))
    try:
        code = main(["review", *argv])
    except SystemExit as exc:  # argparse reports its own usage errors by exiting
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("datapilot") and phrase in err, err
    assert _inbox_files(home) == []
