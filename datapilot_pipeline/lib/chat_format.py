"""Prompts in the form a tokenizer expects: through its chat template (system / user / assistant, as the
openai-chat export writes them) when it has one, else the flat prompt text; and the tokens that end a reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# End-of-turn markers of common chat templates (Llama-3, Qwen2/ChatML, Phi-3, Gemma) that a reply must stop on
# even when the tokenizer's eos_token is the end-of-text token.
END_OF_TURN = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>")
_USER_START = "\n\n### "


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def prompt_to_messages(prompt: str) -> list[dict[str, str]]:
    """A flat prompt built by `lib.prompts.build_prompt` as (system, user) messages: the system prompt is what
    precedes the first `### ` block."""
    cut = prompt.find(_USER_START)
    if cut <= 0:
        return [{"role": "user", "content": prompt}]
    return [{"role": "system", "content": prompt[:cut]}, {"role": "user", "content": prompt[cut + 2:]}]


def render_prompts(tokenizer: Any, prompts: Sequence[str],
                   conversations: Sequence[Sequence[dict]] | None = None) -> list[str]:
    """The text to tokenize for each prompt: chat-templated (with the assistant turn opened) when the tokenizer
    has a template, else the flat prompt."""
    if not has_chat_template(tokenizer):
        return list(prompts)
    if conversations is None or len(conversations) != len(prompts):
        conversations = [prompt_to_messages(p) for p in prompts]
    return [tokenizer.apply_chat_template(list(c), add_generation_prompt=True, tokenize=False)
            for c in conversations]


def to_conversational(row: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    """A prompt/completion row in TRL's conversational form, so training applies the chat template (and its
    end-of-turn token) exactly as generation does."""
    return {"prompt": prompt_to_messages(row["prompt"]),
            "completion": [{"role": "assistant", "content": row["completion"]}]}


def stop_token_ids(tokenizer: Any, model: Any | None = None) -> list[int]:
    """Token ids that end a reply: the tokenizer's EOS, the model's generation EOS ids, and end-of-turn markers."""
    ids: list[int] = []
    candidates: list[Any] = [tokenizer.eos_token_id]
    config = getattr(model, "generation_config", None)
    if config is not None:
        eos = config.eos_token_id
        candidates.extend(eos if isinstance(eos, list) else [eos])
    if has_chat_template(tokenizer):
        vocab = tokenizer.get_vocab()
        candidates.extend(vocab.get(marker) for marker in END_OF_TURN)
    for candidate in candidates:
        if isinstance(candidate, int) and candidate not in ids:
            ids.append(candidate)
    if not ids:
        raise ValueError("the tokenizer has no end-of-sequence token; generation could never stop")
    return ids


def ensure_pad_token(tokenizer: Any) -> None:
    """A pad token distinct from the end token: the tokenizer's own when it differs from EOS, else a reserved
    padding token it already has, else EOS as the last resort. (A pad that equals EOS lets a collator that masks
    padding by id drop the real end token from the loss, and the model never learns to stop.)"""
    if tokenizer.pad_token is not None and tokenizer.pad_token != tokenizer.eos_token:
        return
    vocab = tokenizer.get_vocab()
    for candidate in ("<|finetune_right_pad_id|>", "<|endoftext|>", "<pad>", "<|pad|>"):
        if candidate in vocab and candidate != tokenizer.eos_token:
            tokenizer.pad_token = candidate
            return
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
