"""Line builders for every export format, all from `lib.prompts` so the prompt is one and the same.

- prompt-completion (DESIGN.md): `{"prompt", "completion", "metadata"}`, train and validation in one file.
- openai-chat: `{"messages": [system, user, assistant]}` and nothing else (OpenAI fine-tuning upload).
- bedrock: `{"system", "messages": [user, assistant]}` (Anthropic messages style, Bedrock fine-tuning).
- preference: `{"prompt", "chosen", "rejected"}` for DPO; chosen is the approved output, rejected the
  original LLM output; only jobs where reviewers edited or dropped something have a pair.
- holdout: `{"example_id", "compact_eda", "output"}`, the seed-example format read by evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from datapilot_pipeline.lib.atomic import dumps_compact
from datapilot_pipeline.lib.prompts import (
    PROMPT_VERSION, SYSTEM_PROMPT, build_messages, build_prompt, build_user_message,
)

FORMATS = ("prompt-completion", "openai-chat", "bedrock", "preference")
OPENAI_ROLES = ("system", "user", "assistant")
OPENAI_MESSAGE_KEYS = {"role", "content", "name", "weight"}


@dataclass
class PreparedExample:
    """One job ready to format: PII already masked in the compact EDA, outputs and shots."""

    job_id: str
    split: str
    compact_eda: dict
    approved_output: dict
    original_output: dict
    shots: list[dict]
    metadata: dict = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.approved_output != self.original_output


def prompt_completion_line(ex: PreparedExample) -> dict:
    prompt = build_prompt(ex.compact_eda, ex.shots)
    completion = dumps_compact(ex.approved_output)
    metadata = {**ex.metadata, "split": ex.split, "prompt_version": PROMPT_VERSION, "shot_count": len(ex.shots),
                "shot_ids": [str(s["example_id"]) for s in ex.shots], "prompt_length": len(prompt),
                "completion_length": len(completion)}
    return {"prompt": prompt, "completion": completion, "metadata": metadata}


def openai_chat_line(ex: PreparedExample) -> dict:
    return {"messages": build_messages(ex.compact_eda, ex.shots, completion=ex.approved_output)}


def bedrock_line(ex: PreparedExample) -> dict:
    return {"system": SYSTEM_PROMPT,
            "messages": [{"role": "user", "content": build_user_message(ex.compact_eda, ex.shots)},
                         {"role": "assistant", "content": dumps_compact(ex.approved_output)}]}


def preference_line(ex: PreparedExample) -> dict | None:
    if not ex.changed:
        return None
    return {"prompt": build_prompt(ex.compact_eda, ex.shots), "chosen": dumps_compact(ex.approved_output),
            "rejected": dumps_compact(ex.original_output)}


def holdout_row(ex: PreparedExample) -> dict:
    return {"example_id": ex.job_id, "compact_eda": ex.compact_eda, "output": ex.approved_output}


BUILDERS: dict[str, Callable[[PreparedExample], dict | None]] = {
    "prompt-completion": prompt_completion_line, "openai-chat": openai_chat_line,
    "bedrock": bedrock_line, "preference": preference_line}


def openai_chat_problems(line: object) -> list[str]:
    """Every way a line breaks OpenAI's chat fine-tuning format as this project uses it: an object with
    only `messages`; each message an object with a role among system/user/assistant, a string
    content and no other keys than name/weight; at least one assistant message, which the
    last message must be. Empty when the line is acceptable."""
    if not isinstance(line, dict):
        return ["line is not a JSON object"]
    problems = [f"unexpected top-level key {k!r}" for k in sorted(set(line) - {"messages"})]
    messages = line.get("messages")
    if not isinstance(messages, list) or not messages:
        return problems + ["messages must be a non-empty list"]
    for n, msg in enumerate(messages):
        if not isinstance(msg, dict):
            problems.append(f"message {n} is not an object")
            continue
        problems += [f"message {n}: unexpected key {k!r}" for k in sorted(set(msg) - OPENAI_MESSAGE_KEYS)]
        if msg.get("role") not in OPENAI_ROLES:
            problems.append(f"message {n}: role {msg.get('role')!r} is not one of {', '.join(OPENAI_ROLES)}")
        if not isinstance(msg.get("content"), str) or not msg.get("content"):
            problems.append(f"message {n}: content must be a non-empty string")
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if "assistant" not in roles:
        problems.append("no assistant message to learn from")
    elif roles[-1] != "assistant":
        problems.append("the last message must be the assistant's")
    return problems
