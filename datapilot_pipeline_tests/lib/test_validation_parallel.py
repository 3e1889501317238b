"""Validation in worker processes gives the report of one process; the pieces that made validation cheaper
(Presidio without torch or spaCy's command line, the unrolled JSON-string pattern) change no result."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from datapilot_pipeline.lib import workers
from datapilot_pipeline.lib.validation import report as report_mod
from datapilot_pipeline.lib.validation.pii_scan import _JSON_STRING
from datapilot_pipeline.lib.validation.report import validate_dataset, worker_count
from datapilot_pipeline_tests.lib.test_validation_stream import _comparable, _lines


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("parallel") / "data.jsonl"
    path.write_text("\n".join(_lines()) + "\n", encoding="utf-8")
    return path


def test_two_worker_processes_give_the_one_process_report(dataset: Path, monkeypatch) -> None:
    monkeypatch.setattr(report_mod, "CHUNK_LINES", 17)  # 15 chunks over 2 workers, out of step with each other
    one = validate_dataset(dataset, workers=1, run_gx=False)  # the suite's columns are the fold's, as shown below
    two = validate_dataset(dataset, workers=2, run_gx=False)
    assert _comparable(two.report) == _comparable(one.report)
    assert two.duplicates == one.duplicates and two.pii.lines == one.pii.lines
    assert one.report["duplicates"]["exact"] and one.report["pii"]["lines"]  # there was something to find


@pytest.mark.parametrize("large", [False, True])
def test_great_expectations_is_imported_beside_the_workers_only_for_a_small_file(dataset: Path, monkeypatch,
                                                                                large: bool) -> None:
    """Its import holds ~230 MB: for a large file it waits until the workers have exited (same report either way)."""
    asked = []
    real = report_mod.parallel_chunks

    def recording(chunk_iter, spec, workers, preload_gx=False, fork=False):
        asked.append(preload_gx)
        return real(chunk_iter, spec, workers, preload_gx, fork)

    monkeypatch.setattr(report_mod, "parallel_chunks", recording)
    monkeypatch.setattr(report_mod, "GX_BESIDE_WORKERS_MAX_BYTES", 1 if large else 2**40)
    monkeypatch.setattr(report_mod, "FORK_MAX_BYTES", 1)  # spawned workers: forked ones get a GX process
    two = validate_dataset(dataset, workers=2)
    assert asked == [not large]
    assert two.report["great_expectations"]["success"] is not None


FORKED_VALIDATION = """
import json, multiprocessing, sys
from datapilot_pipeline.lib import workers
from datapilot_pipeline.lib.validation import report as report_mod

methods = []
real = workers.start_method


def recording(fork):
    methods.append(real(fork))
    return methods[-1]


if __name__ == "__main__":
    workers.start_method = recording
    report_mod.CHUNK_LINES = 17
    report_mod.FORK_MAX_BYTES = int(sys.argv[2])
    two = report_mod.validate_dataset(sys.argv[1], workers=int(sys.argv[3]))
    print(json.dumps({"methods": methods, "report": two.report, "pii_lines": two.pii.lines,
                      "gx_here": "great_expectations" in sys.modules,
                      "processes_left": len(multiprocessing.active_children())}))
"""


@pytest.mark.parametrize("fork_below, n_workers", [(2**40, 2), (1, 2), (2**40, 1)])
def test_forked_workers_give_the_one_process_report(dataset: Path, tmp_path: Path, fork_below: int,
                                                    n_workers: int) -> None:
    """In a fresh interpreter (one thread: the test runner's own threads would rule a fork out), a small file's workers
    are forked and a large one's spawned; the report is the one process's either way, Great Expectations included
    (below the size, with workers or without, it is imported and run in a process of its own, never in this one),
    and no process is left behind."""
    script = tmp_path / "forked.py"
    script.write_text(FORKED_VALIDATION)
    out = subprocess.run([sys.executable, str(script), str(dataset), str(fork_below), str(n_workers)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    one = validate_dataset(dataset, workers=1)
    assert found["methods"] and set(found["methods"]) == {"fork" if fork_below > 1 else "spawn"}
    assert _comparable(found["report"]) == json.loads(json.dumps(_comparable(one.report)))
    assert found["pii_lines"] == one.pii.lines and one.pii.lines  # there was something to find
    assert found["report"]["great_expectations"]["evaluated"] == 9
    assert found["gx_here"] is (fork_below == 1) and found["processes_left"] == 0


SUITE_FAILURES = """
import json, multiprocessing, sys
from datapilot_pipeline.lib.validation import gx_suite, report as report_mod


def broken_suite(*args, **kwargs):
    raise ValueError("the suite broke")


exit_codes = []
real_close = gx_suite.SuiteProcess.close


def recording_close(self):
    real_close(self)
    exit_codes.append(self._process.exitcode)


if __name__ == "__main__":
    gx_suite.SuiteProcess.close = recording_close
    if sys.argv[2] == "suite":
        gx_suite.run_suite = broken_suite  # before the fork: the suite's process runs this
    try:
        report_mod.validate_dataset(sys.argv[1], workers=2)
        outcome = "no error"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"outcome": outcome, "processes_left": len(multiprocessing.active_children()),
                      "gx_here": "great_expectations" in sys.modules, "exit_codes": exit_codes}))
