"""Validation report on datasets with planted defects at known lines."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from datapilot_pipeline.lib.atomic import dumps_compact
from datapilot_pipeline.lib.validation import score
from datapilot_pipeline.lib.validation.clean import write_clean
from datapilot_pipeline.lib.validation.planted import PLANTED_TYPES, planted_value
from datapilot_pipeline.lib.validation.records import DatasetReadError, read_records
from datapilot_pipeline.lib.validation.report import validate_dataset, write_report
from datapilot_pipeline.lib.validation.sample_data import example_line, example_lines, shots


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else dumps_compact(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def clean_report(tmp_path_factory) -> dict:
    path = _write(tmp_path_factory.mktemp("clean") / "clean.jsonl", example_lines(200))
    return validate_dataset(path).report


def test_clean_set_scores_excellent_and_nothing_is_flagged(clean_report: dict) -> None:
    r = clean_report
    assert r["quality_score"] >= 90 and r["grade"] == "excellent"
    assert r["n_examples"] == 200
    assert r["schema"]["invalid_lines"] == []
    assert r["pii"]["by_entity"] == {}
    # 200 distinct examples share one system prompt and one few-shot block: no duplicates.
    assert r["duplicates"]["exact"] == [] and r["duplicates"]["near"] == []
    assert r["evidence"]["accuracy"] == 1.0 and r["evidence"]["insights_checked"] == 400
    assert r["great_expectations"]["success"] is True
    assert r["size"]["meets_recommended"] is True
    assert {"quality_score", "grade", "n_examples", "schema", "pii", "duplicates", "tokens", "issues"} <= set(r)


def test_planted_defects_found_at_exactly_their_lines(tmp_path: Path) -> None:
    rows: list = example_lines(120)
    bad_completion = dict(rows[6], completion='{"insights": [{"id": "i1"}]}')
    rows[6] = bad_completion                       # line 7: insight misses fields
    rows[14] = "{this is not json"                 # line 15
    rows[29] = {"prompt": "p", "metadata": {"job_id": "x"}}  # line 30: no completion
    rows[44] = [1, 2, 3]                           # line 45: not an object
    rows[60] = rows[2]                             # line 61: exact duplicate of line 3
    near = dict(rows[9])
    near["completion"] = rows[9]["completion"].replace("far above", "well above")
    rows[80] = near                                # line 81: near duplicate of line 10
    r = validate_dataset(_write(tmp_path / "d.jsonl", rows)).report
    assert r["schema"]["invalid_lines"] == [7, 15, 30, 45]
    assert r["duplicates"]["exact"] == [61] and r["duplicates"]["pairs"]["61"] == 3
    assert r["duplicates"]["near"] == [81] and r["duplicates"]["pairs"]["81"] == 10
    lost = {i["check"]: i["points"] for i in r["issues"]}
    assert lost["schema"] == score.points_lost("schema", 4 / 120)
    assert lost["duplicates"] == score.points_lost("duplicates", 2 / 120)
    assert r["quality_score"] == round(100 - sum(i["points"] for i in r["issues"]), 1)


def test_planted_pii_recall_per_entity(tmp_path: Path) -> None:
    rng = random.Random(42)
    shot_list = shots(0)
    rows, planted = [], {}
    for i in range(150):
        entity = PLANTED_TYPES[i % len(PLANTED_TYPES)]
        planted[i + 1] = entity
        value = planted_value(entity, rng)
        if i % 2:
            rows.append(example_line(i, 0, shot_list, contact=value))  # in a sample row of the EDA
        else:
            rows.append(example_line(i, 0, shot_list, note=f"Escalate to {value}."))  # in the completion
    rows += example_lines(50, seed=9)
    r = validate_dataset(_write(tmp_path / "pii.jsonl", rows), run_gx=False).report
    by_line = {int(k): v for k, v in r["pii"]["by_line"].items()}
    for entity in PLANTED_TYPES:
        lines = [n for n, e in planted.items() if e == entity]
        hits = sum(entity in by_line.get(n, {}) for n in lines)
        assert hits / len(lines) >= 0.9, f"{entity}: {hits}/{len(lines)}"
    assert all(n <= 150 for n in r["pii"]["lines"]), "clean lines must not be flagged"
    assert r["pii"]["by_entity"]["EMAIL_ADDRESS"] >= 27


def test_write_clean_masks_and_dedups(tmp_path: Path) -> None:
    rows = example_lines(60)
    rows[5] = example_line(5, 0, shots(0), contact="jane.doe@example.com", note="Call (415) 555-0132.")
    rows[7] = rows[1]
    validation = validate_dataset(_write(tmp_path / "d.jsonl", rows))
    out = write_clean(validation, tmp_path / "clean.jsonl")
    assert out["n_examples"] == 59 and out["masked_lines"] == 1 and out["dropped_duplicates"] == 1
    lines = [json.loads(x) for x in (tmp_path / "clean.jsonl").read_text().splitlines()]
    assert "<EMAIL_ADDRESS>" in lines[5]["prompt"] and "jane.doe@example.com" not in lines[5]["prompt"]
    assert "<PHONE_NUMBER>" in lines[5]["completion"]
    assert json.loads(lines[5]["completion"])["insights"][0]["evidence"] == json.loads(rows[5]["completion"])["insights"][0]["evidence"]
    again = validate_dataset(tmp_path / "clean.jsonl").report
    assert again["pii"]["by_entity"] == {} and again["duplicates"]["exact"] == [] and again["schema"]["invalid_lines"] == []


def test_size_balance_and_length_issues(tmp_path: Path) -> None:
    r = validate_dataset(_write(tmp_path / "small.jsonl", example_lines(10)), max_tokens=500).report
    checks = {i["check"] for i in r["issues"]}
    assert {"size", "length"} <= checks
    assert r["tokens"]["over_max_count"] == 10
    assert r["grade"] == score.grade(r["quality_score"])
    assert score.balance_issue({"outlier": 9, "trend": 1}).points == score.points_lost("balance", 0.8)
    assert score.balance_issue({"outlier": 5, "trend": 5}) is None


def test_chat_format_lines_are_validated_like_prompt_completion(tmp_path: Path) -> None:
    from datapilot_pipeline.lib.prompts import SYSTEM_PROMPT

    rows = []
    for line in example_lines(5):
        user = line["prompt"][len(SYSTEM_PROMPT) + 2:]
        rows.append({"messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user},
                                  {"role": "assistant", "content": line["completion"]}]})
    r = validate_dataset(_write(tmp_path / "chat.jsonl", rows), run_gx=False).report
    assert r["schema"]["invalid_lines"] == [] and r["schema"]["formats"] == {"openai-chat": 5}
    assert r["evidence"]["insights_checked"] == 10 and r["evidence"]["accuracy"] == 1.0


@pytest.mark.parametrize("content,message", [(b"\x00\x01binary", "binary"), (b"", "empty"),
                                             (b"hello\nworld\n", "not JSONL"), (b"\xff\xfe{}", "UTF-8")])
def test_unreadable_inputs_raise(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(DatasetReadError, match=message):
        read_records(path)


def test_write_report_is_timestamped_and_never_overwrites(tmp_path: Path) -> None:
    a = write_report({"quality_score": 1}, tmp_path)
    b = write_report({"quality_score": 2}, tmp_path)
    assert a != b and a.name.startswith("finetune_export_report_") and b.exists()
    assert json.loads(a.read_text())["quality_score"] == 1
