"""Causal LMs for training and evaluation, offline only.

A base model is a local directory, an already-cached hub id, or (by default) the demo base model shipped in the
package (`data/demo_base/`: a small Llama-style LM pretrained on synthetic upstream traffic by
`scripts/pretrain_demo_base.py`; see its model card), installed into the workspace's `models/base/` on first use
after its sha256 is checked. Tests build even smaller models from config (`build_tiny_base_model`). Nothing is
ever downloaded: a missing model is a one-line `ValueError` that says how to get it. Weights are loaded from
safetensors only (no pickles).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datapilot_pipeline.lib.generation.model_dirs import is_model_dir, publish_model_dir, staging_dir

if TYPE_CHECKING:
    from datapilot_pipeline.lib.paths import Workspace

BOS, EOS, PAD, UNK = "<|bos|>", "<|eos|>", "<|pad|>", "<|unk|>"
TINY_MARKER = "datapilot_tiny.json"
DEMO_BASE_DIR = Path(__file__).resolve().parents[2] / "data" / "demo_base"
# sha256 of the shipped weights (scripts/pretrain_demo_base.py writes them; a changed file is refused)
DEMO_BASE_SHA256 = "3ce35e87464feb46d0a02074852cd166c5a4a7f5313c19fde296e9956aa7e74a"
DEMO_BASE_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                   "tokenizer_config.json", "README.md", "training_log.json")
# Small enough to train a few hundred steps on 2 CPU cores in minutes; big enough to learn JSON layout.
TINY_VOCAB = 2048
TINY_HIDDEN = 96
TINY_LAYERS = 3
TINY_HEADS = 4
TINY_MAX_POSITIONS = 4096
# A randomly initialised base is uniform noise that frozen-weight LoRA cannot turn into text; a short
# full-parameter pass over the texts gives it the JSON vocabulary first (~10 s on 2 CPU cores).
PRETRAIN_STEPS = 150
PRETRAIN_BLOCK = 128  # tokens per row
PRETRAIN_BATCH = 16
PRETRAIN_LR = 3e-3


def tiny_tokenizer_exists(out_dir: Path) -> bool:
    return (Path(out_dir) / "tokenizer.json").is_file()


def build_tiny_tokenizer(out_dir: Path, texts: list[str], vocab_size: int = TINY_VOCAB) -> Path:
    """Train a byte-level BPE on `texts` and save it as a Hugging Face tokenizer under `out_dir`.

    The files appear at once (built in a temp folder, then renamed in): a concurrent reader sees either no
    tokenizer or the whole one, and when two builders race the first one's tokenizer is kept."""
    import os
    import shutil

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if not texts:
        raise ValueError("the tiny tokenizer needs at least one text to train on")
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token=UNK))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS, UNK],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                        unk_token=UNK, model_max_length=TINY_MAX_POSITIONS)
    tokenizer.padding_side = "left"  # decoder-only generation continues from the right edge
    staging = staging_dir(out_dir)
    try:
        tokenizer.save_pretrained(staging)
        if not out_dir.exists():
            try:
                os.rename(staging, out_dir)
                return out_dir
            except OSError:  # another builder renamed its folder in first
                pass
        if not tiny_tokenizer_exists(out_dir):
            for item in staging.iterdir():
                os.replace(item, out_dir / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def build_tiny_base_model(out_dir: Path, texts: list[str], seed: int = 0, vocab_size: int = TINY_VOCAB,
                          pretrain_steps: int = PRETRAIN_STEPS) -> Path:
    """Build a small Llama-style causal LM from config, pretrain it for `pretrain_steps` on `texts`, and save it
    (safetensors) under `out_dir`, which it returns. The tokenizer already in `out_dir` is kept (an export
    counted its token budget with it); without one, a byte-level BPE is trained on `texts` first."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    if not texts:
        raise ValueError("build_tiny_base_model needs at least one text to train its tokenizer on")
    out_dir = Path(out_dir)
    if not tiny_tokenizer_exists(out_dir):
        build_tiny_tokenizer(out_dir, texts, vocab_size)
    tokenizer = AutoTokenizer.from_pretrained(out_dir, local_files_only=True)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=TINY_HIDDEN, intermediate_size=TINY_HIDDEN * 2,
        num_hidden_layers=TINY_LAYERS, num_attention_heads=TINY_HEADS, num_key_value_heads=TINY_HEADS,
        max_position_embeddings=TINY_MAX_POSITIONS, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    _pretrain(model, tokenizer, texts, pretrain_steps, seed)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    (out_dir / TINY_MARKER).write_text(json.dumps({"seed": seed, "n_texts": len(texts),
                                                   "pretrain_steps": pretrain_steps}) + "\n")
    return out_dir


def _pretrain(model: Any, tokenizer: Any, texts: list[str], steps: int, seed: int) -> None:
    """Next-token training on the concatenated texts in fixed blocks (all weights)."""
    import torch

    if steps <= 0:
        return
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])
    n_blocks = max(1, len(ids) // PRETRAIN_BLOCK)
    ids = (ids * (1 + PRETRAIN_BLOCK // max(1, len(ids))))[: n_blocks * PRETRAIN_BLOCK]
    blocks = torch.tensor(ids).view(n_blocks, PRETRAIN_BLOCK)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN_LR)
    model.train()
    for _ in range(steps):
        batch = blocks[torch.randint(0, n_blocks, (PRETRAIN_BATCH,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()


def _cached_hub_snapshot(repo_id: str) -> Path | None:
    """The local snapshot of a hub id already in the HF cache, without any network call."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
        return None


def default_tiny_model_dir(workspace: "Workspace") -> Path:
    return workspace.models / "base"


def install_demo_base(out_dir: Path, source: Path = DEMO_BASE_DIR, sha256: str = DEMO_BASE_SHA256) -> Path:
    """Copy the shipped demo base model into `out_dir` (its weights checked against the pinned sha256) and return
    `out_dir`. The folder appears at once (copied into a temp folder, then renamed in); when two processes race,
    the first one's copy is kept. A folder holding anything but a model is left alone: a one-line ValueError."""
    import shutil

    from datapilot_pipeline.lib.hashing import file_sha256

    out_dir = Path(out_dir)
    if is_model_dir(out_dir):
        return out_dir
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} holds files but no model (config.json and *.safetensors); move it away to "
                         "install the demo base model there, or pass --base-model PATH")
    weights = Path(source) / "model.safetensors"
    if not weights.is_file():
        raise ValueError(f"the demo base model is missing from the package ({weights}); reinstall datapilot-pipeline")
    if file_sha256(weights) != sha256:
        raise ValueError(f"{weights} does not match its pinned sha256; reinstall datapilot-pipeline or rebuild it "
                         "with scripts/pretrain_demo_base.py and update DEMO_BASE_SHA256")

    def copy(staging: Path) -> None:
        for name in DEMO_BASE_FILES:
            if (Path(source) / name).is_file():
                shutil.copyfile(Path(source) / name, staging / name)

    return publish_model_dir(out_dir, copy)


