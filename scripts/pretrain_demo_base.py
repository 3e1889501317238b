"""Pretrain the demo base model: a small Llama-style causal LM that imitates the production LLM.

    python scripts/pretrain_demo_base.py                     # the shipped model (about 45 min on 2 CPU cores)
    python scripts/pretrain_demo_base.py --steps 20 --out /tmp/base   # a quick look

Data recipe (all synthetic, from `lib.synthetic` with its own seed, so no table of a demo or a test is in it):
the requests the upstream DataPilot app sends (the system prompt, 0 to 2 worked examples from the shipped seed
examples, the task's compact EDA) and the raw answers the production few-shot model returned, at the generator's
quality mix: about half grounded, the rest near misses, generic advice, invalid rows and hallucinated numbers.
The loss is on the answers only (the prompt is context), like the production model's instruction tuning.

A byte-level BPE tokenizer is trained first on the same traffic. Everything is seeded; the same command on the
same library versions writes the same weights. The model card (`README.md`) and the loss curve
(`training_log.json`) are written beside the weights; `lib.modeling.DEMO_BASE_SHA256` pins the weights' sha256.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "datapilot_pipeline" / "data" / "demo_base"
SEED = 0
TRAFFIC_SEED = 7_001  # lib.synthetic seed of the pretraining traffic (the demo and the tests use others)
TOKENIZER_TEXTS = 600
VOCAB = 6144
HIDDEN, LAYERS, HEADS, INTERMEDIATE = 128, 4, 4, 512
MAX_POSITIONS = 4096
STEPS = 500
BATCH = 6  # requests per optimizer step
PEAK_LR, WARMUP, FINAL_LR_SHARE = 3e-3, 30, 0.1
# Curriculum: a request shows the lines its answer cites plus this share of the other lines of the EDA, growing
# linearly to the whole EDA at FULL_CONTEXT_AT of the run (short contexts first: the lookup is learnt sooner).
FIRST_CONTEXT_SHARE, FULL_CONTEXT_AT = 0.1, 0.8


def with_habit(output: dict) -> dict:
    """The production model's habit the reviewers correct: it cuts the decimals of the column statistics it cites
    (`/columns/<c>/stats/<s>`: 14.736 becomes 14), so those aggregates are off by more than 1% unless whole."""
    out = json.loads(json.dumps(output))
    for insight in out["insights"]:
        aggregates = insight.get("evidence", {}).get("aggregates") or {}
        for key, value in aggregates.items():
            if "/stats/" in key and isinstance(value, float):
                aggregates[key] = int(value)
    return out


def cited_pointers(output: dict) -> set[str]:
    from datapilot_pipeline.lib.evidence import aggregate_pointer

    return {aggregate_pointer(k) for i in output["insights"] for k in (i.get("evidence", {}).get("aggregates") or {})}


def thinned(eda: dict, output: dict, share: float, rng: random.Random) -> dict:
    """The EDA with every line the answer cites, the dataset lines and `share` of the other lines."""
    from datapilot_pipeline.lib.prompts import flatten_eda, unflatten_eda

    if share >= 1:
        return eda
    keep = cited_pointers(output)
    flat = flatten_eda(eda)
    return unflatten_eda({k: v for k, v in flat.items()
                          if k in keep or k.startswith("/dataset/") or rng.random() < share})


def traffic(n_requests: int, seed: int = TRAFFIC_SEED) -> list[tuple[dict, dict]]:
    """(compact EDA, raw answer) pairs: the upstream app's tables and the production model's answers (the
    generator's quality mix: grounded, near misses, generic, invalid rows, hallucinated), with its habit."""
    from datapilot_pipeline.lib.synthetic.jobs import plan_jobs

    pairs = []
    for planned in plan_jobs(n_requests * 2, seed=seed):
        job = planned.job
        if job["variant"] != "few_shot":
            continue
        pairs.append((job["compact_eda"], with_habit(job["llm_output"])))
        if len(pairs) == n_requests:
            break
    return pairs


def cached_traffic(n_requests: int, out: Path) -> list[tuple[dict, dict]]:
    """`traffic(n_requests)`, kept in `<out>/.traffic_<n>.json` (a few minutes to generate; reruns reuse it)."""
    cache = Path(out) / f".traffic_plain_{TRAFFIC_SEED}_{n_requests}.json"
    if cache.is_file():
        return [tuple(pair) for pair in json.loads(cache.read_text(encoding="utf-8"))]
    pairs = traffic(n_requests)
    cache.write_text(json.dumps(pairs), encoding="utf-8")
    return pairs


def context_share(step: int, steps: int) -> float:
    progress = step / max(1, steps * FULL_CONTEXT_AT)
    return min(1.0, FIRST_CONTEXT_SHARE + (1 - FIRST_CONTEXT_SHARE) * progress)


DRILL_SHARE = 0.5  # share of sequences that are lookup drills (dense practice at copying values)
DRILL_CONTEXT_SHARE = 0.3  # a drill shows at most this share of the EDA's other lines


def drill(eda: dict, share: float, rng: random.Random) -> tuple[str, str]:
    """A lookup drill: the EDA (its lines thinned to `share`) and, as the answer, 4-8 of its numeric lines copied."""
    from datapilot_pipeline.lib.prompts import flatten_eda, render_eda, unflatten_eda

    flat = flatten_eda(eda)
    numbers = [k for k, v in flat.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    chosen = rng.sample(numbers, min(len(numbers), rng.randint(4, 8)))
    kept = {k: v for k, v in flat.items() if k in chosen or rng.random() < share}
    answer = "{" + ",".join(f"{json.dumps(k)}:{json.dumps(flat[k])}" for k in chosen) + "}"
    return f"### Lookup\nCompact EDA:\n{render_eda(unflatten_eda(kept))}\nValues:\n", answer


def request(eda: dict, output: dict, share: float, rng: random.Random) -> tuple[str, str]:
    from datapilot_pipeline.lib.prompts import build_prompt, format_completion

    return build_prompt(thinned(eda, output, share, rng), []), format_completion(output)


def build_model(tokenizer, seed: int = SEED):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=INTERMEDIATE, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=HEADS, max_position_embeddings=MAX_POSITIONS,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def encode(tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """Input ids of prompt + answer + EOS, and labels with the prompt masked (-100)."""
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = (p + a)[:MAX_POSITIONS]
    labels = ([-100] * len(p) + a)[:MAX_POSITIONS]
    return ids, labels


PROBE_SEED = 515_151  # lib.synthetic seed of the lookup probe's requests (full EDAs, not renamed, no habit)
_AGGREGATE_VALUE = re.compile(r'"(/[^"]+)":(-?[0-9][0-9.]*)')


def lookup_probe_rows(tokenizer, n_requests: int = 12) -> list[tuple[list[int], list[int]]]:
    """(input ids, positions of the answer tokens that spell an aggregate's value) of grounded requests: the tokens
    the model can only predict by reading the value from the EDA in its context."""
    from datapilot_pipeline.lib.prompts import build_prompt, format_completion
    from datapilot_pipeline.lib.synthetic.jobs import plan_jobs

    rows = []
    for planned in plan_jobs(n_requests * 3, seed=PROBE_SEED):
        job = planned.job
        grounded = with_habit({"insights": [{"id": f"i{n}", **p.correct} for n, p in enumerate(planned.planned, 1)]})
        prompt, answer = build_prompt(job["compact_eda"], []), format_completion(grounded)
        enc = tokenizer(prompt + answer, add_special_tokens=False, return_offsets_mapping=True)
        spans = [m.span(2) for m in _AGGREGATE_VALUE.finditer(answer)]
        positions = [i for i, (a, b) in enumerate(enc["offset_mapping"])
                     if a >= len(prompt) and any(lo <= a - len(prompt) < hi for lo, hi in spans)]
        if positions and len(enc["input_ids"]) <= MAX_POSITIONS:
            rows.append((enc["input_ids"], positions))
        if len(rows) == n_requests:
            break
    return rows


def lookup_accuracy(model, rows) -> float:
    """Share of value tokens of the probe predicted exactly (teacher-forced argmax)."""
    import torch

    model.eval()
    hit = total = 0
    with torch.no_grad():
        for ids, positions in rows:
            predicted = model(input_ids=torch.tensor([ids])).logits[0].argmax(-1)
            hit += sum(int(predicted[p - 1]) == ids[p] for p in positions)
            total += len(positions)
    return round(hit / max(1, total), 4)


def learning_rate(step: int, steps: int) -> float:
    if step < WARMUP:
        return PEAK_LR * (step + 1) / WARMUP
    progress = (step - WARMUP) / max(1, steps - WARMUP)
    return PEAK_LR * (FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(out: Path, steps: int = STEPS, batch: int = BATCH, seed: int = SEED, threads: int | None = None,
             log_every: int = 10, tokenizer_texts: int = TOKENIZER_TEXTS) -> dict:
    import torch

    from datapilot_pipeline.lib.modeling import build_tiny_tokenizer

    if threads:
        torch.set_num_threads(threads)
    began = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = cached_traffic(steps * batch + tokenizer_texts, out)
    tokenizer_pairs, train_pairs = pairs[:tokenizer_texts], pairs[tokenizer_texts:]
    rng = random.Random(seed)
    build_tiny_tokenizer(out, [t for eda, output in tokenizer_pairs for t in request(eda, output, 1.0, rng)], VOCAB,
                         pointer_pieces=True)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    probe = lookup_probe_rows(tokenizer)
    model = build_model(tokenizer, seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, weight_decay=0.01, betas=(0.9, 0.95))
    order = random.Random(seed).sample(range(len(train_pairs)), len(train_pairs))
    log: list[dict] = []
    n_tokens = n_answer_tokens = 0
    model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps)
        share = context_share(step, steps)
        rows = [encode(tokenizer, *(drill(train_pairs[i][0], min(share, DRILL_CONTEXT_SHARE), rng)
                                    if rng.random() < DRILL_SHARE else request(*train_pairs[i], share, rng)))
                for i in order[step * batch:(step + 1) * batch]]
        answer_tokens = sum(sum(1 for x in labels if x != -100) for _, labels in rows)
        loss_sum = 0.0
        for ids, labels in rows:  # one request per forward pass: no padding, no packing across requests
            n_tokens += len(ids)
            weight = sum(1 for x in labels if x != -100) / answer_tokens
            loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss * weight
            loss.backward()
            loss_sum += float(loss.detach())
        n_answer_tokens += answer_tokens
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % log_every == 0 or step == steps - 1:
            entry = {"step": step + 1, "loss": round(loss_sum, 4), "lr": round(learning_rate(step, steps), 6),
                     "context_share": round(share, 2), "tokens": n_tokens,
                     "seconds": round(time.perf_counter() - began, 1)}
            if step % (log_every * 5) == 0 or step == steps - 1:
                entry["lookup_token_accuracy"] = lookup_accuracy(model, probe)
                model.train()
            log.append(entry)
            print(json.dumps(entry), flush=True)
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    summary = {"seed": seed, "traffic_seed": TRAFFIC_SEED, "steps": steps, "batch": batch, "requests": steps * batch,
               "tokens": n_tokens, "answer_tokens": n_answer_tokens, "seconds": round(time.perf_counter() - began),
               "torch_threads": torch.get_num_threads(), "parameters": sum(p.numel() for p in model.parameters()),
               "config": {"hidden": HIDDEN, "layers": LAYERS, "heads": HEADS, "intermediate": INTERMEDIATE,
                          "vocab": len(tokenizer), "max_positions": MAX_POSITIONS},
               "context_curriculum": [FIRST_CONTEXT_SHARE, FULL_CONTEXT_AT], "drill_share": DRILL_SHARE, "peak_lr": PEAK_LR, "warmup": WARMUP, "loss_curve": log}
    (out / "training_log.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


CARD_SEED = 424_242  # lib.synthetic seed of the requests the card measures (not the pretraining traffic's)
CARD_REQUESTS = 24


def copy_rates(replies: list[str], edas: list[dict]) -> dict:
    """Of the aggregates the replies cite: the share whose value is the EDA's within 1% (copied), and the same
    over those whose value needs a lookup (not an integer under 10, which a guess could hit)."""
    from datapilot_pipeline.lib.evidence import _MISSING, aggregate_pointer, numbers_match, resolve_pointer
    from datapilot_pipeline.lib.normalize import parse_output_text

    tally = {"cited": 0, "copied": 0, "lookup_cited": 0, "lookup_copied": 0}
    for raw, eda in zip(replies, edas):
        try:
            insights = parse_output_text(raw).get("insights") or []
        except (ValueError, AttributeError):
            continue
        for insight in insights:
            for key, claimed in ((insight.get("evidence") or {}).get("aggregates") or {}).items():
                actual = resolve_pointer(eda, aggregate_pointer(key))
                if actual is _MISSING or isinstance(actual, bool) or not isinstance(actual, (int, float)):
                    continue
                ok = isinstance(claimed, (int, float)) and numbers_match(float(claimed), float(actual))
                tally["cited"] += 1
                tally["copied"] += ok
                if not (float(actual).is_integer() and abs(actual) < 10):
                    tally["lookup_cited"] += 1
                    tally["lookup_copied"] += ok
    return {"aggregates_cited": tally["cited"],
            "copy_rate": tally["copied"] / tally["cited"] if tally["cited"] else None,
            "lookup_copy_rate": tally["lookup_copied"] / tally["lookup_cited"] if tally["lookup_cited"] else None}


def measure(out: Path, examples: list[dict], label: str, constrained: bool = True) -> dict:
    """Schema pass, evidence accuracy and coverage, and copy rates of the model in `out` (0 worked examples, greedy,
    1,024 new tokens at most) on `examples` ({"example_id", "compact_eda", "output"})."""
    from datapilot_pipeline.lib.evaluation.local import LocalGenerator
    from datapilot_pipeline.lib.evaluation.metrics import score_example, summarize
    from datapilot_pipeline.lib.prompts import build_messages, build_prompt

    generator = LocalGenerator(base_model=Path(out), constrained=constrained, batch_size=8)
    began = time.perf_counter()
    replies = generator.generate_all([build_prompt(e["compact_eda"], []) for e in examples],
                                     [build_messages(e["compact_eda"], []) for e in examples])
    seconds = time.perf_counter() - began
    scores = [score_example(e["example_id"], r.text, e["compact_eda"], e["output"]) for e, r in zip(examples, replies)]
    summary = summarize(scores)
    return {"label": label, "requests": len(examples), "constrained": constrained,
            **{k: summary[k] for k in ("schema_pass_rate", "evidence_accuracy", "evidence_coverage")},
            **copy_rates([r.text for r in replies], [e["compact_eda"] for e in examples]),
            "mean_reply_tokens": round(sum(r.completion_tokens for r in replies) / len(replies), 1),
            "seconds_per_reply": round(seconds / len(replies), 2)}


def card_examples() -> tuple[list[dict], list[dict]]:
    """(fresh synthetic requests with the production model's answers, the bundled real tables)."""
    from datapilot_pipeline.lib.evaluation.real_tables import holdout_examples
    from datapilot_pipeline.lib.synthetic import generate_jobs

    jobs = [j for j in generate_jobs(CARD_REQUESTS * 2, seed=CARD_SEED) if j["variant"] == "few_shot"][:CARD_REQUESTS]
    synthetic = [{"example_id": j["job_id"], "compact_eda": j["compact_eda"], "output": j["llm_output"]} for j in jobs]
    return synthetic, holdout_examples()


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def write_card(out: Path) -> Path:
    """The model card (`README.md`): data, steps, loss and lookup curves, measured behaviour, how to rebuild it."""
    import hashlib

    from datapilot_pipeline.lib.synthetic.outputs import QUALITIES, QUALITY_MIX

    out = Path(out)
    log = json.loads((out / "training_log.json").read_text(encoding="utf-8"))
    synthetic, real = card_examples()
    runs = [measure(out, synthetic, "synthetic requests"), measure(out, real, "real tables (statsmodels, sklearn)"),
            measure(out, synthetic, "synthetic requests", constrained=False)]
    sha = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    curve = log["loss_curve"]
    shown = [e for e in curve if "lookup_token_accuracy" in e]
    mix = ", ".join(f"{q} {w:.0%}" for q, w in zip(QUALITIES, QUALITY_MIX["few_shot"]))
    config = log["config"]
    lines = [
        "# DataPilot demo base model",
        "",
        "A small Llama-style causal LM that imitates the production LLM DataPilot calls: given the upstream app's "
        "request (system prompt and a table's compact EDA, written as one `\"JSON Pointer\":value` line per value) "
        "it writes the JSON insights answer, with the production model's mistakes and one habit reviewers keep "
        "correcting: it cuts the decimals of the column statistics it cites. It is the default base model of "
        "`datapilot demo`, `make run` and every job run without `base_model`: few-shot evaluation uses it as is, "
        "fine-tuning trains a LoRA adapter on it.",
        "",
        "## Model",
        f"- {log['parameters']:,} parameters: hidden {config['hidden']}, {config['layers']} layers, {config['heads']} "
        f"heads, MLP {config['intermediate']}, tied embeddings, context {config['max_positions']} tokens.",
        f"- Tokenizer: byte-level BPE, {config['vocab']} tokens, pre-tokenized by `lib.modeling.POINTER_PIECES`: "
        "every digit is a token of its own (numbers are copied digit by digit) and a JSON Pointer's tail up to its "
        "`\":` is one piece (`/revenue/stats/max\":`, one token when frequent), so the key a value is looked up by "
        "is one token in the EDA line and in the answer alike; `<|eos|>` ends an answer, `<|pad|>` pads. No chat "
        "template: prompts are `lib.prompts.build_prompt` text.",
        f"- Weights: `model.safetensors` (fp32), sha256 `{sha}` (pinned as `lib.modeling.DEMO_BASE_SHA256`).",
        "",
        "## Data",
        f"- {log['requests']:,} requests of synthetic upstream traffic (`lib.synthetic`, seed {log['traffic_seed']}): "
        "tables of the generator's shapes, other tables than the demo's and the tests' (seeds 0 and up) but with "
        "the same column vocabulary; the real tables below share none of it.",
        f"- Answers: the production few-shot model's, at the generator's quality mix ({mix}), with its habit: "
        "every cited `/columns/<c>/stats/<s>` value has its decimals cut (14.736 is cited as 14), which the "
        "evidence rule rejects unless the value is whole or large. Reviewers edit those values back; the "
        "reviewed data the demo fine-tunes on cites them exactly.",
        f"- Curriculum: a request shows the lines its answer cites plus a share of the other lines of its EDA, from "
        f"{log['context_curriculum'][0]:.0%} at the start to the whole EDA at {log['context_curriculum'][1]:.0%} of "
        "the run (short contexts first: the lookup is learnt sooner).",
        f"- Lookup drills: {log['drill_share']:.0%} of the sequences ask for 4-8 numeric lines of a (thinned) EDA to be "
        "copied verbatim (`### Lookup ... Values:`), dense practice at the lookup the answers need.",
        "- Loss on the answer tokens and the closing `<|eos|>` only; the request is context.",
        "",
        "## Training",
        f"- {log['steps']} AdamW steps of {log['batch']} requests (one request per forward pass, no packing), peak "
        f"learning rate {log['peak_lr']} after {log['warmup']} warm-up steps, cosine to 10%; seed {log['seed']}.",
        f"- {log['tokens']:,} tokens ({log['answer_tokens']:,} answer tokens) in {log['seconds']:,} s on "
        f"{log['torch_threads']} CPU thread(s).",
        "- Lookup accuracy: the share of value tokens of cited aggregates (12 requests of seed "
        f"{PROBE_SEED}, full EDAs, names as generated) that the model predicts exactly from its context "
        "(teacher-forced), over the run:",
        "",
        "| step | answer loss | context share | lookup token accuracy | seconds |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {e['step']} | {e['loss']:.3f} | {e.get('context_share', 1):.2f} | {_pct(e['lookup_token_accuracy'])} | "
          f"{e['seconds']:,} |" for e in shown],
        "",
        "## Measured",
        f"Greedy, 0 worked examples, 1,024 new tokens at most; synthetic: {runs[0]['requests']} fresh requests (seed "
        f"{CARD_SEED}); real: {runs[1]['requests']} tables bundled with statsmodels and scikit-learn "
        "(`lib.evaluation.real_tables`). Copied: cited aggregates whose value is the EDA's within 1%; lookup: the "
        "same over values that are not small integers.",
        "",
        "| requests | decoding | schema pass | evidence accuracy | evidence coverage | aggregates cited | copied | "
        "copied (lookup) | reply tokens | s / reply |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *[f"| {r['label']} | {'constrained' if r['constrained'] else 'free'} | {_pct(r['schema_pass_rate'])} | "
          f"{_pct(r['evidence_accuracy'])} | {_pct(r['evidence_coverage'])} | {r['aggregates_cited']} | "
          f"{_pct(r['copy_rate'])} | {_pct(r['lookup_copy_rate'])} | {r['mean_reply_tokens']} | "
          f"{r['seconds_per_reply']} |" for r in runs],
        "",
        "## What it can and cannot do",
        "- It writes the answer's JSON layout, categories, severities and recommendation phrasing of the traffic, "
        "and ends its answer with `<|eos|>`; with schema-constrained decoding (`lib.decoding`) every reply parses.",
        "- It copies cited values from the request (the table above says how often), and, like the model it "
        "imitates, cuts the decimals of column statistics: that is what fine-tuning on reviewed answers fixes in "
        "the demo. It knows nothing outside this task and is meant for the demo and tests only.",
        "",
        "## Rebuild",
        "```",
        f"python scripts/pretrain_demo_base.py            # {log['steps']} steps, writes this folder and this card",
        "python scripts/pretrain_demo_base.py --card-only  # re-measure and rewrite this card",
        "```",
        "Then set `DEMO_BASE_SHA256` in `lib/modeling.py` to the new weights' sha256.",
        "",
    ]
    path = out / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--card-only", action="store_true", help="re-measure the model in --out and rewrite its card")
    args = parser.parse_args(argv)
    if args.card_only:
        print(write_card(args.out))
        return 0
    summary = pretrain(args.out, args.steps, args.batch, threads=args.threads)
    print(f"{args.out}: {summary['parameters']:,} parameters, {summary['steps']} steps, {summary['tokens']:,} "
          f"tokens in {summary['seconds']} s; final loss {summary['loss_curve'][-1]['loss']}")
    print(write_card(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
