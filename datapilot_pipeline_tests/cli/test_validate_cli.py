"""`datapilot validate`: report written, readable summary, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.atomic import atomic_write_jsonl
from datapilot_pipeline.lib.validation.sample_data import example_lines


@pytest.fixture
def dataset(home: Path) -> Path:
    rows = example_lines(60)
    rows[3] = {"prompt": "p", "completion": "not json", "metadata": {"job_id": "x"}}
    return atomic_write_jsonl(home / "data.jsonl", rows)


def test_passing_dataset_exits_0_and_writes_report(dataset: Path, home: Path, capsys) -> None:
    code = main(["validate", str(dataset), "--write-clean", str(home / "clean.jsonl")])
    out = capsys.readouterr().out
    assert code == 0
    reports = sorted((home / "reports").glob("finetune_export_report_*.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["schema"]["invalid_lines"] == [4]
    assert f"quality score {report['quality_score']:.1f}/100" in out
    assert "schema: 1 of 60 lines fail the schema" in out and "lines 4" in out
    assert len((home / "clean.jsonl").read_text().splitlines()) == 59


def test_score_below_min_exits_1(dataset: Path, home: Path, capsys) -> None:
    code = main(["validate", str(dataset), "--min-score", "99", "--report-dir", str(home / "r")])
    assert code == 1
    assert len(list((home / "r").glob("*.json"))) == 1
    assert "points lost:" in capsys.readouterr().out


@pytest.mark.parametrize("content", [None, b"\x00\x01\x02", b"just text\n"])
def test_unreadable_input_exits_2_with_one_line(home: Path, capsys, content: bytes | None) -> None:
    path = home / "in.jsonl"
    if content is not None:
        path.write_bytes(content)
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("datapilot: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (home / "reports").exists()


def test_what_export_writes_as_preference_pairs_validates(home: Path, capsys) -> None:
    """`export --format preference` -> `validate`: every line is read as prompt + chosen (it was 50/100 poor)."""
    from datapilot_pipeline.lib.feedback.inbox import feedback_filename
    from datapilot_pipeline_tests.lib.export_fixtures import item, make_eda, make_feedback, make_output

    inbox = home / "feedback_inbox"
    inbox.mkdir()
    for k in range(40):
        fb = make_feedback(job_id=f"job_{k:02d}", eda=make_eda(f"table_{k}.csv"), output=make_output(2),
                           items=[item("i1", "approve", 5), item("i2", "reject", 1)])
        (inbox / feedback_filename(fb.job_id, fb.created_at, fb.feedback_id)).write_text(fb.model_dump_json())
    assert main(["export", "--format", "preference", "--shot-count", "0", "--output", str(home / "pref.jsonl")]) == 0
    capsys.readouterr()
    main(["validate", str(home / "pref.jsonl"), "--report-dir", str(home / "r")])
    out = capsys.readouterr().out
    (report,) = [json.loads(p.read_text()) for p in (home / "r").glob("*.json")]
    assert report["schema"]["formats"] == {"preference": report["n_examples"]} and report["n_examples"] >= 25
    assert report["schema"]["invalid_count"] == 0 and "schema: 0 invalid lines" in out
    assert report["evidence"]["insights_checked"] == report["n_examples"]  # the chosen reply is checked


def _validate_one_line_error(path: Path, capsys) -> str:
    code = main(["validate", str(path), "--report-dir", str(path.parent / "reports")])
    err = capsys.readouterr().err
    assert code == 2, (path.name, err)
    assert err.startswith("datapilot: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_every_file_a_real_export_writes_is_scored_or_refused_in_one_line(home: Path, capsys) -> None:
    """Each format's dataset, its `_validation.jsonl` and the `_holdout.jsonl` (seed-example format) get a score
    (exit 0 or 1, a report); an empty file and the `_recipe.json` are refused in one line (exit 2)."""
    from datapilot_pipeline.lib.feedback.inbox import feedback_filename
    from datapilot_pipeline_tests.lib.export_fixtures import item, make_eda, make_feedback, make_output, make_seed

    inbox = home / "feedback_inbox"
    inbox.mkdir()
    for k in range(30):
        items = [item("i1", "approve", 5), item("i2", "reject" if k % 2 else "approve", 1 if k % 2 else 4)]
        fb = make_feedback(job_id=f"job_{k:02d}", eda=make_eda(f"table_{k % 10}.csv"), output=make_output(2),
                           items=items)
        (inbox / feedback_filename(fb.job_id, fb.created_at, fb.feedback_id)).write_text(fb.model_dump_json())
    seeds = home / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(make_seed(f"s{k}", f"seed_{k}.csv", ("trend",))) + "\n" for k in range(2)))
    for fmt in ("prompt-completion", "openai-chat", "bedrock", "preference"):
        assert main(["export", "--format", fmt, "--shot-count", "2", "--seeds", str(seeds), "--split", "0.6,0.2,0.2",
                     "--output", str(home / "out" / fmt / "data.jsonl")]) == 0, fmt
    capsys.readouterr()
    written = sorted(p for p in (home / "out").rglob("*") if p.is_file())
    scored, refused = [], []
    for path in written:
        if path.suffix == ".jsonl" and path.read_text().strip():
            code = main(["validate", str(path), "--report-dir", str(home / "reports" / path.parent.name)])
            captured = capsys.readouterr()
            assert code in (0, 1) and "quality score" in captured.out and captured.err == "", (path, captured.err)
            scored.append(path.relative_to(home / "out").as_posix())
        else:
            err = _validate_one_line_error(path, capsys)
            assert "prompt recipe" in err if path.name.endswith("_recipe.json") else "no examples" in err
            refused.append(path.relative_to(home / "out").as_posix())
    assert {"prompt-completion/data.jsonl", "prompt-completion/data_holdout.jsonl", "openai-chat/data.jsonl",
            "openai-chat/data_validation.jsonl", "openai-chat/data_holdout.jsonl", "bedrock/data.jsonl",
            "preference/data.jsonl"} <= set(scored)
    assert {f"{fmt}/data_recipe.json" for fmt in ("prompt-completion", "openai-chat", "bedrock", "preference")} \
        <= set(refused)
    holdout_reports = [json.loads(p.read_text()) for p in (home / "reports" / "prompt-completion").glob("*.json")]
    held = [r for r in holdout_reports if r["source"]["path"].endswith("_holdout.jsonl")]
    assert held and held[0]["schema"]["formats"] == {"seed-example": held[0]["n_examples"]}
    assert held[0]["schema"]["invalid_count"] == 0 and held[0]["evidence"]["insights_checked"] > 0
    assert held[0]["recipe"]["path"].endswith("data_recipe.json")  # the dataset's recipe counts its tokens


@pytest.mark.parametrize("lines", [
    ['{"foo": 1}', '{"foo": 2}'],
    ['{"prompt": "", "completion": ""}'],
    ['{"prompt": "task", "completion": "   "}', '{"prompt": " ", "completion": "{}"}'],
    ['{"messages": "hello"}', '{"messages": [{"role": "user", "content": "hi"}]}'],
    ['{"example_id": "x", "compact_eda": {}, "output": {}}'],
    ['[1, 2]', '"text"', '3'],
])
def test_jsonl_of_another_shape_is_refused_in_one_line(home: Path, capsys, lines: list[str]) -> None:
    path = home / "odd.jsonl"
    path.write_text("\n".join(lines) + "\n")
    err = _validate_one_line_error(path, capsys)
    assert "line 1" in err or "no line is a JSON object" in err
    assert not (home / "reports").exists()