def resolve_base_model(ref: str | Path | None, workspace: "Workspace") -> Path:
    """The directory of the base model to train or evaluate.

    `ref` is a local directory, an already-cached hub id, a packaged model's name or hub id
    (`lib.generation.packaged_models`: converted into the workspace's `models/<name>/` on first use), or None for the
    workspace's `models/base/` (the demo base model, installed there on first use). Anything else raises a
    one-line `ValueError`.
    """
    if ref is None:
        return install_demo_base(default_tiny_model_dir(workspace))
    path = Path(ref).expanduser()
    if path.exists():
        if not is_model_dir(path):
            raise ValueError(f"{path} is not a model directory (needs config.json and *.safetensors weights)")
        return path.resolve()
    text = str(ref)
    from datapilot_pipeline.lib.generation.packaged_models import PACKAGED, ensure_packaged, lookup

    packaged = lookup(text)
    if text.count("/") == 1 and not text.startswith((".", "/")):
        snapshot = _cached_hub_snapshot(text)
        if snapshot is not None and is_model_dir(snapshot):
            return snapshot
        if packaged is not None:
            return ensure_packaged(packaged, workspace)
        raise ValueError(f"model {text!r} is not in the local Hugging Face cache; on a machine with network run "
                         f"`hf download {text}` (or pass a local directory with --base-model)")
    if packaged is not None:
        return ensure_packaged(packaged, workspace)
    raise ValueError(f"base model {text!r} not found: pass a local model directory, a cached hub id (org/name) or a "
                     f"packaged model ({', '.join(sorted(PACKAGED))})")


