"""One token budget for export, validation and training: the target model's tokenizer and max sequence length.

A line fits when its whole sequence, tokenized the way TRL's SFT trainer tokenizes it (through the chat template
when the tokenizer has one, as training applies it; else prompt + completion + EOS, the tokenizer's own special
tokens included), has at most `max_length` tokens and keeps at least one completion token. Export writes only lines that fit, validation counts the lines that would not, and
training drops the same lines: all three call `TokenBudget.measure`.

The target tokenizer is the base model's (a local directory or cached hub id) or, when no base model is
named, the workspace's `models/base/`: the shipped demo base model, installed there on first use
(`lib.generation.modeling.install_demo_base`).

Export and validation only count: they load the budget with `TokenBudget.load_for_counting`, and send it to their
worker processes as its `portable` form (the tokenizer's Rust backend, checked to give the same ids), so neither they
nor their workers import transformers and torch for it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datapilot_pipeline.lib.generation.line_tokens import line_ids, text_ids

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
        completion = _with_eos(tokenizer, completion)
        prompt_ids = text_ids(tokenizer, prompt)
        full_ids = text_ids(tokenizer, prompt + completion)
    return len(full_ids), len(full_ids) - _common_prefix(prompt_ids, full_ids)


def _common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading ids `a` and `b` share. Mostly `a` is a prefix of `b` (a prompt's ids within the whole
    line's), settled by one list comparison; otherwise the first difference is found by halving."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def _with_eos(tokenizer: Any, completion: str) -> str:
    eos = tokenizer.eos_token or ""
    return completion if completion.endswith(eos) else completion + eos


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
    _rebuilt: Any = field(default=None, init=False, repr=False, compare=False)  # `portable`'s, once checked

    @classmethod
    def load(cls, tokenizer_dir: str | Path, max_length: int = DEFAULT_MAX_LENGTH,
             base_model: str | None = None) -> "TokenBudget":
        from transformers import AutoTokenizer

        tokenizer_dir = Path(tokenizer_dir)
        if not tokenizer_dir.is_dir():
            raise ValueError(f"no tokenizer folder at {tokenizer_dir}")
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
        return cls(tokenizer, max_length, str(tokenizer_dir), tokenizer_sha256(tokenizer_dir), base_model)

    @classmethod
    def load_for_counting(cls, tokenizer_dir: str | Path, max_length: int = DEFAULT_MAX_LENGTH,
                          base_model: str | None = None) -> "TokenBudget":
        """`load` for a process that only counts tokens (export, validation). Where transformers is not imported
        yet, the tokenizer is loaded and rebuilt on `tokenizers` in a child interpreter (`portable`,
        `backend_tokenizer.rebuilt_in_child`): this process never holds transformers and torch (~300 MB, ~4 CPU-s).
        Once per tokenizer (by its files' sha256) and process. A tokenizer that cannot be rebuilt is loaded here."""
        from datapilot_pipeline.lib.generation.backend_tokenizer import rebuilt_in_child

        tokenizer_dir = Path(tokenizer_dir)
        if not tokenizer_dir.is_dir():
            raise ValueError(f"no tokenizer folder at {tokenizer_dir}")
        sha256 = tokenizer_sha256(tokenizer_dir)
        if "transformers" not in sys.modules and not _has_chat_template(tokenizer_dir):
            if sha256 not in _REBUILT:
                _REBUILT[sha256] = rebuilt_in_child(tokenizer_dir)
            if _REBUILT[sha256] is not None:
                return cls(_REBUILT[sha256], max_length, str(tokenizer_dir), sha256, base_model)
        return cls.load(tokenizer_dir, max_length, base_model)

    def measure(self, prompt: str, completion: str) -> tuple[int, int]:
        """(sequence tokens, completion tokens) as the trainer counts them (`sequence_tokens`)."""
        return sequence_tokens(self.tokenizer, prompt, completion)

    def fits(self, prompt: str, completion: str) -> bool:
        total, completion_tokens = self.measure(prompt, completion)
        return total <= self.max_length and completion_tokens > 0

    def prompt_tokens(self, prompt: str) -> int:
        return prompt_token_count(self.tokenizer, prompt)

    def line_hints(self, prompt: str, completion: str) -> dict:
        """The ids of the line's own pieces that `measure(prompt, completion)` tokenized (`LineIds.own_pieces`; {}
        where counts are not made line by line). Given to `hinted` in another process, they spare it tokenizing the
        same line again (export measures a line in its first pass and fits its worked examples in the second)."""
        from datapilot_pipeline.lib.chat_format import has_chat_template

        cutter = None if has_chat_template(self.tokenizer) else line_ids(self.tokenizer)
        return cutter.own_pieces([prompt + _with_eos(self.tokenizer, completion)]) if cutter is not None else {}

    def hinted(self, hints: dict) -> None:
        """Count with `line_hints` made elsewhere, until the next call (`{}`: none)."""
        cutter = line_ids(self.tokenizer)
        if cutter is not None:
            cutter.hinted(hints)

    def portable(self) -> "TokenBudget | None":
        """This budget with its tokenizer rebuilt on `tokenizers` alone (`backend_tokenizer.rebuilt`: checked to give
        the same ids), or None where it cannot be (a chat template, a slow tokenizer). A worker process that gets it
        counts without importing transformers and torch."""
        from datapilot_pipeline.lib.generation.backend_tokenizer import BackendTokenizer, rebuilt

        if isinstance(self.tokenizer, BackendTokenizer):
            return self
        if self._rebuilt is None:
            self._rebuilt = rebuilt(self.tokenizer) or False
        if self._rebuilt is False:
            return None
        return TokenBudget(self._rebuilt, self.max_length, self.tokenizer_path, self.tokenizer_hash, self.base_model)

    def __reduce__(self):
        """Sent to a worker process as its `portable` form (the backend's JSON: ~100 KB for the demo base model),
        else as the folder to load again (checked against this tokenizer's sha256 there). One budget per process for
        each: its line cache (`line_tokens`) lasts across the chunks a worker is given."""
        light = self.portable()
        if light is not None:
            return _received, (light.tokenizer.backend_json, light.tokenizer.eos_token, self.max_length,
                               self.tokenizer_path, self.tokenizer_hash, self.base_model)
        return _reloaded, (self.tokenizer_path, self.max_length, self.base_model, self.tokenizer_hash)

    def check(self, expected_sha256: str | None) -> None:
        """Raise `TokenizerMismatchError` unless this tokenizer is the one with `expected_sha256`."""
        if expected_sha256 and expected_sha256 != self.tokenizer_hash:
            raise TokenizerMismatchError(
                f"tokenizer {self.tokenizer_path} (sha256 {self.tokenizer_hash[:12]}) is not the one the dataset's "
                f"token budget was counted with (sha256 {expected_sha256[:12]}); export again for this model")


_REBUILT: dict[str, Any] = {}  # tokenizer files' sha256 -> `load_for_counting`'s BackendTokenizer (None: cannot be)
_RECEIVED: dict[tuple, TokenBudget] = {}


def _has_chat_template(tokenizer_dir: Path) -> bool:
    """Whether the folder names a chat template (then the tokenizer is never rebuilt: no child is worth starting)."""
    if any((tokenizer_dir / name).is_file() for name in ("chat_template.jinja", "chat_template.json")):
        return True
    config = tokenizer_dir / "tokenizer_config.json"
    try:
        return bool(config.is_file() and json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
    except (ValueError, AttributeError):
        return True  # unreadable here: loaded the usual way, which reports it


def _received(backend_json: str, eos_token: str | None, max_length: int, path: str, sha256: str,
              base_model: str | None) -> TokenBudget:
    from datapilot_pipeline.lib.generation.backend_tokenizer import BackendTokenizer

    key = ("portable", hashlib.sha256(backend_json.encode()).hexdigest(), eos_token, max_length, path, sha256,
           base_model)
    if key not in _RECEIVED:
        _RECEIVED[key] = TokenBudget(BackendTokenizer(backend_json, eos_token), max_length, path, sha256, base_model)
    return _RECEIVED[key]


def _reloaded(path: str, max_length: int, base_model: str | None, sha256: str) -> TokenBudget:
    key = ("folder", max_length, path, sha256, base_model)
    if key not in _RECEIVED:
        budget = TokenBudget.load(path, max_length, base_model)
        budget.check(sha256)
        _RECEIVED[key] = budget
    return _RECEIVED[key]


def target_tokenizer_dir(base_model: str | None, workspace: "Workspace") -> Path:
    """The folder holding the target model's tokenizer: a named base model resolved as training resolves it
    (local folder or cached hub id); None means the workspace's `models/base/` (the demo base model, installed
    there on first use)."""
    from datapilot_pipeline.lib.generation.modeling import resolve_base_model

    return resolve_base_model(base_model, workspace)


def target_budget(base_model: str | None, workspace: "Workspace", max_length: int = DEFAULT_MAX_LENGTH) -> TokenBudget:
    """The token budget of the model a dataset is for (see `target_tokenizer_dir`), loaded for counting."""
    return TokenBudget.load_for_counting(target_tokenizer_dir(base_model, workspace), max_length, base_model)
