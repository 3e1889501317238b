"""The streaming export writes the bytes the in-memory export wrote (`bench.baseline.export_in_memory`, the code
before streaming), from a store of a few hundred jobs plus inbox files not ingested yet, and publishes its files
together or not at all."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from bench.baseline import export_in_memory as baseline
from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.atomic import atomic_write_json
from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.export import ExportOptions, NothingToExport, export_dataset, holdout_path_for
from datapilot_pipeline.lib.export import pipeline
from datapilot_pipeline.lib.export.splits import split_of, table_identity
from datapilot_pipeline.lib.export.workspace import export_settings
from datapilot_pipeline.lib.feedback.inbox import drop_repeated_ids, feedback_filename, load_inbox
from datapilot_pipeline.lib.feedback.ingest import ingest_inbox, iter_stored_groups, stored_reviews
from datapilot_pipeline.lib.paths import Workspace
from datapilot_pipeline.lib.synthetic import generate_feedback, write_feedback_files
from datapilot_pipeline.lib.workers import ordered_map

N_JOBS = 60


def _held_out(fb: FeedbackFile) -> bool:
    return split_of(table_identity(fb.compact_eda.model_dump())) == "holdout"


def _seeds(feedbacks: list[FeedbackFile], path: Path | None = None) -> list[dict]:
    """Seeds cut from real jobs (their ids and tables), two of them held-out jobs: the holdout bans those."""
    picked = feedbacks[:18:3] + [fb for fb in feedbacks if _held_out(fb)][:2]
    seeds = [{"example_id": fb.job_id, "compact_eda": fb.compact_eda.model_dump(),
              "output": fb.llm_output.model_dump(exclude_none=True)} for fb in picked]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(s) + "\n" for s in seeds))
    return seeds


def _deliver(inbox: Path, feedback: FeedbackFile) -> None:
    atomic_write_json(inbox / feedback_filename(feedback.job_id, feedback.created_at, feedback.feedback_id),
                      feedback.model_dump(mode="json"))


@pytest.fixture(scope="module")
def feedbacks() -> list[FeedbackFile]:
    return [FeedbackFile.model_validate(d) for d in generate_feedback(N_JOBS, seed=11)]


def test_the_cli_export_from_a_store_and_inbox_writes_the_in_memory_bytes(home, capsys, feedbacks):
    ws = Workspace(home)
    write_feedback_files(ws.inbox, N_JOBS, seed=11)
    ingest_inbox(ws.inbox, ws.feedback_dir, settle_s=0)
    stored = stored_reviews(ws.feedback_dir)
    assert len(stored) == len(feedbacks) and not list(ws.inbox.iterdir())
    # Not ingested yet: second opinions on stored jobs, a new job, a duplicate delivery and a conflicting one.
    for k, fb in enumerate(feedbacks[5:25:5]):
        _deliver(ws.inbox, fb.model_copy(update={"feedback_id": str(uuid.UUID(int=k + 1)), "reviewer_id": f"late_{k}",
                                                 "created_at": "2027-01-01T00:00:00Z", "overall_score": 5}))
    _deliver(ws.inbox, feedbacks[7].model_copy(update={"job_id": "zz_new_job", "feedback_id": str(uuid.UUID(int=99))}))
    _deliver(ws.inbox, feedbacks[3])
    _deliver(ws.inbox, feedbacks[4].model_copy(update={"overall_score": 1}))
    _seeds(feedbacks, ws.finetune_samples / "seed_examples.jsonl")  # the workspace copy, never the packaged one

    out = home / "streamed.jsonl"
    assert main(["export", "--output", str(out), "--max-length", "4096"]) == 0
    printed = capsys.readouterr().out
    assert f"{len(feedbacks)} from the feedback store" in printed and "7 feedback files from the inbox" in printed
    assert "1 bad files skipped, 1 duplicate deliveries skipped" in printed  # the conflicting delivery is bad

    good, _bad = load_inbox(ws.inbox)
    kept, _dups, _conflicts = drop_repeated_ids(stored + good)
    reference = home / "in_memory.jsonl"
    old = baseline.export_dataset([fb for _, fb in kept], _seeds(feedbacks), ExportOptions(),
                                  {"prompt-completion": reference}, holdout_path_for(reference),
                                  **export_settings(ws, None, 4096))
    assert out.read_bytes() == reference.read_bytes()
    assert holdout_path_for(out).read_bytes() == holdout_path_for(reference).read_bytes()
    assert out.with_name("streamed_recipe.json").read_bytes() == reference.with_name("in_memory_recipe.json").read_bytes()
    assert f"exported {old.n_exported} jobs" in printed
    recipe = json.loads(out.with_name("streamed_recipe.json").read_text())
    assert recipe["shot_ids"] and recipe["completion_reserve"] > 0
    # the branches that make streaming hard were taken: seeds banned by the holdout, prompts with fewer shots
    held = {json.loads(r)["example_id"] for r in holdout_path_for(out).read_text().splitlines()}
    assert held & {s["example_id"] for s in _seeds(feedbacks)} and not held & set(recipe["shot_ids"])
    assert any(int(n) < 3 for n in old.shots_per_prompt), old.shots_per_prompt
    assert f"{len(feedbacks) + 5} reviews kept" in printed  # 4 second opinions and the new job joined the store's


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("opts, formats", [
    ({}, ("prompt-completion", "openai-chat")),
    ({"sample": 25, "seed": 3, "shot_count": 2}, ("prompt-completion", "preference")),
])
def test_the_api_export_writes_the_in_memory_bytes(tmp_path, feedbacks, opts, formats, workers, monkeypatch):
    """With two worker processes too: reviews parsed, consensus taken and strings masked there (sampled: masked
    there), then the lines written there, chunk by chunk, give the same files, counts and discards."""
    monkeypatch.setattr(pipeline, "MASK_CHUNK", 7)  # many chunks: masking must not depend on what is masked with it
    monkeypatch.setattr(pipeline, "LINES_CHUNK", 5)
    monkeypatch.setattr(pipeline, "INLINE_CHUNKS", 1)  # more than one chunk: workers from the first
    pooled = []

    def counted_map(fn, items, n, *args, **kwargs):
        pooled.append((getattr(fn, "func", fn).__name__, n))
        return ordered_map(fn, items, n, *args, **kwargs)

    monkeypatch.setattr(pipeline, "ordered_map", counted_map)
    seeds = _seeds(feedbacks)
    results = {}
    for name, export in (("new", export_dataset), ("old", baseline.export_dataset)):
        folder = tmp_path / name
        targets = {fmt: folder / f"{fmt}.jsonl" for fmt in formats}
        kwargs = {"workers": workers} if name == "new" else {}
        results[name] = export(feedbacks, seeds, ExportOptions(**opts), targets, folder / "holdout.jsonl", **kwargs)
    new, old = results["new"], results["old"]
    expected_work = "_mask_chunk" if "sample" in opts else "_consensus_chunk"
    assert pooled == ([(expected_work, 2), ("_lines_chunk", 2)] if workers == 2 else [])
    assert new.summary() | {"paths": None} == old.summary() | {"paths": None}
    assert new.sha256 == old.sha256 and new.lines == old.lines and len(new.sha256) >= 3
    for role, path in old.paths.items():
        assert new.paths[role].read_bytes() == path.read_bytes(), role
    if "sample" in opts:
        assert new.n_sampled_out > 0 and new.n_exported <= opts["sample"]


def test_a_failed_export_publishes_nothing(tmp_path, feedbacks, monkeypatch):
    def broken(row):
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(pipeline.BUILDERS, "openai-chat", broken)
    folder = tmp_path / "out"
    with pytest.raises(OSError):
        export_dataset(feedbacks, _seeds(feedbacks), ExportOptions(),
                       {"prompt-completion": folder / "ft.jsonl", "openai-chat": folder / "chat.jsonl"},
                       folder / "ft_holdout.jsonl")
    assert sorted(p.name for p in folder.iterdir()) == []  # no dataset, holdout, recipe, temp or spill file


def test_nothing_eligible_keeps_the_discard_counts(tmp_path, feedbacks):
    low = [fb.model_copy(update={"overall_score": 1}) for fb in feedbacks[:20]]
    with pytest.raises(NothingToExport) as exc:
        export_dataset(low, [], ExportOptions(shot_count=0), {"prompt-completion": tmp_path / "x.jsonl"},
                       tmp_path / "x_holdout.jsonl")
    assert exc.value.discarded.get("job_low_overall_score") and not list(tmp_path.iterdir())


def test_the_store_is_streamed_job_by_job_in_job_id_order(home, feedbacks):
    ws = Workspace(home)
    write_feedback_files(ws.inbox, 60, seed=11)
    ingest_inbox(ws.inbox, ws.feedback_dir, settle_s=0)
    groups = list(iter_stored_groups(ws.feedback_dir, batch=7))
    job_ids = [g[0].job_id for g in groups]
    assert job_ids == sorted(set(job_ids)) and all({fb.job_id for fb in g} == {g[0].job_id} for g in groups)
    assert sum(map(len, groups)) == len(stored_reviews(ws.feedback_dir)) and any(len(g) > 1 for g in groups)


def test_tables_forced_into_the_holdout_are_written_as_the_in_memory_export_writes_them(tmp_path, feedbacks,
                                                                                     monkeypatch):
    """A holdout line is encoded where its example was prepared (a worker); a table that the split puts in training
    but an earlier export held out (`forced_holdout`) is encoded by the exporting process. Both give the in-memory
    bytes."""
    monkeypatch.setattr(pipeline, "MASK_CHUNK", 7)
    monkeypatch.setattr(pipeline, "INLINE_CHUNKS", 1)
    trained = [fb for fb in feedbacks if not _held_out(fb)]
    forced = {table_identity(fb.compact_eda.model_dump()) for fb in trained[10:40:6]}
    seeds = _seeds(feedbacks)
    results = {}
    for name, export in (("new", export_dataset), ("old", baseline.export_dataset)):
        folder = tmp_path / name
        kwargs = {"workers": 2} if name == "new" else {}
        results[name] = export(feedbacks, seeds, ExportOptions(), {"prompt-completion": folder / "ft.jsonl"},
                               folder / "ft_holdout.jsonl", forced_holdout=forced, **kwargs)
    new, old = results["new"], results["old"]
    assert new.paths["holdout"].read_bytes() == old.paths["holdout"].read_bytes()
    assert new.sha256 == old.sha256 and new.per_split == old.per_split
    held = {json.loads(line)["example_id"] for line in new.paths["holdout"].read_text().splitlines()}
    forced_jobs = {fb.job_id for fb in trained if table_identity(fb.compact_eda.model_dump()) in forced}
    assert forced_jobs and forced_jobs <= held  # the forced branch was taken, beside jobs held out by their table
    assert held - forced_jobs


@pytest.mark.parametrize("n_chunks", [0, 1, pipeline.INLINE_CHUNKS, pipeline.INLINE_CHUNKS + 1, 12])
def test_a_large_input_goes_to_the_workers_from_its_first_chunk(n_chunks, monkeypatch):
    """Up to `INLINE_CHUNKS` chunks are mapped in this process and no worker starts; with more, every chunk goes to
    the workers (none is mapped here while they start), and the results come back in the input's order either
    way. The input is read ahead by one chunk past the inline ones, no more."""
    here, pooled, read = [], [], []

    def fn(chunk):
        here.append(chunk[0])
        return [x * 10 for x in chunk]

    def in_workers(work, items, n, *args, **kwargs):
        pooled.append(n)
        for item in items:
            yield [x * 10 for x in item]

    def source():
        for k in range(n_chunks):
            read.append(k)
            yield [k, k]

    monkeypatch.setattr(pipeline, "ordered_map", in_workers)
    mapped = pipeline._chunk_map(fn, source(), workers=2)
    first = next(mapped, None)
    assert len(read) == min(n_chunks, pipeline.INLINE_CHUNKS + 1)  # only the chunks needed to tell
    out = ([first] if first is not None else []) + list(mapped)
    assert out == [([k, k], [10 * k, 10 * k]) for k in range(n_chunks)]
    if n_chunks > pipeline.INLINE_CHUNKS:
        assert pooled == [2] and here == []
    else:
        assert pooled == [] and here == list(range(n_chunks))
