"""Vendor fine-tuning backends (OpenAI API, Anthropic via Amazon Bedrock) and their shared file formats."""

from __future__ import annotations

from pathlib import Path

from datapilot_pipeline.lib.jsonl import iter_jsonl
from datapilot_pipeline.lib.prompts import SYSTEM_PROMPT


def chat_rows(path: Path) -> list[dict]:
    """`{"messages": [system, user, assistant]}` rows from a chat-format or prompt/completion JSONL file.

    A prompt built by `lib.prompts` starts with the system prompt; it becomes the system message.
    """
    rows = []
    for number, row in iter_jsonl(path):
        if isinstance(row, dict) and isinstance(row.get("messages"), list):
            rows.append({"messages": row["messages"]})
        elif isinstance(row, dict) and isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str):
            rows.append({"messages": _split(row["prompt"]) + [{"role": "assistant", "content": row["completion"]}]})
        else:
            raise ValueError(f"{path}:{number}: neither chat ('messages') nor prompt/completion format")
    if not rows:
        raise ValueError(f"{path}: no examples")
    return rows


def _split(prompt: str) -> list[dict[str, str]]:
    if prompt.startswith(SYSTEM_PROMPT):
        return [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt[len(SYSTEM_PROMPT):].lstrip("\n")}]
    return [{"role": "user", "content": prompt}]
