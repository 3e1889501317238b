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
(`training_log.json`) are written beside the weights; `lib.generation.modeling.DEMO_BASE_SHA256` pins the weights' sha256.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "datapilot_pipeline" / "data" / "demo_base"
SEED = 0
TRAFFIC_SEED = 7_001  # lib.synthetic seed of the pretraining traffic (the demo and the tests use others)
TOKENIZER_TEXTS = 1_500
VOCAB = 4096
HIDDEN, LAYERS, HEADS, INTERMEDIATE = 128, 4, 4, 512
MAX_POSITIONS = 4096
SHOT_WEIGHTS = (0.45, 0.4, 0.15)  # P(0, 1, 2 worked examples in a request)
STEPS = 1500
BATCH = 4  # requests per optimizer step
PEAK_LR, WARMUP, FINAL_LR_SHARE = 2e-3, 40, 0.1


def traffic(n_requests: int, seed: int = TRAFFIC_SEED) -> list[tuple[str, str]]:
    """(prompt, raw answer) pairs: the upstream app's requests to the production few-shot model and its replies."""
    from datapilot_pipeline.lib.prompts import build_prompt, format_completion
    from datapilot_pipeline.lib.synthetic import generate_jobs

    seeds = [json.loads(line) for line in (ROOT / "datapilot_pipeline" / "data" / "seed_examples.jsonl")
             .read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    pairs = []
    for job in generate_jobs(n_requests * 4, seed=seed):  # about half the jobs are served few-shot
        if job["variant"] != "few_shot":
            continue
        k = rng.choices(range(len(SHOT_WEIGHTS)), weights=SHOT_WEIGHTS)[0]
        table = job["compact_eda"]["dataset"]["name"]
        shots = rng.sample([s for s in seeds if s["compact_eda"]["dataset"]["name"] != table], k)
        pairs.append((build_prompt(job["compact_eda"], shots), format_completion(job["llm_output"])))
        if len(pairs) == n_requests:
            break
    return pairs


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


def learning_rate(step: int, steps: int) -> float:
    if step < WARMUP:
        return PEAK_LR * (step + 1) / WARMUP
    progress = (step - WARMUP) / max(1, steps - WARMUP)
    return PEAK_LR * (FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(out: Path, steps: int = STEPS, batch: int = BATCH, seed: int = SEED, threads: int | None = None,
             log_every: int = 10, tokenizer_texts: int = TOKENIZER_TEXTS) -> dict:
    import torch

    from datapilot_pipeline.lib.generation.modeling import build_tiny_tokenizer

    if threads:
        torch.set_num_threads(threads)
    began = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = traffic(steps * batch + tokenizer_texts, seed=TRAFFIC_SEED)
    tokenizer_pairs, train_pairs = pairs[:tokenizer_texts], pairs[tokenizer_texts:]
    build_tiny_tokenizer(out, [t for pair in tokenizer_pairs for t in pair], VOCAB)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    model = build_model(tokenizer, seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, weight_decay=0.01, betas=(0.9, 0.95))
    order = random.Random(seed).sample(range(len(train_pairs)), len(train_pairs))
    log: list[dict] = []
    n_tokens = n_answer_tokens = 0
    model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps)
        rows = [encode(tokenizer, *train_pairs[i]) for i in order[step * batch:(step + 1) * batch]]
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
                     "tokens": n_tokens, "seconds": round(time.perf_counter() - began, 1)}
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
               "shot_weights": SHOT_WEIGHTS, "peak_lr": PEAK_LR, "warmup": WARMUP, "loss_curve": log}
    (out / "training_log.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


CARD_SEED = 424_242  # lib.synthetic seed of the requests the card measures (not the pretraining traffic's)
CARD_REQUESTS = 16


def measure(out: Path, n_requests: int = CARD_REQUESTS, shots: int = 0, constrained: bool = True) -> dict:
    """Schema pass, evidence accuracy and text grounding of the model in `out` on fresh synthetic requests."""
    from datapilot_pipeline.lib.evaluation.local import LocalGenerator
    from datapilot_pipeline.lib.evaluation.metrics import score_example, summarize
    from datapilot_pipeline.lib.prompts import build_messages, build_prompt
    from datapilot_pipeline.lib.synthetic import generate_jobs

    seeds = [json.loads(line) for line in (ROOT / "datapilot_pipeline" / "data" / "seed_examples.jsonl")
             .read_text(encoding="utf-8").splitlines() if line.strip()]
    jobs = [j for j in generate_jobs(n_requests * 2, seed=CARD_SEED) if j["variant"] == "few_shot"][:n_requests]
    generator = LocalGenerator(base_model=Path(out), constrained=constrained, batch_size=8)
    began = time.perf_counter()
    replies = generator.generate_all([build_prompt(j["compact_eda"], seeds[:shots]) for j in jobs],
                                     [build_messages(j["compact_eda"], seeds[:shots]) for j in jobs])
    seconds = time.perf_counter() - began
    scores = [score_example(j["job_id"], r.text, j["compact_eda"], j["llm_output"]) for j, r in zip(jobs, replies)]
    summary = summarize(scores)
    return {"requests": len(jobs), "shots": shots, "constrained": constrained,
            **{k: summary[k] for k in ("schema_pass_rate", "evidence_accuracy", "text_grounding")},
            "mean_reply_tokens": round(sum(r.completion_tokens for r in replies) / len(replies), 1),
            "seconds_per_reply": round(seconds / len(replies), 2)}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def write_card(out: Path) -> Path:
    """The model card (`README.md`): data, steps, loss curve, measured behaviour, and how to rebuild it."""
    from datapilot_pipeline.lib.synthetic.outputs import QUALITIES, QUALITY_MIX

    out = Path(out)
    log = json.loads((out / "training_log.json").read_text(encoding="utf-8"))
    runs = [measure(out, shots=0), measure(out, shots=1), measure(out, shots=0, constrained=False)]
    import hashlib

    sha = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    curve = log["loss_curve"]
    shown = [e for i, e in enumerate(curve) if i % max(1, len(curve) // 12) == 0 or e is curve[-1]]
    mix = ", ".join(f"{q} {w:.0%}" for q, w in zip(QUALITIES, QUALITY_MIX["few_shot"]))
    config = log["config"]
    lines = [
        "# DataPilot demo base model",
        "",
        "A small Llama-style causal LM that imitates the production LLM DataPilot calls: given the upstream app's "
        "request (system prompt, worked examples, a table's compact EDA) it writes the JSON insights answer, with "
        "the production model's mistakes. It is the default base model of `datapilot demo`, `make run` and every "
        "job run without `base_model`: few-shot evaluation uses it as is, fine-tuning trains a LoRA adapter on it.",
        "",
        "## Model",
        f"- {log['parameters']:,} parameters: hidden {config['hidden']}, {config['layers']} layers, {config['heads']} "
        f"heads, MLP {config['intermediate']}, tied embeddings, context {config['max_positions']} tokens.",
        f"- Tokenizer: byte-level BPE, {config['vocab']} tokens, trained on the same traffic; `<|eos|>` ends an "
        "answer, `<|pad|>` pads. No chat template: prompts are `lib.prompts.build_prompt` text.",
        f"- Weights: `model.safetensors` (fp32), sha256 `{sha}` (pinned as `lib.generation.modeling.DEMO_BASE_SHA256`).",
        "",
        "## Data",
        f"- {log['requests']:,} requests of synthetic upstream traffic (`lib.synthetic`, seed {log['traffic_seed']}; "
        "the demo and the tests use other seeds, so their tables are not in it): the production few-shot model's "
        f"replies at the generator's quality mix ({mix}).",
        f"- Worked examples per request: 0, 1 or 2 of the shipped seed examples with probabilities "
        f"{', '.join(str(w) for w in log['shot_weights'])}.",
        "- Loss on the answer tokens and the closing `<|eos|>` only; the request is context.",
        "",
        "## Training",
        f"- {log['steps']} AdamW steps of {log['batch']} requests (one request per forward pass, no packing), peak "
        f"learning rate {log['peak_lr']} after {log['warmup']} warm-up steps, cosine to 10%; seed {log['seed']}.",
        f"- {log['tokens']:,} tokens ({log['answer_tokens']:,} answer tokens) in {log['seconds']:,} s on "
        f"{log['torch_threads']} CPU threads.",
        "",
        "| step | answer loss | learning rate | tokens seen | seconds |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {e['step']} | {e['loss']:.3f} | {e['lr']:.2e} | {e['tokens']:,} | {e['seconds']:,} |" for e in shown],
        "",
        "## Measured",
        f"On {runs[0]['requests']} fresh synthetic requests (seed {CARD_SEED}), greedy, 1,024 new tokens at most:",
        "",
        "| decoding | worked examples | schema pass | evidence accuracy | text grounding | reply tokens | s / reply |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *[f"| {'constrained' if r['constrained'] else 'free'} | {r['shots']} | {_pct(r['schema_pass_rate'])} | "
          f"{_pct(r['evidence_accuracy'])} | {_pct(r['text_grounding'])} | {r['mean_reply_tokens']} | "
          f"{r['seconds_per_reply']} |" for r in runs],
        "",
        "## What it can and cannot do",
        "- It writes the answer's JSON layout, categories, severities and recommendation phrasing of the traffic, "
        "and ends its answer with `<|eos|>`; with schema-constrained decoding (`lib.generation.decoding`) every reply parses.",
        "- It learnt the form, not yet the lookup: it cites the EDA's column and KPI names, but the numbers it "
        "writes beside them are the traffic's typical values, rarely the EDA's own to within 1%, so its evidence "
        "accuracy (above) is near 0, and answers without constraints often run past the token limit. Exact "
        "copying of numbers is what longer pretraining (more steps, a larger model: GPU hours, not CPU minutes) "
        "would have to add. It knows nothing outside this task and is meant for the demo and tests only.",
        "",
        "## Rebuild",
        "```",
        f"python scripts/pretrain_demo_base.py            # {log['steps']} steps, writes this folder and this card",
        "python scripts/pretrain_demo_base.py --card-only  # re-measure and rewrite this card",
        "```",
        "Then set `DEMO_BASE_SHA256` in `lib/generation/modeling.py` to the new weights' sha256.",
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
