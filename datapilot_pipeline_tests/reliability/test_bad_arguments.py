"""Every command answers bad flags, out-of-range values and missing files with one line on stderr and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline_tests.feedback_fixtures import write_job

MISSING = "/no/such/place/file.jsonl"

# (argv with FILE / JOB / BIN / DIR placeholders, a fragment the one line must hold)
CASES = [
    ([], "required"),
    (["frobnicate"], "invalid choice"),
    (["review"], "required"),
    (["review", "job_1", MISSING], "no such file"),
    (["review", "../etc/passwd", "JOB"], "must match"),
    (["review", "job_sales_001", "JOB", "--reviewer", "a/b"], "must match"),
    (["review", "other_job", "JOB", "--reviewer", "ann"], "holds job"),
    (["review", "job_1", "BIN"], "not UTF-8"),
    (["review", "job_1", "JOB", "--bogus"], "unrecognized arguments"),
    (["export", "--min-score", "0"], "between 1 and 5"),
    (["export", "--min-score", "six"], "expected an integer"),
    (["export", "--shot-count", "21"], "between 0 and 20"),
    (["export", "--sample", "0"], ">= 1"),
    (["export", "--format", "xml"], "invalid choice"),
    (["export", "--split", "0.5,0.5"], "three fractions"),
    (["export", "--inbox", MISSING], "not a directory"),
    (["export", "--seeds", MISSING], "--seeds"),
    (["export", "--output", "DIR"], "is a directory"),
    (["validate"], "required"),
    (["validate", MISSING], "no such file"),
    (["validate", "BIN"], "binary"),
    (["validate", "FILE", "--min-score", "101"], "between 0 and 100"),
    (["validate", "FILE", "--max-tokens", "3"], ">= 16"),
    (["validate", "FILE", "--tokenizer", MISSING], "tokenizer not found"),
    (["train", "--dataset", MISSING], "no such file"),
    (["train", "--max-steps", "0"], ">= 1"),
    (["train", "--epochs", "-1"], "must be > 0"),
    (["train", "--learning-rate", "fast"], "expected a number"),
    (["train", "--backend", "gpu"], "invalid choice"),
    (["train"], "no dataset"),
    (["train", "--dataset", "FILE", "--resume"], "--resume needs --output-dir"),
    (["train", "--dataset", "FILE", "--base-model", MISSING], "not found"),
    (["eval"], "required"),
    (["eval", "--holdout", MISSING, "--finetuned-model", "x"], "no such file"),
    (["eval", "--finetuned-model", "x", "--concurrency", "0"], "between 1 and 64"),
    (["eval", "--finetuned-model", "x", "--schema-target", "1.5"], "--schema-target"),
    (["eval", "--finetuned-endpoint", "ftp://x/y", "--fewshot-endpoint", "file:///etc/passwd"], "URL"),
    (["eval", "--finetuned-model", MISSING, "--fewshot-endpoint", "http://127.0.0.1:9/v1"], "not found"),
    (["review", "job_x", "DIR"], "is a directory"),
    (["review", "--queue", "FILE"], "is not a directory of job results"),
    (["review", "job_1", "JOB", "--queue", "DIR"], "not both"),
    (["review", "--queue", "DIR", "--overlap", "2"], "between 0 and 1"),
    (["review", "job_sales_001", "JOB", "--overlap", "0.5"], "--queue only"),
    (["review", "--queue", "DIR", "--inbox", "FILE"], "is a file"),
    (["validate", "DIR"], "is a directory"),
    (["validate", "FILE", "--report-dir", "FILE"], "is a file; give a directory"),
    (["validate", "FILE", "--report-dir", "/proc/nope"], "--report-dir /proc/nope: cannot"),
    (["validate", "FILE", "--tokenizer", "DIR"], "holds no tokenizer"),
    (["validate", "FILE", "--tokenizer", "FILE"], "holds no tokenizer"),
    (["validate", "FILE", "--write-clean", "DIR"], "is a directory; give a file path"),
    (["train", "--dataset", "DIR"], "is a directory"),
    (["train", "--dataset", "EMPTY"], "no examples"),
    (["export", "--shot-count", "20"], "only 10 seed examples"),
    (["eval", "--finetuned-model", MISSING], "not found (no such file or directory)"),
    (["eval", "--finetuned-model", "relative/model"], "relative/model: not found"),
    (["eval", "--finetuned-model", "DIR", "--shot-count", "20"], "only 10 seed examples"),
    (["eval", "--fewshot-endpoint", "http://127.0.0.1:9/v1", "--finetuned-endpoint", "http://127.0.0.1:9/v1",
      "--api-key-env", "DATAPILOT_TEST_UNSET_KEY"], "DATAPILOT_TEST_UNSET_KEY: that environment variable is not set"),
    (["demo", "--jobs", "0"], "between 1 and 100000"),
    (["demo", "--jobs", "many"], "expected an integer"),
    (["demo", "--home", "FILE"], "not a directory"),
    (["ab-test", "--alpha", "1"], "between 0 and 1"),
    (["ab-test", "--inbox", MISSING], "not a directory"),
    (["route"], "required"),
    (["route", "../etc/passwd"], "must match"),
    (["serve", "--port", "0"], "between 1 and 65535"),
    (["serve", "--model", MISSING], "not found"),
]


@pytest.fixture
def placeholders(home: Path) -> dict[str, str]:
    files = home / "inputs"
    files.mkdir()
    (home / "feedback_inbox").mkdir()  # an empty inbox: the checks after it are reached
    dataset = files / "data.jsonl"
    dataset.write_text('{"prompt": "p", "completion": "c"}\n', encoding="utf-8")
    binary = files / "blob.bin"
    binary.write_bytes(b"\x00\xff\xfe" * 100)
    empty = files / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    return {"FILE": str(dataset), "BIN": str(binary), "DIR": str(files), "JOB": str(write_job(files / "job.json")),
            "EMPTY": str(empty)}


@pytest.mark.parametrize("argv, fragment", CASES, ids=[" ".join(a) or "(none)" for a, _ in CASES])
def test_bad_usage_is_one_line_and_exit_2(placeholders, capsys, monkeypatch, argv, fragment):
    monkeypatch.delenv("DATAPILOT_TEST_UNSET_KEY", raising=False)
    argv = [placeholders.get(a, a) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("datapilot") and "error:" in lines[0], err
    assert fragment in lines[0] and "Traceback" not in err
