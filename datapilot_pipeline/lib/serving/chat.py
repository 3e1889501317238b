"""Chat messages as the flat prompt of `lib.prompts.build_prompt`: system prompt, a blank line, the user part.

A request built with `build_messages` reaches a model without a chat template exactly as the evaluation's local
arm and the training data present it (a model with a template gets the messages through it, `lib.chat_format`).
"""

from __future__ import annotations

from collections.abc import Sequence


def messages_to_prompt(messages: Sequence[dict]) -> str:
    """The messages' texts joined as `build_prompt` joins system and user; an assistant turn continues the text."""
    if not messages:
        raise ValueError("messages must not be empty")
    return "\n\n".join(message.get("content") or "" for message in messages)
