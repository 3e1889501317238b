"""Token ids counted line by line (`lib.generation.line_tokens`) are the ids of the whole text, on the demo base
model's real tokenizer: exported prompts and completions, and Faker text in eight locales cut with every kind of
whitespace; tokenizers the argument does not hold for are tokenized whole."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.bench_tokens import WholeText
from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.export import ExportOptions, export_dataset, load_seeds
from datapilot_pipeline.lib.export.pipeline import default_output, holdout_path_for
from datapilot_pipeline.lib.export.workspace import export_settings
from datapilot_pipeline.lib.generation.line_tokens import LineIds, line_ids, text_ids
from datapilot_pipeline.lib.generation.token_budget import TokenBudget, target_tokenizer_dir
from datapilot_pipeline.lib.paths import Workspace
from datapilot_pipeline.lib.synthetic import generate_feedback

LOCALES = ("en_US", "de_DE", "fr_FR", "ja_JP", "zh_CN", "ru_RU", "ar_AA", "hi_IN")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def budget(workspace) -> TokenBudget:
    return TokenBudget.load(target_tokenizer_dir(None, workspace))


@pytest.fixture(scope="module")
def exported(workspace) -> list[dict]:
    feedbacks = [FeedbackFile.model_validate(f) for f in generate_feedback(40, seed=5)]
    out = default_output(workspace.finetune_ready, "prompt-completion")
    export_dataset(feedbacks, load_seeds(workspace.seed_examples_path()), ExportOptions(),
                   {"prompt-completion": out}, holdout_path_for(out), **export_settings(workspace, None, 4096))
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _faker_texts(n_per_locale: int) -> list[str]:
    from faker import Faker

    rng, texts = random.Random(0), []
    joins = ["\n", "\n\n", " \n", "\n ", "\r\n", "\t\n", "\n\t", ":\n", "\n-", "\n\u00a0", "\u2028", "\n'", "'\n"]
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(7)
        for _ in range(n_per_locale):
            parts = [fake.sentence(), fake.address(), fake.name(), fake.phone_number(), str(fake.pyfloat()),
                     json.dumps({"k": fake.word(), "v": fake.pyint()}, ensure_ascii=False), fake.text(120)]
            rng.shuffle(parts)
            text = parts[0]
            for part in parts[1:]:
                text += rng.choice(joins) + part
            texts.append(text)
    return texts


def test_lines_give_the_whole_texts_ids_on_exported_lines_and_text_nobody_here_wrote(budget, exported):
    tokenizer = budget.tokenizer
    cutter = line_ids(tokenizer)
    assert isinstance(cutter, LineIds)  # the demo base model's tokenizer is one the cut is exact for
    eos = tokenizer.eos_token or ""
    texts = [r["prompt"] for r in exported] + [r["prompt"] + r["completion"] + eos for r in exported]
    texts += [r["completion"] for r in exported] + _faker_texts(40)
    assert len(texts) > 400 and any("\n" in t for t in texts)
    for text in texts:
        assert cutter(text) == list(tokenizer(text)["input_ids"]), text[:200]
    info = cutter._piece.cache_info()
    assert info.hits > info.misses  # shared lines (system prompt, worked examples) were tokenized once


def test_the_budgets_counts_are_the_whole_text_counts(budget, exported):
    from datapilot_pipeline.lib.generation.token_budget import sequence_tokens

    assert line_ids(budget.tokenizer) is not None  # the budget counts line by line
    whole = WholeText(budget.tokenizer)  # the same tokenizer, which `line_ids` does not know: tokenized whole
    assert line_ids(whole) is None  # no backend of its own: never cut
    for row in exported[:40]:
        assert budget.measure(row["prompt"], row["completion"]) == sequence_tokens(whole, row["prompt"],
                                                                                   row["completion"])
        assert budget.prompt_tokens(row["prompt"]) == len(text_ids(whole, row["prompt"]))


def test_a_tokenizer_the_cut_does_not_hold_for_is_tokenized_whole(budget, tmp_path: Path):
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from datapilot_pipeline.lib.generation.modeling import build_tiny_tokenizer

    text = "alpha\nBeta\ngamma's\n{\"k\": 1}"
    tiny = AutoTokenizer.from_pretrained(build_tiny_tokenizer(tmp_path / "tiny", ["a b c"] * 3), local_files_only=True)
    assert line_ids(tiny)(text) == list(tiny(text)["input_ids"])  # the unit tests' tiny byte-level BPE: cut too

    def variant(change) -> PreTrainedTokenizerFast:
        backend = Tokenizer.from_str(budget.tokenizer.backend_tokenizer.to_str())
        change(backend)
        return PreTrainedTokenizerFast(tokenizer_object=backend)

    prefixed = variant(lambda b: setattr(b, "pre_tokenizer", pre_tokenizers.ByteLevel(add_prefix_space=True)))
    lowered = variant(lambda b: setattr(b, "normalizer", normalizers.Lowercase()))
    for tokenizer in (prefixed, lowered):
        assert line_ids(tokenizer) is None
        assert text_ids(tokenizer, text) == list(tokenizer(text)["input_ids"])
    pieces = [prefixed(p, add_special_tokens=False)["input_ids"] for p in ("alpha", "\n", "Beta")]
    assert sum(pieces, []) != prefixed("alpha\nBeta")["input_ids"]  # the cut would have been wrong for it


def test_a_lines_ids_handed_to_another_cutter_are_not_tokenized_again_and_count_the_same(budget, exported):
    first, second = LineIds(budget.tokenizer), LineIds(budget.tokenizer)  # as in two processes
    eos = budget.tokenizer.eos_token
    tokenized: list[str] = []
    real = second._tokenize
    second._tokenize = lambda part: tokenized.append(part) or real(part)
    for row in exported[:20]:
        text = row["prompt"] + row["completion"] + eos
        hints = first.own_pieces([text])
        assert hints and all(len(k) == 2 for k in hints)
        second.hinted(hints)
        tokenized.clear()
        assert second(text) == list(budget.tokenizer(text)["input_ids"])
        assert not any(len(part) >= 256 for part in tokenized)  # the line's own pieces came from the hints
        assert second(row["completion"] + "\n" + row["prompt"]) == list(
            budget.tokenizer(row["completion"] + "\n" + row["prompt"])["input_ids"])  # other texts: unaffected
    second.hinted({})
    assert second._hints == {}
