"""The prompt builder shared by export and evaluation: a versioned system prompt, `shot_count` worked
examples and the job's compact EDA, serialized compactly and deterministically.

Layout of a prompt (the user part is what follows the system prompt):

    <SYSTEM_PROMPT>

    ### Example 1
    Compact EDA:
    {...}
    Insights:
    {...}

    ### Task
    Compact EDA:
    {...}
    Insights:
"""

from __future__ import annotations

import json
from typing import Any

from datapilot_pipeline.lib.atomic import dumps_compact

PROMPT_VERSION = "v1"
SYSTEM_PROMPT = (
    "You are DataPilot, a careful data analyst. Given the compact EDA of a table, reply with JSON only: "
    '{"insights": [...], "summary": "..."}. Each insight has "id", "category" (outlier, correlation, trend, '
    'quality, missing_data, distribution, segment), "severity" (low, medium, high, critical), "text" (one '
    'sentence), "evidence" ({"columns": [...], "aggregates": {JSON Pointer into the EDA or KPI name: value}, '
    '"row_indices": [...]}) and "recommendation" ({"action": "...", "priority": low|medium|high}). '
    "Cite only columns, rows and numbers that appear in the EDA; never invent values. 1 to 20 insights."
)
TASK_HEADER = "### Task\nCompact EDA:\n"
ANSWER_CUE = "\nInsights:\n"


def _block(title: str, compact_eda: dict, output: dict | None) -> str:
    answer = dumps_compact(output) if output is not None else ""
    return f"### {title}\nCompact EDA:\n{dumps_compact(compact_eda)}{ANSWER_CUE}{answer}"


def build_user_message(compact_eda: dict, shots: list[dict]) -> str:
    """Few-shot blocks (each `{"compact_eda", "output"}`) followed by the task block."""
    blocks = [_block(f"Example {n}", s["compact_eda"], s["output"]) for n, s in enumerate(shots, start=1)]
    blocks.append(_block("Task", compact_eda, None))
    return "\n\n".join(blocks)


def build_prompt(compact_eda: dict, shots: list[dict], system_prompt: str = SYSTEM_PROMPT) -> str:
    """The full prompt for prompt/completion data and local models."""
    return f"{system_prompt}\n\n{build_user_message(compact_eda, shots)}"


def build_messages(compact_eda: dict, shots: list[dict], completion: dict | None = None,
                   system_prompt: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
    """The same prompt as chat messages (system, user[, assistant])."""
    messages = [{"role": "system", "content": system_prompt},
                {"role": "user", "content": build_user_message(compact_eda, shots)}]
    if completion is not None:
        messages.append({"role": "assistant", "content": dumps_compact(completion)})
    return messages


def format_completion(output: dict) -> str:
    return dumps_compact(output)


def extract_task_eda(prompt: str) -> dict[str, Any] | None:
    """The task's compact EDA from a prompt built here; None when the prompt has no parsable task block."""
    start = prompt.rfind(TASK_HEADER)
    if start < 0:
        return None
    body = prompt[start + len(TASK_HEADER):]
    end = body.rfind(ANSWER_CUE)
    if end < 0:
        return None
    try:
        value = json.loads(body[:end])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def split_prompt(prompt: str) -> tuple[str, str]:
    """(shared head: system prompt and examples, varying task part). Dedup looks at the second."""
    start = prompt.rfind(TASK_HEADER)
    return (prompt, "") if start < 0 else (prompt[:start], prompt[start:])
