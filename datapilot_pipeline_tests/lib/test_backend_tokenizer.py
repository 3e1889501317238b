"""A token budget travels to worker processes as its tokenizer's backend (`TokenBudget.portable`) and counts there
what the loaded tokenizer counts, without transformers or torch; a tokenizer it cannot be rebuilt for (a chat
template, ids that differ) travels as its folder, checked against its sha256 where it arrives."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.export import ExportOptions, export_dataset, load_seeds
from datapilot_pipeline.lib.export import pipeline
from datapilot_pipeline.lib.export.pipeline import default_output, holdout_path_for
from datapilot_pipeline.lib.export.workspace import export_settings
from datapilot_pipeline.lib.generation import token_budget
from datapilot_pipeline.lib.generation.backend_tokenizer import BackendTokenizer, rebuilt, rebuilt_in_child
from datapilot_pipeline.lib.generation.token_budget import TokenBudget, TokenizerMismatchError, target_tokenizer_dir
from datapilot_pipeline.lib.paths import Workspace
from datapilot_pipeline.lib.synthetic import generate_feedback
from datapilot_pipeline.lib.validation.tokens import TokenCounter
from datapilot_pipeline.lib.workers import ordered_map
from datapilot_pipeline_tests.lib.test_line_tokens import _faker_texts


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def budget(workspace) -> TokenBudget:
    return TokenBudget.load(target_tokenizer_dir(None, workspace), 1024)


@pytest.fixture(scope="module")
def feedbacks() -> list[FeedbackFile]:
    return [FeedbackFile.model_validate(f) for f in generate_feedback(48, seed=9)]


@pytest.fixture(scope="module")
def exported(workspace, feedbacks) -> list[dict]:
    out = default_output(workspace.finetune_ready, "prompt-completion")
    export_dataset(feedbacks, load_seeds(workspace.seed_examples_path()), ExportOptions(),
                   {"prompt-completion": out}, holdout_path_for(out), **export_settings(workspace, None, 4096))
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _with_chat_template(source: Path, folder: Path) -> Path:
    shutil.copytree(source, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_the_portable_budget_counts_what_the_loaded_one_counts(budget, exported):
    light = budget.portable()
    assert isinstance(light.tokenizer, BackendTokenizer) and not isinstance(budget.tokenizer, BackendTokenizer)
    assert (light.max_length, light.tokenizer_hash, light.tokenizer_path) == \
        (budget.max_length, budget.tokenizer_hash, budget.tokenizer_path)
    for row in exported:
        assert light.measure(row["prompt"], row["completion"]) == budget.measure(row["prompt"], row["completion"])
        assert light.prompt_tokens(row["prompt"]) == budget.prompt_tokens(row["prompt"])
        assert light.fits(row["prompt"], row["completion"]) == budget.fits(row["prompt"], row["completion"])
    texts = [r["prompt"] for r in exported] + [r["completion"] for r in exported] + _faker_texts(20)
    assert TokenCounter(budget=light).count(texts) == TokenCounter(budget=budget).count(texts)
    assert sum(light.measure(r["prompt"], r["completion"])[0] for r in exported) > 1000 * len(exported) // 4


def test_a_tokenizer_that_adds_tokens_around_a_sequence_is_rebuilt_with_them(budget):
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(budget.tokenizer.backend_tokenizer.to_str())
    bos, eos = budget.tokenizer.bos_token, budget.tokenizer.eos_token
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, backend.token_to_id(bos))])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos)
    light = rebuilt(wrapped)
    assert light is not None and light.num_special_tokens_to_add() == 1
    whole, portable = TokenBudget(wrapped, 4096, "x", "0"), TokenBudget(light, 4096, "x", "0")
    for text in _faker_texts(3):
        assert portable.measure(text, "{}") == whole.measure(text, "{}")
        assert portable.prompt_tokens(text) == whole.prompt_tokens(text) == len(wrapped(text)["input_ids"])


def test_a_tokenizer_whose_ids_differ_from_its_backends_is_not_rebuilt(budget):
    class Reversed:  # a tokenizer that post-edits what its backend gives: rebuilding the backend would count wrong
        backend_tokenizer, is_fast, chat_template = budget.tokenizer.backend_tokenizer, True, None
        eos_token = budget.tokenizer.eos_token

        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": budget.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"][::-1]}

        def num_special_tokens_to_add(self, pair=False):
            return 0

    assert rebuilt(Reversed()) is None
    assert rebuilt(budget.tokenizer) is not None  # the check itself passes for the real one


def test_a_worker_counts_with_the_portable_form_without_transformers(budget, exported, tmp_path: Path):
    sent = tmp_path / "budget.pickle"
    sent.write_bytes(pickle.dumps(budget))
    assert len(sent.read_bytes()) < 2 * len(budget.tokenizer.backend_tokenizer.to_str())  # the backend, no model
    rows = exported[:5]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    code = (
        "import json, pickle, sys\n"
        f"budget = pickle.loads(open({str(sent)!r}, 'rb').read())\n"
        f"again = pickle.loads(open({str(sent)!r}, 'rb').read())\n"
        f"rows = json.loads(open({str(tmp_path / 'rows.json')!r}).read())\n"
        "print(json.dumps({'counts': [budget.measure(r['prompt'], r['completion']) for r in rows],"
        " 'same': again is budget, 'kind': type(budget.tokenizer).__name__,"
        " 'loaded': sorted(m for m in ('transformers', 'torch') if m in sys.modules)}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    reply = json.loads(out.stdout)
    assert reply["kind"] == "BackendTokenizer" and reply["loaded"] == [] and reply["same"] is True
    assert [tuple(c) for c in reply["counts"]] == [budget.measure(r["prompt"], r["completion"]) for r in rows]


def test_a_chat_template_budget_travels_as_its_folder_checked_by_sha256(budget, tmp_path: Path, monkeypatch):
    folder = _with_chat_template(Path(budget.tokenizer_path), tmp_path / "chat")
    chat = TokenBudget.load(folder, 1024)
    assert chat.portable() is None
    monkeypatch.setattr(token_budget, "_RECEIVED", {})
    data = pickle.dumps(chat)
    arrived = pickle.loads(data)
    assert arrived is not chat and not isinstance(arrived.tokenizer, BackendTokenizer)
    assert arrived.measure("a\nb", "{}") == chat.measure("a\nb", "{}") != budget.measure("a\nb", "{}")
    monkeypatch.setattr(token_budget, "_RECEIVED", {})
    (folder / "tokenizer_config.json").write_text((folder / "tokenizer_config.json").read_text().replace("<|", "<"))
    with pytest.raises(TokenizerMismatchError):  # the folder changed after the budget was loaded from it
        pickle.loads(data)


def test_a_counting_process_loads_the_tokenizer_in_a_child_and_never_imports_transformers(budget, exported,
                                                                                         tmp_path: Path):
    rows = exported[:5]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    chat = _with_chat_template(Path(budget.tokenizer_path), tmp_path / "chat")
    code = (
        "import json, sys\n"
        "from datapilot_pipeline.lib.generation.token_budget import TokenBudget\n"
        f"light = TokenBudget.load_for_counting({budget.tokenizer_path!r}, 1024)\n"
        f"rows = json.loads(open({str(tmp_path / 'rows.json')!r}).read())\n"
        "report = {'counts': [light.measure(r['prompt'], r['completion']) for r in rows],"
        " 'kind': type(light.tokenizer).__name__, 'sha256': light.tokenizer_hash,"
        " 'loaded': sorted(m for m in ('transformers', 'torch') if m in sys.modules)}\n"
        f"chat = TokenBudget.load_for_counting({str(chat)!r}, 1024)\n"
        "report['chat'] = [type(chat.tokenizer).__name__, 'transformers' in sys.modules]\n"
        "print(json.dumps(report))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    reply = json.loads(out.stdout)
    assert reply["kind"] == "BackendTokenizer" and reply["loaded"] == [] and reply["sha256"] == budget.tokenizer_hash
    assert [tuple(c) for c in reply["counts"]] == [budget.measure(r["prompt"], r["completion"]) for r in rows]
    assert reply["chat"][0] != "BackendTokenizer" and reply["chat"][1] is True  # a chat template: loaded here


def test_the_child_rebuilds_the_tokenizer_or_says_in_one_line_why_it_cannot(budget, tmp_path: Path):
    light = rebuilt_in_child(budget.tokenizer_path)
    assert light.backend_json == budget.tokenizer.backend_tokenizer.to_str() and light.eos_token == "<|eos|>"
    assert rebuilt_in_child(_with_chat_template(Path(budget.tokenizer_path), tmp_path / "chat")) is None
    broken = shutil.copytree(budget.tokenizer_path, tmp_path / "broken")
    (broken / "tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"cannot load the tokenizer in .*broken: ") as exc:
        rebuilt_in_child(broken)
    assert "\n" not in str(exc.value)


def _export(workspace, feedbacks, folder: Path, workers: int | None, base_model: str | None = None) -> dict:
    """`export_dataset` with `workers` processes; None: the in-memory export before streaming (`bench.baseline`),
    which fits each line in one pass, with no worker and no ids carried between passes."""
    from bench.baseline.export_in_memory import export_dataset as in_memory

    out = folder / "finetune.jsonl"
    settings = export_settings(workspace, base_model, 4096)
    export, kwargs = (in_memory, {}) if workers is None else (export_dataset, {"workers": workers})
    result = export(feedbacks, load_seeds(workspace.seed_examples_path()), ExportOptions(),
                    {"prompt-completion": out}, holdout_path_for(out), **kwargs, **settings)
    return {"sha256": result.sha256, "exported": result.n_exported, "per_split": result.per_split,
            "shots": result.shots_per_prompt, "recipe": result.recipe}


@pytest.mark.parametrize("chat", [False, True])
def test_workers_measure_and_fit_with_the_budget_and_write_what_one_process_writes(workspace, feedbacks, budget,
                                                                                  tmp_path, monkeypatch, chat):
    """The demo budget is measured in the workers (pass 1) and fitted there (pass 2, with the first pass's ids of each
    line); one with a chat template is measured and fitted in this process. Either way the bytes are those of one
    process, and of the in-memory export."""
    base = None
    if chat:
        base = str(_with_chat_template(target_tokenizer_dir(None, workspace), tmp_path / "chat_base"))
    monkeypatch.setattr(pipeline, "MASK_CHUNK", 6)
    monkeypatch.setattr(pipeline, "LINES_CHUNK", 5)
    monkeypatch.setattr(pipeline, "INLINE_CHUNKS", 1)
    alone = _export(workspace, feedbacks, tmp_path / "one", workers=1, base_model=base)
    assert alone == _export(workspace, feedbacks, tmp_path / "in_memory", workers=None, base_model=base)
    pooled, here = [], []
    real_zero_shot = pipeline._zero_shot

    def counted_map(fn, items, n, *args, **kwargs):
        pooled.append(getattr(fn, "func", fn).__name__)
        return ordered_map(fn, items, n, *args, **kwargs)

    def counted_zero_shot(p, b):  # calls in this process only: a worker's are its own
        here.append(p.job_id)
        return real_zero_shot(p, b)

    monkeypatch.setattr(pipeline, "ordered_map", counted_map)
    monkeypatch.setattr(pipeline, "_zero_shot", counted_zero_shot)
    shared = _export(workspace, feedbacks, tmp_path / "two", workers=2, base_model=base)
    assert shared == alone and alone["exported"] > 20 and alone["recipe"].tokenizer_sha256
    trainable = alone["per_split"]["train"] + alone["per_split"]["validation"]
    if chat:  # every line measured here, the lines written here
        assert pooled == ["_consensus_chunk"] and len(here) >= trainable
    else:  # more chunks than the inline ones: every line measured in the workers, none here
        assert pooled == ["_consensus_chunk", "_lines_chunk"] and here == [] and trainable > pipeline.MASK_CHUNK
