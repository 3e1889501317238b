"""The streaming validation gives the report the in-memory validation gave (`bench.baseline.validate_in_memory`, the
code before streaming) on a file with every kind of defect spread over many chunks, and cleans from the file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.baseline import validate_in_memory as baseline
from datapilot_pipeline.lib.atomic import dumps_compact
from datapilot_pipeline.lib.validation import report as report_mod
from datapilot_pipeline.lib.validation.clean import write_clean
from datapilot_pipeline.lib.validation.planted import PLANTED_TYPES, planted_value
from datapilot_pipeline.lib.validation.records import DatasetReadError
from datapilot_pipeline.lib.validation.report import DatasetChangedError, validate_dataset
from datapilot_pipeline.lib.validation.sample_data import example_line, shots


def _lines(n: int = 240) -> list[str]:
    rng, shot_list, rows = random.Random(5), shots(0, 1), []
    for i in range(n):
        if i % 23 == 5:  # planted PII in the EDA or in an insight's text
            value = planted_value(PLANTED_TYPES[i % len(PLANTED_TYPES)], rng)
            row = example_line(i, 0, shot_list, contact=value) if i % 2 else \
                example_line(i, 0, shot_list, note=f"Escalate to {value}.")
        elif i % 29 == 9 and rows:  # an exact copy of an earlier line
            row = json.loads(rows[rng.randrange(len(rows))])
        elif i % 31 == 11:  # a near copy: an earlier table's line with a reworded completion
            row = example_line(i - 7, 0, shot_list)
            row["completion"] = row["completion"].replace('"severity":"', '"severity":"', 1) + " "
        elif i % 37 == 3:
            row = {"prompt": "p", "completion": "not json"}
        else:
            row = example_line(i, 0, shot_list)
        rows.append(dumps_compact(row))
    rows[17] = '{"prompt": "broken'
    rows[40] = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    return rows


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "data.jsonl"
    path.write_text("\n".join(_lines()) + "\n\n", encoding="utf-8")
    return path


def _comparable(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "created_at"}


def test_the_streamed_report_is_the_in_memory_report(dataset, monkeypatch):
    old = baseline.validate_dataset(dataset).report
    monkeypatch.setattr(report_mod, "CHUNK_LINES", 13)  # 19 chunks: folds and caches cross chunk borders
    new = validate_dataset(dataset).report
    assert _comparable(new) == _comparable(old)
    # the defects were there to be found, in several chunks
    assert len(new["duplicates"]["exact"]) >= 3 and new["duplicates"]["near"] and new["pii"]["lines_count"] >= 5
    assert new["schema"]["invalid_count"] >= 5 and new["great_expectations"]["success"] is False


def test_clean_reads_the_file_again_and_drops_what_the_report_names(dataset, tmp_path):
    validation = validate_dataset(dataset, run_gx=False)
    assert validation.records is None  # nothing of the file kept in memory
    old = baseline.validate_dataset(dataset, run_gx=False)
    got, want = write_clean(validation, tmp_path / "new.jsonl"), write_clean(old, tmp_path / "old.jsonl")
    assert (tmp_path / "new.jsonl").read_bytes() == (tmp_path / "old.jsonl").read_bytes()
    assert got["sha256"] == want["sha256"] and got["masked_lines"] > 0 and got["dropped_invalid"] > 0


def test_a_file_replaced_before_cleaning_is_refused(dataset, tmp_path):
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(dataset.read_bytes())
    validation = validate_dataset(copy, run_gx=False)
    copy.write_bytes(dataset.read_bytes().replace(b"analyst_1", b"analyst_2", 1))
    with pytest.raises(DatasetChangedError):
        write_clean(validation, tmp_path / "clean.jsonl")
    assert not (tmp_path / "clean.jsonl").exists()


@pytest.mark.parametrize("content, message", [
    (b"", "holds no examples"), (b'{"a": 1}\n\x00\n', "binary file"), (b'{"a": 1}\n\xff\n', "not UTF-8 text (byte 9)"),
    (b"[1]\n", "no line is a JSON object"), (b'{"a": 1}\n', "holds no usable example (line 1: a line needs"),
])
def test_unreadable_files_fail_as_before(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(DatasetReadError, match=message.replace("(", r"\(").replace(")", r"\)")) as new:
        validate_dataset(path, run_gx=False)
    with pytest.raises(DatasetReadError) as old:
        baseline.validate_dataset(path, run_gx=False)
    assert str(new.value) == str(old.value)
    with pytest.raises(DatasetChangedError):
        validate_dataset(path, run_gx=False, expected_sha256="0" * 64)
