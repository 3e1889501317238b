"""Reading a fine-tuning JSONL and viewing each line as (prompt, completion, metadata).

Accepted line formats (those `lib.export` writes): prompt-completion `{"prompt", "completion",
"metadata"?}` (metadata is optional: a plain TRL file has none), preference `{"prompt", "chosen",
"rejected"}` (the chosen reply is checked as the completion), openai-chat `{"messages": [system, user,
assistant]}`, bedrock `{"system", "messages": [user, assistant]}` and the seed-example format of seeds and of
the holdout export writes beside a dataset (`{"example_id", "compact_eda", "output"}`: checked as the zero-shot
prompt `lib.prompts.build_prompt(compact_eda, [])` and the output as the completion). A chat prompt is the
system and user contents joined as `lib.prompts.build_prompt` joins them, so every format is checked the same
way. A UTF-8 byte order mark before the first line is ignored. A file none of whose lines is a usable example
(wrong keys, empty prompts or completions) cannot be scored: `require_examples` raises DatasetReadError.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DatasetReadError(ValueError):
    """The file cannot be validated at all: missing, binary, no line is a JSON object, or no line is an example."""


LINE_FORMATS = "prompt/completion, prompt/chosen/rejected, messages, or example_id/compact_eda/output (seed format)"


class JsonPairs(list):
    """A JSON object as its (key, value) pairs in document order, repeated keys kept (`json.loads` hook)."""


def _as_dicts(value: Any) -> Any:
    """A value parsed with `JsonPairs` objects as `json.loads` builds it: each object a dict (a repeated key keeps
    its first place and its last value)."""
    if type(value) is JsonPairs:
        return {key: _as_dicts(item) if type(item) in (JsonPairs, list) else item for key, item in value}
    if type(value) is list:
        return [_as_dicts(item) if type(item) in (JsonPairs, list) else item for item in value]
    return value


@dataclass
class Record:
    """One line of the dataset. `problems` lists why it is not a usable example (empty when fine)."""

    line: int  # 1-based
    raw: str
    data: Any = None
    pairs: Any = None  # `data` with its objects as `JsonPairs` (the PII scan reads repeated keys too)
    prompt: str | None = None
    completion: str | None = None
    metadata: dict | None = None
    fmt: str | None = None
    problems: list[str] = field(default_factory=list)


def read_lines(path: str | Path, data: bytes | None = None) -> list[tuple[int, str]]:
    """(1-based line number, text) of every non-blank line of `path` (or of `data`, bytes already read from
    it); raises DatasetReadError when unreadable."""
    path = Path(path)
    if data is None and path.is_dir():
        raise DatasetReadError(f"{path} is a directory; give a JSONL file")
    if data is None and not path.is_file():
        raise DatasetReadError(f"no such file: {path}")
    data = path.read_bytes() if data is None else data
    if b"\x00" in data:
        raise DatasetReadError(f"{path} is a binary file, not JSONL")
    try:
        text = data.decode("utf-8-sig")  # a byte order mark (Windows editors) is not part of line 1
    except UnicodeDecodeError as exc:
        raise DatasetReadError(f"{path} is not UTF-8 text (byte {exc.start}): not JSONL") from None
    # Lines end at "\n" only: str.splitlines() also splits at U+2028, U+0085 and others that JSON leaves raw.
    lines = [(n, raw.removesuffix("\r")) for n, raw in enumerate(text.split("\n"), start=1) if raw.strip()]
    if not lines:
        raise DatasetReadError(f"{path} holds no examples (empty file)")
    return lines


def _chat_view(messages: Any, system: Any = None) -> tuple[str | None, str | None, list[str]]:
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return None, None, ["messages must be a list of objects"]
    by_role: dict[str, list[str]] = {}
    for m in messages:
        if not isinstance(m.get("content"), str):
            return None, None, [f"message content must be a string (role {m.get('role')!r})"]
        by_role.setdefault(str(m.get("role")), []).append(m["content"])
    system_text = system if isinstance(system, str) else "\n\n".join(by_role.get("system", []))
    if not by_role.get("user") or not by_role.get("assistant"):
        return None, None, ["messages need a user and an assistant message"]
    if messages[-1].get("role") != "assistant":
        return None, None, ["the last message must be the assistant's"]
    prompt = "\n\n".join(p for p in (system_text, by_role["user"][-1]) if p)
    return prompt, by_role["assistant"][-1], []


def _text_fields(rec: Record, data: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            rec.problems.append(f"{key} must be a non-empty string")


def parse_record(line: int, raw: str) -> Record:
    """Parse one line and view it as prompt/completion/metadata, recording structural problems."""
    rec = Record(line=line, raw=raw)
    try:  # parsed once for the checks and the PII scan
        rec.pairs = json.loads(raw, object_pairs_hook=JsonPairs)
        rec.data = _as_dicts(rec.pairs)
    except json.JSONDecodeError as exc:
        rec.pairs = None
        rec.problems.append(f"not JSON: {exc.msg} at column {exc.colno}")
        return rec
    except RecursionError:
        rec.pairs = None
        rec.problems.append("not JSON: nested too deeply")
        return rec
    data = rec.data
    if not isinstance(data, dict):
        rec.problems.append(f"a line must be a JSON object, got {type(data).__name__}")
        return rec
    if "chosen" in data or "rejected" in data:
        rec.fmt = "preference"
        _text_fields(rec, data, ("prompt", "chosen", "rejected"))
        if not rec.problems:
            rec.prompt, rec.completion = data["prompt"], data["chosen"]
    elif "prompt" in data or "completion" in data:
        rec.fmt = "prompt-completion"
        _text_fields(rec, data, ("prompt", "completion"))
        metadata = data.get("metadata")
        if metadata is None:
            pass  # plain TRL prompt-completion: nothing to check
        elif not isinstance(metadata, dict):
            rec.problems.append("metadata must be an object when present")
        elif "job_id" in metadata and not isinstance(metadata["job_id"], str):
            rec.problems.append("metadata.job_id must be a string")
        else:
            rec.metadata = metadata
        if not rec.problems:
            rec.prompt, rec.completion = data["prompt"], data["completion"]
    elif "messages" in data:
        rec.fmt = "bedrock" if "system" in data else "openai-chat"
        rec.prompt, rec.completion, problems = _chat_view(data["messages"], data.get("system"))
        rec.problems.extend(problems)
        rec.metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else None
    elif "compact_eda" in data or "output" in data:
        rec.fmt = "seed-example"
        _seed_view(rec, data)
    else:
        rec.problems.append(f"a line needs {LINE_FORMATS}")
    return rec


def _seed_view(rec: Record, data: dict) -> None:
    from datapilot_pipeline.lib.atomic import dumps_compact
    from datapilot_pipeline.lib.prompts import build_prompt

    for key in ("compact_eda", "output"):
        if not isinstance(data.get(key), dict) or not data[key]:
            rec.problems.append(f"{key} must be a non-empty object")
    if "example_id" in data and not isinstance(data["example_id"], str):
        rec.problems.append("example_id must be a string")
    if not rec.problems:
        rec.prompt, rec.completion = build_prompt(data["compact_eda"], []), dumps_compact(data["output"])


def read_records(path: str | Path, data: bytes | None = None) -> list[Record]:
    """Every non-blank line as a Record; raises DatasetReadError when no line is a JSON object."""
    records = [parse_record(n, raw) for n, raw in read_lines(path, data)]
    if not any(isinstance(r.data, dict) for r in records):
        raise no_object_error(path)
    return records


def _recipe_hint(path: str | Path) -> str | None:
    """Export writes `<stem>_recipe.json` beside the dataset; a user may pick it by mistake."""
    name = Path(path).name
    if not name.endswith("_recipe.json"):
        return None
    dataset = Path(path).with_name(name.removesuffix("_recipe.json") + ".jsonl")
    return f"{path} is a prompt recipe, not a dataset: validate {dataset}"


def require_examples(path: str | Path, lines: list[tuple[int, list[str], bool]]) -> None:
    """Raise DatasetReadError unless some line is usable: (line, problems, usable) per line. A file of `{"foo": 1}`
    lines or of empty prompts and completions has nothing to score, so it is refused, not graded 0."""
    if any(usable for _, _, usable in lines):
        return
    raise no_example_error(path, next(((n, problems[0]) for n, problems, _ in lines if problems), None))


def iter_lines(path: str | Path, digest=None) -> Iterator[tuple[int, str]]:
    """`read_lines` one line at a time: (1-based line number, text) of every non-blank line, the same errors, and
    `digest` (a hashlib object) updated with every byte of the file, the whole file even when a line is bad, so
    the caller can tell a changed file from a bad one."""
    path = Path(path)
    if path.is_dir():
        raise DatasetReadError(f"{path} is a directory; give a JSONL file")
    if not path.is_file():
        raise DatasetReadError(f"no such file: {path}")
    error: DatasetReadError | None = None
    any_line, offset = False, 0
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if digest is not None:
                digest.update(raw)
            if error is None or "binary" not in str(error):
                if b"\x00" in raw:
                    error = DatasetReadError(f"{path} is a binary file, not JSONL")
                elif error is None:
                    try:
                        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                    except UnicodeDecodeError as exc:
                        error = DatasetReadError(f"{path} is not UTF-8 text (byte {offset + exc.start}): not JSONL")
                    else:
                        text = text.removesuffix("\n").removesuffix("\r")
                        if text.strip():
                            any_line = True
                            yield number, text
            offset += len(raw)
    if error is not None:
        raise error
    if not any_line:
        raise DatasetReadError(f"{path} holds no examples (empty file)")


def no_object_error(path: str | Path) -> DatasetReadError:
    """What `read_records` raises when no line is a JSON object."""
    return DatasetReadError(_recipe_hint(path) or f"{path} is not JSONL: no line is a JSON object")


def no_example_error(path: str | Path, first_problem: tuple[int, str] | None) -> DatasetReadError:
    """What `require_examples` raises when no line is usable; `first_problem` is (line, first problem)."""
    reason = f"line {first_problem[0]}: {first_problem[1]}" if first_problem else f"a line needs {LINE_FORMATS}"
    return DatasetReadError(_recipe_hint(path) or f"{path} holds no usable example ({reason})")