def load_causal_lm(base: Path, adapter_dir: Path | None = None, *, quantize_4bit: bool = False,
                   trainable: bool = False) -> tuple[Any, Any]:
    """(model, tokenizer) from safetensors, on the GPU when there is one (bf16 where supported, else fp16) and
    in fp32 on CPU; the LoRA adapter in `adapter_dir` is applied when given. `quantize_4bit` loads the base in
    4-bit NF4 for QLoRA (needs bitsandbytes and a GPU). The model is in eval mode unless `trainable`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from datapilot_pipeline.lib.chat_format import ensure_pad_token

    base = Path(base)
    if not is_model_dir(base):
        raise ValueError(f"{base} is not a model directory (needs config.json and *.safetensors weights)")
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    ensure_pad_token(tokenizer)
    tokenizer.padding_side = "left"
    kwargs: dict[str, Any] = {"local_files_only": True, "use_safetensors": True}
    if torch.cuda.is_available():
        kwargs["dtype"] = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    if quantize_4bit:
        kwargs["quantization_config"] = _four_bit_config(kwargs.get("dtype"))
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if adapter_dir is not None:
        from peft import PeftModel

        adapter_dir = Path(adapter_dir)
        if not (adapter_dir / "adapter_model.safetensors").is_file():
            raise ValueError(f"{adapter_dir} has no adapter_model.safetensors")
        model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=False)
    if not trainable:
        model.eval()
    return model, tokenizer


class SharedBase:
    """One base model in memory for several arms: the base alone and each LoRA adapter on it, switched per call
    (`scope`), instead of one full copy of the base per arm. Holds the most recently used base only."""

    _current: "SharedBase | None" = None

    def __init__(self, base: Path, model: Any, tokenizer: Any) -> None:
        self.base, self.model, self.tokenizer = base, model, tokenizer
        self.adapters: dict[Path, str] = {}
        self.key = _weights_key(base)

    @classmethod
    def get(cls, base: Path, adapter_dir: Path | None = None) -> tuple["SharedBase", str | None]:
        """The shared base for `base` (loaded now when it is not the current one) and the name of `adapter_dir`'s
        adapter on it (loaded now when new; None for the base alone)."""
        base = Path(base).resolve()
        current = cls._current
        if current is None or current.base != base or current.key != _weights_key(base):
            model, tokenizer = load_causal_lm(base)
            current = cls._current = cls(base, model, tokenizer)
        return current, current.adapter_name(adapter_dir)

    def adapter_name(self, adapter_dir: Path | None) -> str | None:
        if adapter_dir is None:
            return None
        adapter_dir = Path(adapter_dir).resolve()
        if adapter_dir not in self.adapters:
            from peft import PeftModel

            if not (adapter_dir / "adapter_model.safetensors").is_file():
                raise ValueError(f"{adapter_dir} has no adapter_model.safetensors")
            name = f"adapter{len(self.adapters)}"
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(adapter_dir, adapter_name=name, is_trainable=False)
            else:
                self.model = PeftModel.from_pretrained(self.model, adapter_dir, adapter_name=name, is_trainable=False)
            self.model.eval()
            self.adapters[adapter_dir] = name
        return self.adapters[adapter_dir]

    def scope(self, adapter: str | None):
        """A context in which the model answers as the base alone (None) or with `adapter` on."""
        import contextlib

        from peft import PeftModel

        if not isinstance(self.model, PeftModel):
            return contextlib.nullcontext()
        if adapter is None:
            return self.model.disable_adapter()
        self.model.set_adapter(adapter)
        return contextlib.nullcontext()

    @classmethod
    def release(cls) -> None:
        cls._current = None


def _weights_key(base: Path) -> tuple:
    """Changes when the weights in `base` are replaced (a rebuilt folder at the same path)."""
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(base.glob("*.safetensors")))


def _four_bit_config(compute_dtype: Any) -> Any:
    import importlib.util

    import torch
    from transformers import BitsAndBytesConfig

    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError("4-bit QLoRA needs a CUDA GPU and the bitsandbytes package")
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype or torch.bfloat16)


def generate(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int, batch_size: int = 4,
             schemas: list[dict] | dict | None = None, stats: dict[str, float] | None = None) -> list[str]:
    """Greedy continuations of `prompts` (only the new text), `batch_size` prompts per forward pass, stopping at
    EOS or an end-of-turn token. With `schemas` (one JSON Schema for all prompts or one per prompt) every token
    is constrained to it (`lib.generation.guided`). `stats`, when given, accumulates `steps`, `mask_seconds` and
    `generate_seconds`."""
    import time

    import torch

    from datapilot_pipeline.lib.chat_format import stop_token_ids

    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if isinstance(schemas, dict):
        schemas = [schemas] * len(prompts)
    if schemas is not None and len(schemas) != len(prompts):
        raise ValueError("give one schema, or one per prompt")
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    stops = stop_token_ids(tokenizer, model)
    grammars = _grammars(schemas) if schemas is not None else None
    outputs: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(prompts[start:start + batch_size], return_tensors="pt", padding=True,
                          add_special_tokens=False).to(device)
        processors = None
        if grammars is not None:
            from transformers import LogitsProcessorList

            from datapilot_pipeline.lib.generation.guided import SchemaLogitsProcessor, guidance_tokenizer

            guide = SchemaLogitsProcessor(guidance_tokenizer(tokenizer, stops),
                                          grammars[start:start + batch_size], len(tokenizer))
            processors = LogitsProcessorList([guide])
        began = time.perf_counter()
        with torch.no_grad():
            tokens = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id, eos_token_id=stops,
                                    logits_processor=processors)
        if stats is not None:
            stats["generate_seconds"] = stats.get("generate_seconds", 0.0) + time.perf_counter() - began
            stats["steps"] = stats.get("steps", 0.0) + tokens.shape[1] - batch["input_ids"].shape[1]
            if processors is not None:
                stats["mask_seconds"] = stats.get("mask_seconds", 0.0) + guide.mask_seconds
        new = tokens[:, batch["input_ids"].shape[1]:]
        outputs.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    return outputs


def _grammars(schemas: list[dict]) -> list[str]:
    """Compiled grammars, one per prompt; identical schemas are compiled once."""
    from datapilot_pipeline.lib.generation.guided import compile_grammar

    cache: dict[str, str] = {}
    out = []
    for schema in schemas:
        key = json.dumps(schema, sort_keys=True)
        if key not in cache:
            cache[key] = compile_grammar(schema)
        out.append(cache[key])
    return out
