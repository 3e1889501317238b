"""One token budget for export, validation and training: the target model's tokenizer and max sequence length.

A line fits when its whole sequence, tokenized the way TRL's SFT trainer tokenizes it (through the chat template
when the tokenizer has one, as training applies it; else prompt + completion + EOS, the tokenizer's own special
tokens included), has at most `max_length` tokens and keeps at least one completion token. Export writes only lines that fit, validation counts the lines that would not, and
training drops the same lines: all three call `TokenBudget.measure`.

The target tokenizer is the base model's (a local directory or cached hub id) or, when no base model is
named, the workspace's `models/base/`: the shipped demo base model, installed there on first use
(`lib.generation.modeling.install_demo_base`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datapilot_pipeline.lib.generation.line_tokens import text_ids

if TYPE_CHECKING:
    from datapilot_pipeline.lib.paths import Workspace

DEFAULT_MAX_LENGTH = 2048  # lib.training's default max_seq_length
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja")


class TokenizerMismatchError(ValueError):
    """The tokenizer at hand is not the one a dataset's token budget was counted with."""


def tokenizer_sha256(directory: str | Path) -> str:
    """SHA-256 over the tokenizer files of a folder (names and bytes, in a fixed order)."""
    directory = Path(directory)
    digest = hashlib.sha256()
    found = False
    for name in TOKENIZER_FILES:
        path = directory / name
        if path.is_file():
            found = True
            digest.update(name.encode() + b"\x00" + path.read_bytes() + b"\x00")
    if not found:
        raise ValueError(f"no tokenizer files in {directory}")
    return digest.hexdigest()


def sequence_tokens(tokenizer: Any, prompt: str, completion: str) -> tuple[int, int]:
    """(sequence tokens, completion tokens) as TRL's SFT trainer counts them. A tokenizer with a chat template
    trains on the conversation (`lib.chat_format.to_conversational`): the prompt rendered with the assistant turn
    opened, and the whole conversation with the reply and its end-of-turn marker. Without one: prompt + completion
    + EOS with the tokenizer's special tokens. Completion tokens are those after the common prefix."""
    from datapilot_pipeline.lib.chat_format import has_chat_template, to_conversational

    if has_chat_template(tokenizer):
        row = to_conversational({"prompt": prompt, "completion": completion})
        prompt_ids = _template_ids(tokenizer, row["prompt"], add_generation_prompt=True)
        full_ids = _template_ids(tokenizer, row["prompt"] + row["completion"])
    else:
        eos = tokenizer.eos_token or ""
        completion = completion if completion.endswith(eos) else completion + eos
        prompt_ids = text_ids(tokenizer, prompt)
        full_ids = text_ids(tokenizer, prompt + completion)
    prefix = 0
    for a, b in zip(prompt_ids, full_ids):
        if a != b:
            break
        prefix += 1
    return len(full_ids), len(full_ids) - prefix


def _template_ids(tokenizer: Any, messages: list[dict], add_generation_prompt: bool = False) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                        add_generation_prompt=add_generation_prompt)
    return list(out["input_ids"])


def prompt_token_count(tokenizer: Any, prompt: str) -> int:
    """Tokens of `prompt` as the model reads it: chat-templated with the assistant turn opened when the tokenizer
    has a template (training and generation both do), else the flat text with the special tokens."""
    from datapilot_pipeline.lib.chat_format import has_chat_template, prompt_to_messages

    if has_chat_template(tokenizer):
        return len(_template_ids(tokenizer, prompt_to_messages(prompt), add_generation_prompt=True))
    return len(text_ids(tokenizer, prompt))


@dataclass
class TokenBudget:
    """A loaded tokenizer, where it came from, and the max sequence length in tokens."""

    tokenizer: Any
    max_length: int
    tokenizer_path: str
    tokenizer_hash: str
    base_model: str | None = None  # the model the budget is for; None: the demo base model

    @classmethod
    def load(cls, tokenizer_dir: str | Path, max_length: int = DEFAULT_MAX_LENGTH,
             base_model: str | None = None) -> "TokenBudget":
        from transformers import AutoTokenizer

        tokenizer_dir = Path(tokenizer_dir)
        if not tokenizer_dir.is_dir():
            raise ValueError(f"no tokenizer folder at {tokenizer_dir}")
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
        return cls(tokenizer, max_length, str(tokenizer_dir), tokenizer_sha256(tokenizer_dir), base_model)

    def measure(self, prompt: str, completion: str) -> tuple[int, int]:
        """(sequence tokens, completion tokens) as the trainer counts them (`sequence_tokens`)."""
        return sequence_tokens(self.tokenizer, prompt, completion)

    def fits(self, prompt: str, completion: str) -> bool:
        total, completion_tokens = self.measure(prompt, completion)
        return total <= self.max_length and completion_tokens > 0

    def prompt_tokens(self, prompt: str) -> int:
        return prompt_token_count(self.tokenizer, prompt)

    def check(self, expected_sha256: str | None) -> None:
        """Raise `TokenizerMismatchError` unless this tokenizer is the one with `expected_sha256`."""
        if expected_sha256 and expected_sha256 != self.tokenizer_hash:
            raise TokenizerMismatchError(
                f"tokenizer {self.tokenizer_path} (sha256 {self.tokenizer_hash[:12]}) is not the one the dataset's "
                f"token budget was counted with (sha256 {expected_sha256[:12]}); export again for this model")


def target_tokenizer_dir(base_model: str | None, workspace: "Workspace") -> Path:
    """The folder holding the target model's tokenizer: a named base model resolved as training resolves it
    (local folder or cached hub id); None means the workspace's `models/base/` (the demo base model, installed
    there on first use)."""
    from datapilot_pipeline.lib.generation.modeling import resolve_base_model

    return resolve_base_model(base_model, workspace)


def target_budget(base_model: str | None, workspace: "Workspace", max_length: int = DEFAULT_MAX_LENGTH) -> TokenBudget:
    """The token budget of the model a dataset is for (see `target_tokenizer_dir`)."""
    return TokenBudget.load(target_tokenizer_dir(base_model, workspace), max_length, base_model)
