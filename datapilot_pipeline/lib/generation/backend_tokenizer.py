"""A fast tokenizer's counting surface on `tokenizers` alone, for worker processes that only count tokens.

Loading a tokenizer with `transformers.AutoTokenizer` imports transformers and torch: ~4 CPU-s and ~300 MB in every
process that does it. What the token budget calls on a fast tokenizer without a chat template is its Rust backend
(`backend_tokenizer`): `tokenizer(text)["input_ids"]` is the backend's encoding with or without its post-processor's
special tokens, and the end-of-sequence token is a string of the configuration. `BackendTokenizer` is that backend
rebuilt from its JSON, with that string: `TokenBudget.portable` makes one only after checking it gives the same ids
as the loaded tokenizer (`same_ids`), so a worker counts exactly what the process that loaded the tokenizer counts.
`rebuilt_in_child` does the loading and the check in a child interpreter, for a process that only counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Texts the rebuilt backend must encode as the loaded tokenizer does (with and without special tokens): JSON, prose,
# non-ASCII, whitespace runs, special-token strings, an empty text.
CHECK_TEXTS = ("You are a data analyst.\nReturn JSON only.\n\n### Compact EDA\n"
               '{"dataset":{"name":"sales.csv","n_rows":1200},"columns":{"amount":{"mean":12.5,"top_values":{}}}}\n',
               "Été à São Paulo: 12,5 % — ½ ≠ 0.5?\t\t  tabs  and  spaces \n\n\nend",
               '{"insights":[{"id":"i1","text":"Amount\'s mean is 12.5 (n=1,200).","severity":"high"}]}',
               "")


class BackendTokenizer:
    """`tokenizers.Tokenizer` from a fast tokenizer's backend JSON, called like a transformers tokenizer for counting
    (`tokenizer(text)["input_ids"]`, `eos_token`, `added_tokens_decoder`, `num_special_tokens_to_add`). It has no chat
    template: a tokenizer with one is never rebuilt this way (training tokenizes through the template)."""

    chat_template = None
    is_fast = True

    def __init__(self, backend_json: str, eos_token: str | None) -> None:
        from tokenizers import Tokenizer

        self.backend_json, self.eos_token = backend_json, eos_token
        self.backend_tokenizer = Tokenizer.from_str(backend_json)
        self.added_tokens_decoder = self.backend_tokenizer.get_added_tokens_decoder()

    def __call__(self, text: str | list[str], add_special_tokens: bool = True) -> dict[str, list]:
        if isinstance(text, list):
            encoded = self.backend_tokenizer.encode_batch(text, add_special_tokens=add_special_tokens)
            return {"input_ids": [e.ids for e in encoded]}
        return {"input_ids": self.backend_tokenizer.encode(text, add_special_tokens=add_special_tokens).ids}

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        processor = self.backend_tokenizer.post_processor
        return processor.num_special_tokens_to_add(pair) if processor is not None else 0

    def __reduce__(self):
        return BackendTokenizer, (self.backend_json, self.eos_token)


def rebuilt(tokenizer: Any) -> BackendTokenizer | None:
    """A `BackendTokenizer` counting as `tokenizer` does, or None: a tokenizer with a chat template or without a Rust
    backend, or one whose rebuilt backend encodes a `CHECK_TEXTS` text differently."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or getattr(tokenizer, "chat_template", None) or not getattr(tokenizer, "is_fast", False):
        return None
    candidate = BackendTokenizer(backend.to_str(), tokenizer.eos_token)
    return candidate if same_ids(tokenizer, candidate) else None


def same_ids(tokenizer: Any, other: Any) -> bool:
    """Whether both tokenizers give the same ids for every check text (and it followed by the EOS token), with and
    without special tokens, and the same special-token count."""
    eos = tokenizer.eos_token or ""
    if (other.eos_token or "") != eos or other.num_special_tokens_to_add(False) != tokenizer.num_special_tokens_to_add(
            pair=False):
        return False
    for text in CHECK_TEXTS + tuple(t + eos for t in CHECK_TEXTS):
        for special in (True, False):
            if list(other(text, add_special_tokens=special)["input_ids"]) != list(
                    tokenizer(text, add_special_tokens=special)["input_ids"]):
                return False
    return True


def rebuilt_in_child(directory: str | Path) -> BackendTokenizer | None:
    """`rebuilt(AutoTokenizer.from_pretrained(directory))`, loaded and checked in a child interpreter: transformers and
    torch are imported there and leave with it. None where it cannot be rebuilt; a ValueError naming the child's last
    error line where the folder cannot be loaded at all."""
    with tempfile.TemporaryDirectory(prefix="datapilot_tokenizer_") as tmp:
        out = Path(tmp) / "backend.json"
        child = subprocess.run([sys.executable, "-m", __name__, str(directory), str(out)], capture_output=True,
                               text=True)
        if child.returncode != 0 or not out.is_file():
            lines = child.stderr.strip().splitlines()
            raise ValueError(f"cannot load the tokenizer in {directory}: {lines[-1] if lines else child.returncode}")
        found = json.loads(out.read_text(encoding="utf-8"))
    return BackendTokenizer(found["backend"], found["eos_token"]) if found else None


def _main(directory: str, out: str) -> int:
    from transformers import AutoTokenizer

    light = rebuilt(AutoTokenizer.from_pretrained(directory, local_files_only=True))
    found = {"backend": light.backend_json, "eos_token": light.eos_token} if light is not None else None
    Path(out).write_text(json.dumps(found), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:3]))
