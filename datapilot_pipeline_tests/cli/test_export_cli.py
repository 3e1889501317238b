"""`datapilot export` against real inbox folders: hostile files, formats, exit codes, determinism."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.atomic import atomic_write_json
from datapilot_pipeline.lib.export.formats import openai_chat_problems
from datapilot_pipeline.lib.feedback.inbox import feedback_filename
from datapilot_pipeline.lib.feedback.ingest import load_feedback_files
from datapilot_pipeline.lib.synthetic import write_feedback_files
from datapilot_pipeline_tests.lib.export_fixtures import make_eda, make_feedback, make_output, make_seed


def _write_inbox(inbox: Path, n: int = 12) -> set[str]:
    inbox.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        fb = make_feedback(job_id=f"job_{k:02d}", eda=make_eda(f"table_{k % 6}.csv"), output=make_output(2))
        atomic_write_json(inbox / feedback_filename(fb.job_id, fb.created_at, fb.feedback_id), fb.model_dump(mode="json"))
    return {f"job_{k:02d}" for k in range(n)}


def _seeds(home: Path) -> Path:
    path = home / "data" / "finetune_samples" / "seed_examples.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(make_seed(f"s{k}", f"seed_{k}.csv", ("trend",))) + "\n" for k in range(3)))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_hostile_inbox_exports_exactly_the_good_jobs(home, capsys):
    inbox = home / "feedback_inbox"
    good = _write_inbox(inbox)
    _seeds(home)
    (inbox / "feedback_broken.json").write_text('{"schema_version": 1, "job_id": ')
    (inbox / "feedback_schema.json").write_text(json.dumps({"schema_version": 1, "job_id": "x"}))
    (inbox / "feedback_future.json").write_text(json.dumps({"schema_version": 9}))
    (inbox / "feedback_binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (inbox / "feedback_list.json").write_text("[1, 2]")
    (inbox / "photo.png").write_bytes(b"\x89PNG")
    os.symlink(inbox / "feedback_broken.json", inbox / "feedback_link.json")
    (inbox / ".feedback_tmp.json.part").write_text("{")  # a writer's temp file: not even listed

    assert main(["export", "--output", "out/ft.jsonl"]) == 0
    out = capsys.readouterr().out
    assert "0 from the feedback store" in out and f"12 feedback files from the inbox {inbox}" in out
    assert "12 reviews kept, 7 bad files skipped" in out
    rows = _lines(home / "out" / "ft.jsonl")
    held = home / "out" / "ft_holdout.jsonl"
    holdout = _lines(held) if held.exists() else []  # absent, never empty, when no table fell in the holdout
    assert {r["metadata"]["job_id"] for r in rows} | {r["example_id"] for r in holdout} == good
    assert f"exported {len(good)} jobs" in out and "sha256 " in out and "per split: train" in out


@pytest.mark.parametrize("fmt", ["openai-chat", "bedrock", "preference"])
def test_other_formats_write_train_and_validation_files(home, fmt):
    _write_inbox(home / "feedback_inbox", 30)
    assert main(["export", "--format", fmt, "--shot-count", "0", "--output", "x/data.jsonl",
                 "--split", "0.6,0.2,0.2"]) == 0
    train, validation = _lines(home / "x" / "data.jsonl"), _lines(home / "x" / "data_validation.jsonl")
    if fmt == "preference":  # every job was fully approved: no preference to learn
        assert train == validation == []
        return
    assert train and validation
    for line in train + validation:
        if fmt == "openai-chat":
            assert openai_chat_problems(line) == []
        else:
            assert set(line) == {"system", "messages"}


def test_default_output_name_and_determinism(home, capsys):
    _write_inbox(home / "feedback_inbox")
    _seeds(home)
    ready = home / "data" / "finetune_ready"
    assert main(["export", "--seed", "4"]) == 0
    (recipe,) = ready.glob("finetune_*_recipe.json")
    path = recipe.with_name(recipe.name.replace("_recipe.json", ".jsonl"))
    first = path.read_bytes()
    holdouts = list(ready.glob("finetune_*_holdout.jsonl"))
    assert not holdouts or holdouts == [path.with_name(path.stem + "_holdout.jsonl")]
    assert main(["export", "--seed", "4"]) == 0  # a second export the same day: a new file, the first intact
    datasets = [p for p in ready.glob("finetune_*.jsonl") if not p.stem.endswith("_holdout")]
    assert len(datasets) == 2 and path.read_bytes() == first
    assert {p.read_bytes() for p in datasets} == {first}
    assert all(r["metadata"]["shot_count"] <= 3 and r["metadata"]["sequence_tokens"] <= 2048 for r in _lines(path))


def test_nothing_eligible_writes_nothing_and_exits_1(home, capsys):
    _write_inbox(home / "feedback_inbox", 3)
    assert main(["export", "--shot-count", "0", "--min-score", "5", "--output", "o.jsonl"]) == 1
    assert "nothing written" in capsys.readouterr().out
    assert not (home / "o.jsonl").exists()


def test_an_unreachable_store_is_one_line_exit_2(home, capsys, monkeypatch):
    (home / "feedback_inbox").mkdir()
    monkeypatch.setenv("DATAPILOT_STORE_URL", "postgresql://analyst:secret@127.0.0.1:9/feedback")
    assert main(["export"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot open the feedback store" in err and "secret" not in err


def test_reviews_already_ingested_are_exported_too(home, capsys):
    from datapilot_pipeline.lib.feedback.ingest import ingest_inbox
    from datapilot_pipeline.lib.paths import Workspace

    write_feedback_files(home / "feedback_inbox", 12, seed=4)
    ingest_inbox(Workspace(home).inbox, Workspace(home).feedback_dir)  # a Dagster run moved them to the archive
    write_feedback_files(home / "feedback_inbox", 3, seed=40)
    assert main(["export", "--output", str(home / "out.jsonl"), "--shot-count", "0"]) == 0
    out = capsys.readouterr().out
    assert "0 duplicate deliveries" in out and "bad files skipped" in out
    n_stored = len(load_feedback_files(Workspace(home).feedback_dir))
    n_inbox = len(list((home / "feedback_inbox").iterdir()))
    assert (f"read {n_stored + n_inbox} reviews: {n_stored} from the feedback store {Workspace(home).feedback_dir} "
            f"(ingested earlier), {n_inbox} feedback files from the inbox") in out
    assert main(["export", "--inbox", str(home / "feedback_inbox"), "--output", str(home / "o2.jsonl"),
                 "--shot-count", "0"]) in (0, 1)
    assert f"read {n_inbox} feedback files from the inbox" in capsys.readouterr().out  # --inbox: the store is not read


def test_the_shots_each_prompt_really_got_are_counted(home, capsys):
    """The histogram is what the written lines hold, not the recipe's maximum; fewer shots are explained."""
    from collections import Counter

    _write_inbox(home / "feedback_inbox", 20)
    _seeds(home)
    for max_length, name in ((4096, "roomy.jsonl"), (900, "tight.jsonl")):
        assert main(["export", "--output", name, "--max-length", str(max_length)]) == 0
        out = capsys.readouterr().out
        got = Counter(r["metadata"]["shot_count"] for r in _lines(home / name))
        histogram = ", ".join(f"{k} in {got[k]} prompt{'s' if got[k] != 1 else ''}" for k in sorted(got, reverse=True))
        assert f"worked examples per prompt: {histogram} (the recipe allows up to 3: s0, s1, s2)" in out, out
        assert ("fewer than 3 where the" in out) == (min(got) < 3), out
        assert (min(got) < 3) == (name == "tight.jsonl"), got  # both cases are exercised