"""


@pytest.mark.parametrize("failure", ["suite", "file"])
def test_the_suite_process_reports_its_error_and_ends_with_the_validation(dataset: Path, tmp_path: Path,
                                                                          failure: str) -> None:
    """The suite's error reaches the caller as raised; a validation that fails before its suite (a file with no
    example) ends the suite's process too, at once (its copy of the caller's end of the pipe closed)."""
    script = tmp_path / "suite_failures.py"
    script.write_text(SUITE_FAILURES)
    data = dataset
    if failure == "file":
        data = tmp_path / "no_examples.jsonl"
        data.write_text('{"note": "not an example"}\n' * 50, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script), str(data), failure], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    if failure == "suite":
        assert found["outcome"] == "ValueError: the suite broke"
    else:
        assert found["outcome"].startswith("DatasetReadError") and "example" in found["outcome"]
    assert found["processes_left"] == 0 and found["gx_here"] is False
    assert found["exit_codes"] and set(found["exit_codes"]) == {0}  # it ended by itself, not killed after waiting


def test_worker_count_defaults(dataset: Path, monkeypatch) -> None:
    monkeypatch.delenv(report_mod.WORKERS_ENV, raising=False)
    assert worker_count(dataset) == 1  # a small file: this process alone
    assert worker_count(dataset, 3) == 3
    monkeypatch.setattr(report_mod, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(workers, "busy_cores", lambda cores: 0.6)
    assert worker_count(dataset) == 2  # a big file, a core to spare
    monkeypatch.setattr(workers, "busy_cores", lambda cores: 1.5)
    assert worker_count(dataset) == 1  # a busy machine: workers would only add start-up and memory
    monkeypatch.setenv(report_mod.WORKERS_ENV, "1")
    assert worker_count(dataset) == 1


_OLD_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"(?:\s*:\s*"((?:[^"\\]|\\.)*)")?', re.DOTALL)


def test_the_unrolled_string_pattern_finds_what_the_plain_one_found() -> None:
    rng = random.Random(3)
    alphabet = ['"', "\\", ":", " ", "a", "b", "\n", "{", "}", ",", "é", "n", "u"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(40))) for _ in range(3000)]
    texts += [line for line in _lines(60)]
    for text in texts:
        assert _JSON_STRING.findall(text) == _OLD_JSON_STRING.findall(text), text


def test_the_analyzer_loads_without_torch_and_torch_still_imports_after() -> None:
    code = ("import sys\nfrom datapilot_pipeline.lib.pii import scan_texts\n"
            "found = scan_texts(['mail jane.doe@example.com'])[0]\n"
            "assert [f.entity_type for f in found] == ['EMAIL_ADDRESS'], found\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
            "import os; assert 'PRESIDIO_DEVICE' not in os.environ\n"
            "import torch, transformers\nprint('ok')\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "PRESIDIO_DEVICE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.parametrize("then", ["attribute", "import"])
def test_the_analyzer_loads_without_spacys_command_line_and_it_still_works_after(then: str) -> None:
    """Presidio's import of spaCy leaves its command line (typer, weasel) unimported; afterwards `spacy.cli` is
    spaCy's own, whether reached as an attribute (Presidio's model download) or imported."""
    use = ("import spacy\ndownload = spacy.cli.download\n" if then == "attribute" else
           "import spacy.cli\nfrom spacy.cli import download\n")
    code = ("import sys, inspect\nfrom datapilot_pipeline.lib.pii import scan_texts\n"
            "found = scan_texts(['call Maria Gonzalez at 415-555-2671 or jane.doe@example.com'])[0]\n"
            "assert {f.entity_type for f in found} >= {'EMAIL_ADDRESS', 'PHONE_NUMBER'}, found\n"
            "assert 'spacy' in sys.modules and 'spacy.cli' not in sys.modules, 'no spaCy import to check'\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('typer', 'weasel')]\n"
            + use +
            "real = sys.modules['spacy.cli']\n"
            "assert real.__file__.endswith('spacy/cli/__init__.py') and spacy.cli is real, real\n"
            "assert inspect.getmodule(download).__name__ == 'spacy.cli.download' and callable(spacy.info)\n"
            "assert spacy.info.__module__ != 'spacy.cli.info'  # the forwarder, importing spaCy's when called\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.parametrize("first", ["project", "gx"])
def test_great_expectations_imports_without_scipy_stats_altair_or_sqlalchemy_and_later_users_get_the_real_modules(
        first: str) -> None:
    """The suite runs with SciPy's statistics, Altair and SQLAlchemy never imported; afterwards the project's
    `scipy.stats` users and GX's KL-divergence expectation (whichever reads it first) both get SciPy's real module and
    its numbers, Altair is Altair, to that expectation and to a later `import altair`, and the feedback store works
    on SQLAlchemy as usual."""
    project = ("from scipy.stats import t\nassert round(t.ppf(0.975, 10), 4) == 2.2281\n"
               "assert type(sys.modules['scipy.stats']) is types.ModuleType\n")
    gx = ("import great_expectations.expectations.core.expect_column_kl_divergence_to_be_less_than as kl\n"
          "assert round(float(kl.stats.entropy([0.5, 0.5], [0.9, 0.1])), 4) == 0.5108\n"
          "assert kl.alt.Chart.__module__.startswith('altair.')\n"
          "import altair\nassert type(altair) is types.ModuleType and altair.Chart is kl.alt.Chart\n")
    store = ("import tempfile\nfrom datapilot_pipeline.lib.feedback import store\n"  # SQLAlchemy, as usual after GX
             "url = store.store_url_for(tempfile.mkdtemp())\n"
             "with store.write_transaction(url) as conn:\n    pass\n"
             "assert store.count_feedback(url) == 0\n")
    code = ("import sys, types\nfrom datapilot_pipeline.lib.validation.gx_suite import run_suite\n"
            "row = dict(line=1, is_object=True, format='prompt-completion', prompt_chars=5, completion_chars=5, "
            "schema_ok=True, n_insights=2, total_tokens=10, content_key='a')\n"
            "summary = run_suite([row], max_tokens=100, min_rows=1)\n"
            "assert summary['success'] is True, summary\n"
            "assert 'scipy.stats' not in sys.modules and 'scipy.stats._distn_infrastructure' not in sys.modules\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('altair', 'sqlalchemy', 'psycopg2')]\n"
            + (project + gx if first == "project" else gx + project) + store + "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_a_trimmed_scan_cache_finds_what_an_untrimmed_one_finds() -> None:
    from datapilot_pipeline.lib.validation.pii_scan import ScanCache, scan_records

    records = [(n, True, line) for n, line in enumerate(_lines(120), start=1) if line.startswith("{")]
    small, large = ScanCache(limit=5), ScanCache()
    for start in range(0, len(records), 10):  # chunks, as validate_dataset reads them
        chunk = records[start:start + 10]
        a, b = scan_records(chunk, small), scan_records(chunk, large)
        assert (a.by_line, a.by_entity, a.locales_by_line) == (b.by_line, b.by_entity, b.locales_by_line)
    assert len(small.findings) < len(large.findings)


def test_big_buckets_of_near_copies_give_what_the_lsh_pass_gives(tmp_path: Path) -> None:
    """Hundreds of near copies of a few tables (every pair in one LSH bucket): the streaming duplicate pass gives
    the line-by-line LSH pass's answer without listing every pair."""
    from datapilot_pipeline.lib.validation.dedup import StreamingDuplicates, find_duplicates

    rng = random.Random(11)
    bases = [" ".join(f"w{rng.randrange(500)}" for _ in range(120)) for _ in range(3)]
    items = []
    for line in range(1, 451):
        words = bases[line % 3].split()
        for _ in range(rng.choice([1, 2, 6, 40])):  # a few words changed: near, or (at 40) not so near
            words[rng.randrange(len(words))] = f"x{rng.randrange(10**6)}"
        items.append((line, " ".join(words)))
    items.append((451, items[7][1]))  # and one exact copy
    streaming = StreamingDuplicates(tmp_path)
    for start in range(0, len(items), 100):
        streaming.add(items[start:start + 100])
    got, want = streaming.result(), find_duplicates(items)
    assert (got.exact, got.near, got.pairs) == (want.exact, want.near, want.pairs)
    assert len(got.near) > 200 and got.exact == [451]
