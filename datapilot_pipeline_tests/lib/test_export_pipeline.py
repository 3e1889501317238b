"""The export end to end: every format parsed back, no split leakage, determinism, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapilot_pipeline.lib.evidence import check_output
from datapilot_pipeline.lib.export.formats import openai_chat_problems
from datapilot_pipeline.lib.export.pipeline import (
    ExportOptions, default_output, export_dataset, holdout_path_for, validation_path_for,
)
from datapilot_pipeline.lib.prompts import PROMPT_VERSION, SYSTEM_PROMPT, extract_task_eda, recipe_path_for
from datapilot_pipeline_tests.lib.export_fixtures import item, make_feedback, make_seed, many_jobs

SEEDS = [make_seed("s1", "seed_a.csv", ("outlier",)), make_seed("s2", "seed_b.csv", ("trend", "quality")),
         make_seed("s3", "table_3.csv", ("segment",))]


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _export(out: Path, feedbacks=None, formats=("prompt-completion", "openai-chat", "bedrock", "preference"), **opts):
    feedbacks = feedbacks if feedbacks is not None else many_jobs(40)
    targets = {fmt: out / f"{fmt}.jsonl" for fmt in formats}
    return export_dataset(feedbacks, SEEDS, ExportOptions(**opts), targets, out / "holdout.jsonl")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    jobs = many_jobs(40, tables=30)  # 30 tables: 4 fall in the holdout, 2 in validation by their identities
    jobs[0] = make_feedback(job_id=jobs[0].job_id, eda=jobs[0].compact_eda.model_dump(),
                            output=jobs[0].llm_output.model_dump(exclude_none=True),
                            items=[item("i1", "approve", 5), item("i2", "reject", 1)])
    return _export(tmp_path_factory.mktemp("export"), jobs)


def test_prompt_completion_lines(result):
    rows = _read(result.paths["prompt-completion"])
    table_3_held_out = any(r["compact_eda"]["dataset"]["name"] == "table_3.csv" for r in _read(result.paths["holdout"]))
    assert len(rows) == result.per_split["train"] + result.per_split["validation"] == result.lines["prompt-completion"]
    assert {r["metadata"]["split"] for r in rows} == {"train", "validation"}
    for row in rows:
        meta = row["metadata"]
        assert set(row) == {"prompt", "completion", "metadata"}
        assert row["prompt"].startswith(SYSTEM_PROMPT)
        assert meta["prompt_length"] == len(row["prompt"]) and meta["completion_length"] == len(row["completion"])
        assert meta["prompt_version"] == PROMPT_VERSION and meta["shot_count"] == len(meta["shot_ids"])
        assert len(meta["shot_ids"]) == (2 if meta["dataset_name"] == "table_3.csv" or table_3_held_out else 3)
        assert meta["approved_insight_count"] == len(json.loads(row["completion"])["insights"])
        eda = extract_task_eda(row["prompt"])
        assert eda["dataset"]["name"] == meta["dataset_name"]
        assert check_output(row["completion"], eda).schema_pass
        if meta["dataset_name"] == "table_3.csv":  # the seed of the same table is never a shot
            assert "s3" not in meta["shot_ids"]
    assert rows == sorted(rows, key=lambda r: (r["metadata"]["split"] != "train", r["metadata"]["job_id"]))


def test_prompt_completion_loads_with_datasets(result, tmp_path):
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(result.paths["prompt-completion"]), split="train",
                      cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == result.lines["prompt-completion"]
    assert {"prompt", "completion", "metadata"} <= set(ds.column_names)
    assert sorted(set(ds["metadata"][i]["split"] for i in range(ds.num_rows))) == ["train", "validation"]


def test_chat_formats_follow_the_rules(result):
    chat = _read(result.paths["openai-chat"]) + _read(result.paths["openai-chat/validation"])
    assert len(chat) == result.lines["prompt-completion"]
    for line in chat:
        assert openai_chat_problems(line) == []
        assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant"]
    for line in _read(result.paths["bedrock"]):
        assert set(line) == {"system", "messages"} and line["system"] == SYSTEM_PROMPT
        assert [m["role"] for m in line["messages"]] == ["user", "assistant"]
        assert all(isinstance(m["content"], str) and m["content"] for m in line["messages"])


@pytest.mark.parametrize("line, problem", [
    ({"messages": [{"role": "user", "content": "x"}]}, "no assistant message"),
    ({"messages": [{"role": "assistant", "content": "x"}], "metadata": {}}, "unexpected top-level key"),
    ({"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}, "role 'bot'"),
    ({"messages": [{"role": "user", "content": ["x"]}, {"role": "assistant", "content": "y"}]}, "content must be"),
    ({"messages": [{"role": "assistant", "content": "y", "extra": 1}]}, "unexpected key 'extra'"),
    ({"messages": []}, "non-empty list"),
])
def test_openai_checker_catches_each_rule(line, problem):
    assert any(problem in p for p in openai_chat_problems(line))


def test_preference_pairs_only_where_reviewers_changed_something(result):
    pairs = _read(result.paths["preference"]) + _read(result.paths["preference/validation"])
    assert len(pairs) == result.n_preference_pairs == 1
    (pair,) = pairs
    assert set(pair) == {"prompt", "chosen", "rejected"} and pair["chosen"] != pair["rejected"]
    assert len(json.loads(pair["chosen"])["insights"]) == 1 and len(json.loads(pair["rejected"])["insights"]) == 2


def test_holdout_is_seed_format_and_never_trained_on(result):
    holdout = _read(result.paths["holdout"])
    assert len(holdout) == result.per_split["holdout"] > 0
    assert all(set(r) == {"example_id", "compact_eda", "output"} for r in holdout)
    train_rows = _read(result.paths["prompt-completion"])
    tables = {split: set() for split in ("train", "validation")}
    for r in train_rows:
        tables[r["metadata"]["split"]].add(r["metadata"]["dataset_name"])
    holdout_tables = {r["compact_eda"]["dataset"]["name"] for r in holdout}
    assert not tables["train"] & tables["validation"] and not holdout_tables & (tables["train"] | tables["validation"])
    held_ids = {r["example_id"] for r in holdout}
    assert not held_ids & {r["metadata"]["job_id"] for r in train_rows}


def test_same_inputs_give_byte_identical_files(tmp_path):
    a = _export(tmp_path / "a", list(reversed(many_jobs(40))))
    b = _export(tmp_path / "b", many_jobs(40))
    for role in a.paths:
        assert a.paths[role].read_bytes() == b.paths[role].read_bytes()
    assert a.sha256 == b.sha256
    held = {seed: _export(tmp_path / f"s{seed}", many_jobs(80, tables=40), seed=seed).sha256["holdout"]
            for seed in (0, 1)}
    assert held[0] == held[1]  # splits follow table identities; the seed only drives --sample


def test_sample_takes_n_examples(tmp_path):
    res = _export(tmp_path, many_jobs(40), sample=10)
    assert res.n_exported == 10 and res.n_sampled_out == 30


def test_a_failed_export_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    first = _export(tmp_path, formats=("prompt-completion",))
    before = first.paths["prompt-completion"].read_bytes()
    import datapilot_pipeline.lib.export.formats as formats

    calls = {"n": 0}
    real = formats.prompt_completion_line

    def dies_midway(ex):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(ex)

    monkeypatch.setitem(formats.BUILDERS, "prompt-completion", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        _export(tmp_path, formats=("prompt-completion",), seed=3)
    assert first.paths["prompt-completion"].read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left behind


def test_default_names_are_new_for_every_export():
    import re

    root = Path("/w/data/finetune_ready")
    assert default_output(root, "prompt-completion", "T_x") == root / "finetune_T_x.jsonl"
    assert default_output(root, "openai-chat", "T_x") == root / "finetune_chat_T_x.jsonl"
    names = {default_output(root, "prompt-completion").name for _ in range(50)}
    assert len(names) == 50  # two exports in one second never share a file
    assert all(re.fullmatch(r"finetune_\d{8}T\d{6}Z_[0-9a-f]{8}\.jsonl", n) for n in names)
    assert holdout_path_for(root / "finetune_T_x.jsonl") == root / "finetune_T_x_holdout.jsonl"
    assert holdout_path_for(Path("out/mine.jsonl")) == Path("out/mine_holdout.jsonl")
    assert recipe_path_for(Path("out/mine.jsonl")) == Path("out/mine_recipe.json")
    assert validation_path_for(Path("out/chat.jsonl")) == Path("out/chat_validation.jsonl")


def test_discard_reasons_and_counts_reported(tmp_path):
    jobs = many_jobs(6) + [make_feedback(job_id="low", overall=2), make_feedback(job_id="rej", items=[
        item("i1", "reject", 1), item("i2", "reject", 1), item("i3", "reject", 1)])]
    res = _export(tmp_path, jobs)
    assert res.discarded == {"insight_rejected": 3, "job_low_overall_score": 1, "job_no_insight_kept": 1}
    assert res.n_exported == 6 and sum(res.per_split.values()) == 6
    assert sum(sum(c.values()) for c in res.per_category.values()) == 6