@pytest.mark.parametrize("argv, message", [
    (["export", "--inbox", "missing"], "is not a directory"),
    (["export", "--min-score", "7"], "must be between 1 and 5"),
    (["export", "--format", "csv"], "invalid choice"),
    (["export", "--split", "0.5,0.6,0.1"], "sum to 1"),
    (["export", "--sample", "0"], "must be >= 1"),
    (["export", "--seeds", "nope.jsonl"], "no seed examples"),
])
def test_bad_usage_is_one_line_exit_2(home, capsys, argv, message):
    (home / "feedback_inbox").mkdir()
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and "Traceback" not in err


def test_nothing_written_names_the_discard_reasons(home, capsys):
    """Scores 5 and 4 but ungrounded edited evidence: the reason must be printed, not only the min score."""
    from datapilot_pipeline import FeedbackCollector
    from datapilot_pipeline_tests.feedback_fixtures import feedback_kwargs

    inbox = home / "feedback_inbox"
    inbox.mkdir()
    bad = {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 12345.0}}
    FeedbackCollector(inbox=inbox).collect_feedback(**feedback_kwargs(overall_score=5, feedback_items=[
        {"insight_id": "i1", "action": "edit", "edited_evidence": bad, "human_score": 5},
        {"insight_id": "i2", "action": "edit", "edited_evidence": bad, "human_score": 4}]))
    assert main(["export", "--shot-count", "0"]) == 1
    out = capsys.readouterr().out
    assert "nothing written: no eligible examples to export (min score 3)" in out
    assert "discarded: insight_invalid_evidence 2, insight_not_approved 2, job_no_insight_kept 1" in out
