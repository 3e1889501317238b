"""Constrained-decoding libraries on this project's schema: per-token mask cost, replaying reviewed answers.

    python -m bench.bench_decoding [--base-model DIR] [--answers 6] [--extra-path DIR]

For each library that imports (llguidance is a dependency; xgrammar and lm-format-enforcer are measured when
installed, e.g. `pip install --target DIR --no-deps ...` and `--extra-path DIR`): compile time of the bounded
llm_output schema, then for the tokens of reviewed holdout answers the time to compute each next-token mask
and advance the matcher, and whether every answer is accepted. Also greedy generation with and without the
llguidance constraint on the base model (ms per generated token, batch 4).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def _answers(n: int) -> list[str]:
    from datapilot_pipeline.lib.atomic import dumps_compact
    from datapilot_pipeline.lib.paths import packaged_data

    rows = [json.loads(line) for line in packaged_data("holdout_test.jsonl").read_text().splitlines() if line.strip()]
    return [dumps_compact({"insights": r["output"]["insights"][:4], "summary": r["output"].get("summary") or ""})
            for r in rows[:n]]


def _llguidance(tokenizer, schema, token_lists):
    import llguidance
    import torch

    from datapilot_pipeline.lib.generation.guided import compile_grammar, guidance_tokenizer

    began = time.perf_counter()
    ll = guidance_tokenizer(tokenizer, [tokenizer.eos_token_id])
    grammar = compile_grammar(schema)
    llguidance.LLMatcher(ll, grammar)
    compile_s = time.perf_counter() - began
    mask = torch.full((1, (len(tokenizer) + 31) // 32), -1, dtype=torch.int32)
    spent, steps, accepted = 0.0, 0, 0
    for tokens in token_lists:
        matcher = llguidance.LLMatcher(ll, grammar)
        ok = True
        began = time.perf_counter()
        for token in tokens:
            matcher.unsafe_compute_mask_ptr(mask.data_ptr(), mask.numel() * 4)
            ok = ok and matcher.consume_token(token)
        spent += time.perf_counter() - began
        steps += len(tokens)
        accepted += ok and matcher.is_accepting()
    return compile_s, spent / steps, accepted


def _xgrammar(tokenizer, schema, token_lists):
    import xgrammar as xgr

    began = time.perf_counter()
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
    compiled = xgr.GrammarCompiler(info).compile_json_schema(json.dumps(schema), any_whitespace=False)
    compile_s = time.perf_counter() - began
    mask = xgr.allocate_token_bitmask(1, len(tokenizer))
    spent, steps, accepted = 0.0, 0, 0
    for tokens in token_lists:
        matcher = xgr.GrammarMatcher(compiled)
        ok = True
        began = time.perf_counter()
        for token in tokens:
            matcher.fill_next_token_bitmask(mask)
            ok = ok and matcher.accept_token(token)
        spent += time.perf_counter() - began
        steps += len(tokens)
        accepted += ok
    return compile_s, spent / steps, accepted


def _lmfe(tokenizer, schema, token_lists):
    from lmformatenforcer import JsonSchemaParser, TokenEnforcer
    from lmformatenforcer.integrations.transformers import build_token_enforcer_tokenizer_data

    began = time.perf_counter()
    data = build_token_enforcer_tokenizer_data(tokenizer)
    parser = JsonSchemaParser(schema)
    compile_s = time.perf_counter() - began
    spent, steps, accepted = 0.0, 0, 0
    for tokens in token_lists:
        enforcer = TokenEnforcer(data, parser)
        ok = True
        began = time.perf_counter()
        for i, token in enumerate(tokens):
            ok = ok and token in enforcer.get_allowed_tokens(tokens[:i])
        spent += time.perf_counter() - began
        steps += len(tokens)
        accepted += ok
    return compile_s, spent / steps, accepted


def _generation(model, tokenizer, schema) -> dict[str, float]:
    from datapilot_pipeline.lib.generation.modeling import generate

    out = {}
    for label, constraint in (("free", None), ("llguidance", schema)):
        stats: dict[str, float] = {}
        generate(model, tokenizer, ["### Task\nCompact EDA:\n{}\nInsights:\n"] * 4, max_new_tokens=128,
                 batch_size=4, schemas=constraint, stats=stats)
        out[label] = 1000 * stats["generate_seconds"] / stats["steps"]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-model", type=Path, default=None)
    parser.add_argument("--answers", type=int, default=6)
    parser.add_argument("--extra-path", type=Path, default=None, help="where xgrammar / lm-format-enforcer live")
    args = parser.parse_args(argv)
    if args.extra_path:
        sys.path.append(str(args.extra_path))
    import torch

    from datapilot_pipeline.lib.generation.decoding import OutputBounds, output_schema
    from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model, load_causal_lm

    torch.set_num_threads(1)
    answers = _answers(args.answers)
    base = args.base_model or build_tiny_base_model(Path(tempfile.mkdtemp()) / "base", answers, pretrain_steps=0)
    model, tokenizer = load_causal_lm(base)
    schema = output_schema(OutputBounds())
    token_lists = [tokenizer(a, add_special_tokens=False)["input_ids"] for a in answers]
    for name, bench in (("llguidance", _llguidance), ("xgrammar", _xgrammar), ("lm-format-enforcer", _lmfe)):
        try:
            compile_s, per_token, accepted = bench(tokenizer, schema, token_lists)
        except ImportError:
            print(f"{name}: not installed")
            continue
        except Exception as exc:  # a library that cannot take this schema is a finding, not a crash
            print(f"{name}: fails on the schema: {type(exc).__name__}: {str(exc)[:160]}")
            continue
        print(f"{name}: compile {compile_s * 1000:.0f} ms, mask+advance {per_token * 1e6:.0f} us/token, "
              f"accepted {accepted}/{len(token_lists)} reviewed answers")
    timing = _generation(model, tokenizer, schema)
    print("greedy generation, batch 4: " + ", ".join(f"{k} {v:.2f} ms/token" for k, v in timing.items()))


if __name__ == "__main__":
    main()
