"""`datapilot review --queue`: five job results reviewed through stdin, resumed after Ctrl-C, re-prompted on
ungrounded evidence, in the documented order, with the overlap rule deciding who sees a job twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from datapilot_pipeline import FeedbackCollector
from datapilot_pipeline.lib.feedback.inbox import read_feedback_file
from datapilot_pipeline.lib.feedback.review_queue import build_queue, in_overlap_share
from datapilot_pipeline_tests.feedback_fixtures import job_result

# job id -> insights kept from the fixture (i1, i2 grounded; i3, i4 fail the evidence check)
JOBS = {"job_a": ["i1", "i2"], "job_b": ["i1", "i3"], "job_c": ["i1", "i2", "i3", "i4"], "job_d": ["i2"],
        "job_e": ["i3", "i4"]}
ORDER = ["job_c", "job_e", "job_b", "job_a", "job_d"]  # most failing evidence first, then oldest


def _write_jobs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, (job_id, keep) in enumerate(JOBS.items()):
        job = job_result(job_id)
        job["created_at"] = f"2026-11-2{n}T09:00:00Z"
        job["llm_output"]["insights"] = [i for i in job["llm_output"]["insights"] if i["id"] in keep]
        (folder / f"{job_id}.json").write_text(json.dumps(job), encoding="utf-8")
    (folder / "broken.json").write_text("{oops", encoding="utf-8")
    return folder


FAILING = {"i3", "i4"}  # approving these asks "approve anyway?" first


def _approve_all(job_id: str, score: str = "4") -> list[str]:
    return [line for i in JOBS[job_id] for line in (("a", "y") if i in FAILING else ("a",)) + ("", score)] \
        + [score, "y"]


def _cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "datapilot_pipeline", "review", "--queue", str(home / "jobs"), *args]


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "DATAPILOT_HOME": str(home), "COLUMNS": "120"}
    env.pop("DATAPILOT_REVIEWER", None)
    env.pop("EDITOR", None)
    env.pop("VISUAL", None)
    return env


def _feedback(home: Path) -> dict[str, object]:
    inbox = home / "feedback_inbox"
    files = sorted(inbox.glob("feedback_*.json")) if inbox.exists() else []
    return {fb.job_id: fb for fb in map(read_feedback_file, files)}


def test_five_jobs_through_stdin_with_back_reprompt_and_order(home: Path):
    _write_jobs(home / "jobs")
    first = ["a", "note one", "5",                       # job_c i1
             "b",                                         # job_c i2: back to i1
             "", "e", "",                                 # i1: Enter keeps approve; i2: edit, keep text
             '{"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 123}}',  # fails the check
             "f",                                         # fix it: asked again, shown the last answer
             '{"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 9800}}',  # grounded
             "", "", "", "4",                             # action, priority, notes, score
             "r", "made up", "1", "r", "rows do not exist", "1",  # i3, i4 rejected
             "4", "b", "", "3",                           # overall, back from the confirmation, keep i4, overall
             "y"]
    answers = ["ann"] + first + [line for job in ORDER[1:] for line in _approve_all(job)]
    proc = subprocess.run(_cli(home), input="\n".join(answers) + "\n", capture_output=True, text=True,
                          env=_env(home), timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout[-3000:]
    out = proc.stdout
    assert "skipped broken.json: broken.json: malformed JSON" in out
    assert "5 to review, 0 already reviewed" in out
    positions = [out.index(f"Job {n}/5 · {job}") for n, job in enumerate(ORDER, start=1)]
    assert positions == sorted(positions)
    assert "This evidence does not check out against the data" in out and "Your last answer" in out
    assert "Your verdict so far: approve, score 5, notes: note one" in out
    saved = _feedback(home)
    assert sorted(saved) == sorted(JOBS) and all(fb.reviewer_id == "ann" for fb in saved.values())
    c = saved["job_c"]
    assert [(i.action, i.human_score) for i in c.items] == [("approve", 5), ("edit", 4), ("reject", 1), ("reject", 1)]
    assert c.items[0].notes == "note one" and c.overall_score == 3
    assert c.items[1].edited_evidence["aggregates"] == {"/columns/revenue/stats/max": 9800}
    assert "Queue done: 5 reviews written" in out
    assert out.count("Warning: this insight's evidence does not check out") == 3  # job_e's two and job_b's i3


def test_q_quits_the_queue_keeping_what_was_written(home: Path):
    _write_jobs(home / "jobs")
    answers = _approve_all(ORDER[0]) + ["q"]
    proc = subprocess.run(_cli(home, "--reviewer", "dee"), input="\n".join(answers) + "\n", capture_output=True,
                          text=True, env=_env(home), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Quit: 1 review written in this session, the job in progress was not; run the same command to resume." \
        in proc.stdout
    assert list(_feedback(home)) == [ORDER[0]]


def test_approving_failing_evidence_warns_and_n_chooses_again(home: Path):
    _write_jobs(home / "jobs")
    # job_c: i1 approve; i2 approve; i3 approve -> warned -> n -> reject instead; i4 approve -> warned -> y
    answers = ["a", "", "5", "a", "", "5", "a", "n", "r", "wrong rows", "1", "a", "y", "", "2", "3", "y", "q"]
    proc = subprocess.run(_cli(home, "--reviewer", "eve"), input="\n".join(answers) + "\n", capture_output=True,
                          text=True, env=_env(home), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Warning: this insight's evidence does not check out") == 2
    assert "Approve it anyway? [y]es / [n]o, choose again" in proc.stdout
    c = _feedback(home)["job_c"]
    assert [i.action for i in c.items] == ["approve", "approve", "reject", "approve"]


def _default_sigint() -> None:
    """A runner started in the background ignores SIGINT, and its children inherit that: the CLI must get the
    terminal's Ctrl-C as a user would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_keeps_the_written_jobs_and_the_same_command_resumes(home: Path):
    _write_jobs(home / "jobs")
    proc = subprocess.Popen(_cli(home, "--reviewer", "ben"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**_env(home), "PYTHONUNBUFFERED": "1"},
                            preexec_fn=_default_sigint)
    shown: list[str] = []  # stdout as it is printed: the interrupt waits for the third job to be on screen
    reader = threading.Thread(target=lambda: shown.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    two_jobs = _approve_all(ORDER[0]) + _approve_all(ORDER[1]) + ["a"]  # and the start of a third
    proc.stdin.write("\n".join(two_jobs) + "\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while (len(_feedback(home)) < 2 or not any(f"Job 3/5 · {ORDER[2]}" in line for line in shown)) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # it reads the "a" already waiting, then blocks on the third job's next question
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    reader.join(timeout=30)
    err = proc.stderr.read()
    assert proc.returncode == 130, err
    # its own message is one line, the last; a library's first-run notice may come before it on a fresh machine
    assert "Traceback" not in err and err.strip().splitlines()[-1] == (
        "datapilot: interrupted: 2 reviews written in this session, the job in progress was not; run the same "
        "command to resume"), err
    assert sorted(_feedback(home)) == sorted(ORDER[:2])

    rest = [line for job in ORDER[2:] for line in _approve_all(job)]
    again = subprocess.run(_cli(home, "--reviewer", "ben"), input="\n".join(rest) + "\n", capture_output=True,
                           text=True, env=_env(home), timeout=120)
    assert again.returncode == 0, again.stderr
    assert "3 to review, 2 already reviewed" in again.stdout and f"Job 3/5 · {ORDER[2]}" in again.stdout
    assert sorted(_feedback(home)) == sorted(JOBS)
    done = subprocess.run(_cli(home, "--reviewer", "ben"), input="", capture_output=True, text=True,
                          env=_env(home), timeout=60)
    assert done.returncode == 0 and "0 to review, 5 already reviewed" in done.stdout


def test_end_of_input_names_what_was_written(home: Path):
    _write_jobs(home / "jobs")
    proc = subprocess.run(_cli(home, "--reviewer", "cy"), input="\n".join(_approve_all(ORDER[0]) + ["a"]) + "\n",
                          capture_output=True, text=True, env=_env(home), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("datapilot: error: input ended: 1 review written in this session")
    assert list(_feedback(home)) == [ORDER[0]]


def _review(home: Path, job_id: str, reviewer: str) -> None:
    job = job_result(job_id)
    FeedbackCollector(inbox=home / "feedback_inbox").collect_feedback(
        job_id=job_id, compact_eda=job["compact_eda"], llm_output=job["llm_output"], reviewer_id=reviewer,
        feedback_items=[{"insight_id": "i1", "action": "approve", "human_score": 4}], overall_score=4)


def test_overlap_rule_decides_who_gets_a_second_look(home: Path):
    jobs = _write_jobs(home / "jobs")
    for job_id in JOBS:
        _review(home, job_id, "ann")
    _review(home, "job_a", "ben")
    inbox = home / "feedback_inbox"
    assert build_queue(jobs, inbox, "cy").total == 5                      # no rule: everything not mine
    assert build_queue(jobs, inbox, "cy", overlap=0.0).todo == []           # one reviewer per job
    full = build_queue(jobs, inbox, "cy", overlap=1.0)                      # every job, up to two reviewers
    assert sorted(q.job.job_id for q in full.todo) == sorted(set(JOBS) - {"job_a"}) and full.left_to_others == 1
    shared = {j for j in JOBS if in_overlap_share(j, 0.5)}
    assert {q.job.job_id for q in build_queue(jobs, inbox, "cy", overlap=0.5).todo} == shared - {"job_a"}
    assert build_queue(jobs, inbox, "ann", overlap=0.5).done == 5


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_overlap_share_is_calibrated(fraction: float):
    """Over 20,000 job ids the share drawn is the fraction asked for within 3 standard errors."""
    n = 20_000
    drawn = sum(in_overlap_share(f"job_{k:06d}", fraction) for k in range(n))
    se = (fraction * (1 - fraction) / n) ** 0.5
    assert abs(drawn / n - fraction) < 3 * se


def test_only_feedback_files_of_queued_jobs_are_read(home: Path, monkeypatch):
    """A big inbox costs a listing: files of other jobs (named by their job id) are never opened."""
    from datapilot_pipeline.lib.feedback import review_queue

    jobs = _write_jobs(home / "jobs")
    _review(home, "job_a", "ann")
    _review(home, "job_a_other", "ann")  # a job id that starts like a queued one
    for k in range(50):
        _review(home, f"elsewhere_{k}", "ann")
    opened: list[str] = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: opened.append(self.name) or real(self))
    queue = review_queue.build_queue(jobs, home / "feedback_inbox", "ann")
    assert queue.done == 1 and len(queue.todo) == 4
    assert [n for n in opened if n.startswith("feedback_")] == [p.name for p in (home / "feedback_inbox").glob("feedback_job_a_2*")]


def test_reviews_moved_into_the_store_still_count_as_done(home: Path):
    """Ingestion archives inbox files; the queue must not offer those jobs to the same reviewer again."""
    from datapilot_pipeline.lib.feedback.ingest import ingest_inbox

    jobs = _write_jobs(home / "jobs")
    for job_id in ("job_a", "job_b"):
        _review(home, job_id, "ann")
    ingest_inbox(home / "feedback_inbox", home / "data" / "feedback", settle_s=0)
    assert list((home / "feedback_inbox").glob("feedback_*.json")) == []
    assert build_queue(jobs, home / "feedback_inbox", "ann").done == 0   # the inbox alone forgot them
    queue = build_queue(jobs, home / "feedback_inbox", "ann", feedback_dir=home / "data" / "feedback")
    assert queue.done == 2 and sorted(q.job.job_id for q in queue.todo) == ["job_c", "job_d", "job_e"]
    proc = subprocess.run(_cli(home, "--reviewer", "ann"), input="", capture_output=True, text=True,
                          env=_env(home), timeout=60)
    assert "3 to review, 2 already reviewed" in proc.stdout
