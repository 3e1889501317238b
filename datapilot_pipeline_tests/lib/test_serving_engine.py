"""The serving engine against `lib.generation.modeling.generate` (the evaluation's decoding) on a tiny untrained model: the same
greedy and schema-constrained replies while requests join and leave the batch, and each request's own bound, stop
strings, sampling settings and token counts."""

from __future__ import annotations

import json

import pytest

from datapilot_pipeline.lib.serving.engine import Engine, Job
from datapilot_pipeline_tests.serving_fixtures import build_untrained_model, prompts


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    import torch

    from datapilot_pipeline.lib.generation.modeling import load_causal_lm

    torch.manual_seed(0)
    return load_causal_lm(build_untrained_model(tmp_path_factory.mktemp("serving") / "base"))


def _ids(tokenizer, text: str) -> tuple[int, ...]:
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])


def _run(engine: Engine, jobs: list[Job], join_at: dict[int, int] | None = None) -> dict:
    """Run `jobs` to the end; job k joins after `join_at[k]` steps (default: at once). Returns key -> [updates]."""
    join_at = join_at or {}
    waiting = {k: job for k, job in enumerate(jobs)}
    out: dict[int, list] = {k: [] for k in waiting}
    step = 0
    while waiting or engine.rows:
        ready = [(k, job) for k, job in waiting.items() if join_at.get(k, 0) <= step][: engine.capacity]
        for k, _ in ready:
            del waiting[k]
        updates = (engine.add(ready) if ready else []) + engine.step()
        for update in updates:
            out[update.key].append(update)
        step += 1
    return out


def _final(updates: list) -> tuple[str, str, int]:
    assert [u.finish_reason for u in updates[:-1]] == [None] * (len(updates) - 1)
    return "".join(u.text for u in updates), updates[-1].finish_reason, updates[-1].completion_tokens


def test_greedy_replies_match_the_evaluation_while_requests_join_and_leave(lm):
    from datapilot_pipeline.lib.generation.modeling import generate

    model, tokenizer = lm
    texts = prompts(4)
    bounds = [12, 5, 9, 12]
    reference = [generate(model, tokenizer, [t], max_new_tokens=b, batch_size=1)[0] for t, b in zip(texts, bounds)]
    engine = Engine(model, tokenizer, max_batch_size=3)
    jobs = [Job(input_ids=_ids(tokenizer, t), max_tokens=b) for t, b in zip(texts, bounds)]
    # 0 and 1 start together, 2 joins mid-reply, 3 waits for a free slot (batch of 3)
    out = _run(engine, jobs, join_at={2: 3, 3: 4})
    for k, job in enumerate(jobs):
        text, finish, produced = _final(out[k])
        assert text == reference[k]
        assert out[k][-1].prompt_tokens == len(job.input_ids)
        assert (finish, produced) in (("length", bounds[k]), ("stop", produced)) and produced <= bounds[k]
    assert engine.rows == [] and engine.capacity == 3


def test_schema_constrained_replies_match_the_evaluation_and_parse(lm):
    from datapilot_pipeline.lib.generation.decoding import fit_bounds, max_output_bytes, output_schema
    from datapilot_pipeline.lib.generation.guided import compile_grammar
    from datapilot_pipeline.lib.generation.modeling import generate

    model, tokenizer = lm
    schema = output_schema(fit_bounds(300))
    bound = max_output_bytes(schema) + 1
    texts = prompts(2)
    reference = generate(model, tokenizer, texts, max_new_tokens=bound, batch_size=1, schemas=schema)
    engine = Engine(model, tokenizer, max_batch_size=2)
    jobs = [Job(input_ids=_ids(tokenizer, t), max_tokens=bound, grammar=compile_grammar(schema)) for t in texts]
    out = _run(engine, jobs, join_at={1: 2})
    for k in range(2):
        text, finish, _ = _final(out[k])
        assert text == reference[k] and finish == "stop"
        assert json.loads(text)["insights"][0]["id"] == "i1"


def test_a_reply_cut_by_its_bound_says_length_and_counts_exactly(lm):
    model, tokenizer = lm
    engine = Engine(model, tokenizer, max_batch_size=2)
    ids = _ids(tokenizer, prompts(1)[0])
    out = _run(engine, [Job(input_ids=ids, max_tokens=1), Job(input_ids=ids, max_tokens=7, stream=True)])
    assert [(u.finish_reason, u.completion_tokens) for u in out[0]] == [("length", 1)]
    assert out[1][-1].finish_reason == "length" and out[1][-1].completion_tokens == 7
    assert len(out[1]) > 1  # streamed: more than the final update


def test_stop_strings_cut_the_reply_before_them(lm):
    model, tokenizer = lm
    engine = Engine(model, tokenizer)
    ids = _ids(tokenizer, prompts(1)[0])
    full, _, _ = _final(_run(engine, [Job(input_ids=ids, max_tokens=16)])[0])
    stop = full[len(full) // 2: len(full) // 2 + 2]
    assert len(stop) == 2
    for stream in (False, True):
        text, finish, produced = _final(_run(engine, [Job(input_ids=ids, max_tokens=16, stop=(stop, "\x00never"),
                                                          stream=stream)])[0])
        assert text == full[: full.index(stop)] and finish == "stop" and produced < 16


def test_streamed_pieces_add_up_to_the_plain_reply(lm):
    model, tokenizer = lm
    engine = Engine(model, tokenizer)
    ids = _ids(tokenizer, prompts(2)[1])
    plain = _run(engine, [Job(input_ids=ids, max_tokens=10)])[0]
    streamed = _run(engine, [Job(input_ids=ids, max_tokens=10, stream=True)])[0]
    assert len(plain) == 1 and len(streamed) > 1
    assert _final(streamed) == _final(plain)


def test_sampling_is_reproducible_by_seed_and_top_p_keeps_only_the_top_token(lm):
    model, tokenizer = lm
    engine = Engine(model, tokenizer, max_batch_size=4)
    ids = _ids(tokenizer, prompts(1)[0])
    greedy = Job(input_ids=ids, max_tokens=20)
    seeded = Job(input_ids=ids, max_tokens=20, temperature=1.5, seed=7)
    other = Job(input_ids=ids, max_tokens=20, temperature=1.5, seed=8)
    narrow = Job(input_ids=ids, max_tokens=20, temperature=1.5, top_p=1e-9, seed=9)
    out = _run(engine, [greedy, seeded, other, narrow])
    again = _run(engine, [seeded])
    texts = [_final(out[k])[0] for k in range(4)]
    assert _final(again[0])[0] == texts[1]  # same seed, same reply (alone or in a batch)
    assert texts[1] != texts[2] and texts[1] != texts[0]  # an untrained model's flat distribution: sampling shows
    assert texts[3] == texts[0]  # top_p this small leaves the greedy token only
