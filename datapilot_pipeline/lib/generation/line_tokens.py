"""A text's token ids as the ids of its lines, each line tokenized once: exact for byte-level BPE tokenizers.

Export, validation and training count the tokens of every line, several times each (the zero-shot prompt, the
prompt with its worked examples, prompt + completion), and the lines share most of their text (the system prompt,
the worked examples' blocks). A fast tokenizer spends most of its time in the byte-level pre-tokenizer's regex
(about 2 MB/s on compact EDAs), so counting cost ~5 ms per 10 KB line, every time.

A byte-level BPE tokenizer (GPT-2's pre-tokenizer regex, no normalizer) merges only inside the pieces its regex
cuts, and a newline between two printable ASCII characters is always a piece of its own: no alternative of the
regex crosses it (letters, digits and punctuation runs take at most a leading space, whitespace runs end before a
non-space). So the text's ids are the ids of the text before that newline, of the newline, and of the text after it,
concatenated. `LineIds` cuts a text at every such newline and tokenizes each distinct piece once (an LRU cache):
what lines share is tokenized once per process, what is new once per line.

The cut applies only where that argument holds: a fast tokenizer whose backend has no normalizer, a `ByteLevel`
pre-tokenizer with the regex and no prefix space, a BPE model, no special tokens added around a sequence, and no
added token that strips the whitespace beside it, matches only as a whole word or holds a newline. It is also checked
once per tokenizer on a text with every kind of cut; any other tokenizer is called on the whole text, as before.
"""

from __future__ import annotations

import functools
import hashlib
import re
import weakref
from array import array
from typing import Any

# A newline between two printable ASCII characters (not spaces): where the byte-level regex always cuts. The pattern
# starts with the newline itself (the character before it is looked at behind it), so `re` scans for newlines only.
_CUT = re.compile(r"(\n)(?=[!-~])(?<=[!-~]\n)")
# Distinct pieces kept per tokenizer: the shared ones are used on every line, so they stay; a line's own pieces stay
# for the next counts of the same line (validation counts a chunk's 250 prompts, then their completions, then each
# line's sequence). A piece of ~2,500 characters holds ~3 KB of ids: the cache stays under ~10 MB.
PIECES_CACHED = 1024
_SELF_CHECK = ("You are a data analyst.\nReturn JSON only.\n\n### Example 1\nCompact EDA:\n"
               '{"dataset":{"name":"sales.csv","n_rows":1200},"columns":{"amount":{"mean":12.5}}}\nInsights:\n'
               '{"insights":[{"id":"i1","text":"Amount\'s mean is 12.5 ... (n=1,200)."}]}\n'
               "a'\n's\n\"x\"\n{\n}\n1\n2\nÉté\n- item\n  indented\nend \n next\n\t\ntab\n<|eos|>")


HINT_MIN_CHARS = 256  # pieces this long are a line's own (the shared ones are short lines or cached anyway)


def _piece_key(piece: str) -> tuple[int, bytes]:
    return len(piece), hashlib.blake2b(piece.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class LineIds:
    """`tokenizer(text)["input_ids"]` computed as the ids of the text's pieces (see the module). A piece not seen
    before is also cut around its added tokens (an end-of-sequence marker after a completion): the tokenizer takes
    those out before anything else and tokenizes the text between them on its own. Ids are kept as 32-bit arrays
    (~4 bytes a token rather than ~36 in a tuple of ints)."""

    def __init__(self, tokenizer: Any, cached: int = PIECES_CACHED) -> None:
        self.tokenizer = tokenizer
        added = sorted({t.content for t in _added_tokens(tokenizer) if t.content}, key=len, reverse=True)
        self._added = re.compile("(" + "|".join(map(re.escape, added)) + ")") if added else None
        self._piece = functools.lru_cache(maxsize=cached)(self._piece_ids)
        self._hints: dict[tuple[int, bytes], array] = {}

    def _tokenize(self, part: str) -> array:
        return array("i", self.tokenizer(part, add_special_tokens=False)["input_ids"])

    def own_pieces(self, texts: list[str], min_chars: int = HINT_MIN_CHARS) -> dict[tuple[int, bytes], bytes]:
        """The ids of the texts' pieces of `min_chars` or more (a line's own: its compact EDA, its completion), keyed
        by each piece's length and digest: what `hinted` takes in another process, so the same line is not tokenized
        there again. Ids as 16-bit values where the vocabulary allows (half the bytes)."""
        out = {}
        for text in texts:
            for piece in _CUT.split(text):
                if len(piece) >= min_chars:
                    ids = self._piece(piece)
                    packed = array("H", ids) if max(ids, default=0) < 2 ** 16 else ids
                    out[_piece_key(piece)] = packed.typecode.encode() + packed.tobytes()
        return out

    def hinted(self, hints: dict[tuple[int, bytes], bytes]) -> None:
        """Take `own_pieces` from another process as the ids of those pieces until the next call (`{}`: none)."""
        self._hints = {}
        for key, data in hints.items():
            ids = array(data[:1].decode())
            ids.frombytes(data[1:])
            self._hints[key] = ids if ids.typecode == "i" else array("i", ids)

    def _piece_ids(self, piece: str) -> array:
        if self._hints and len(piece) >= HINT_MIN_CHARS:
            hinted = self._hints.get(_piece_key(piece))
            if hinted is not None:
                return hinted
        parts = [p for p in self._added.split(piece) if p] if self._added is not None else [piece]
        if len(parts) == 1:  # plain text, or one added token
            return self._tokenize(piece)
        ids = array("i")
        for part in parts:
            ids.extend(self._piece(part))  # a completion is cached apart from the marker after it
        return ids

    def __call__(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in _CUT.split(text):
            if piece:
                ids.extend(self._piece(piece))
        return ids


def _added_tokens(tokenizer: Any) -> list:
    return list(getattr(tokenizer, "added_tokens_decoder", {}).values())


def _cuttable(tokenizer: Any) -> bool:
    """Whether the tokenizer is one the cut is exact for (the module's conditions), checked on its configuration."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or backend.normalizer is not None or type(backend.model).__name__ != "BPE":
        return False
    pre = backend.pre_tokenizer
    if type(pre).__name__ != "ByteLevel" or not pre.use_regex or pre.add_prefix_space:
        return False
    if tokenizer.num_special_tokens_to_add(pair=False) != 0:
        return False
    return not any(t.lstrip or t.rstrip or t.single_word or "\n" in t.content for t in _added_tokens(tokenizer))


_BY_TOKENIZER: "weakref.WeakKeyDictionary[Any, LineIds | None]" = weakref.WeakKeyDictionary()


def line_ids(tokenizer: Any) -> LineIds | None:
    """The tokenizer's `LineIds` (one per tokenizer object), or None when the cut is not known to be exact for it."""
    try:
        return _BY_TOKENIZER[tokenizer]
    except (KeyError, TypeError):
        pass
    found = None
    if _cuttable(tokenizer):
        candidate = LineIds(tokenizer)
        if candidate(_SELF_CHECK) == list(tokenizer(_SELF_CHECK)["input_ids"]):
            found = candidate
    try:
        _BY_TOKENIZER[tokenizer] = found
    except TypeError:  # not weakly referenceable: checked again next time
        pass
    return found


def text_ids(tokenizer: Any, text: str) -> list[int]:
    """`tokenizer(text)["input_ids"]`, through `LineIds` where it is exact."""
    cutter = line_ids(tokenizer)
    return cutter(text) if cutter is not None else list(tokenizer(text)["input_ids"])
