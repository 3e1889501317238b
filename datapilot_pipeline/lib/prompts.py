"""The prompt builder shared by export and evaluation: a versioned system prompt, worked examples and the
job's compact EDA, serialized compactly (no null-valued keys) and deterministically.

A `PromptRecipe` says how a dataset's prompts were built: prompt version, the worked examples in the order
they are put in (`shot_ids`), and the token budget (tokenizer, max length). A prompt holds the longest
prefix of those examples that keeps prompt + `completion_reserve` within `max_length`: the last example
is the first one left out. A worked example from the task's own table is never shown. Export writes the
recipe beside the dataset, validation and training check it, and evaluation builds the fine-tuned arm's
prompts with `prompt_for(recipe, compact_eda, seeds)`, so a model is asked the way it was trained.

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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datapilot_pipeline.lib import json_codec
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


def without_nulls(value: Any) -> Any:
    """A copy without the keys whose value is null, at every depth (a compact EDA's absent sections)."""
    if isinstance(value, dict):
        return {k: (without_nulls(v) if isinstance(v, (dict, list)) else v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def _block(title: str, compact_eda: dict, output: dict | None) -> str:
    answer = dumps_compact(output) if output is not None else ""
    eda = compact_eda.json() if isinstance(compact_eda, RenderedEda) else dumps_compact(without_nulls(compact_eda))
    return f"### {title}\nCompact EDA:\n{eda}{ANSWER_CUE}{answer}"


class RenderedEda(dict):
    """A compact EDA whose prompt JSON (nulls left out) is rendered once: an export builds one line's prompt several
    times (fitting its worked examples, measuring it, writing it). Read-only once rendered."""

    def json(self) -> str:
        text = self.__dict__.get("_json")
        if text is None:
            text = self.__dict__["_json"] = dumps_compact(without_nulls(self))
        return text


class WorkedExample(dict):
    """A worked example (`{"example_id", "compact_eda", "output"}`) whose prompt block is rendered once per title:
    an export puts the same few in every line. Read-only once rendered."""

    def block(self, title: str) -> str:
        blocks = self.__dict__.setdefault("_blocks", {})
        if title not in blocks:
            blocks[title] = _block(title, self["compact_eda"], self["output"])
        return blocks[title]


def _example_block(n: int, shot: dict) -> str:
    title = f"Example {n}"
    return shot.block(title) if isinstance(shot, WorkedExample) else _block(title, shot["compact_eda"], shot["output"])


def build_user_message(compact_eda: dict, shots: list[dict]) -> str:
    """Few-shot blocks (each `{"compact_eda", "output"}`) followed by the task block."""
    blocks = [_example_block(n, s) for n, s in enumerate(shots, start=1)]
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
        value = json_codec.loads(body[:end])  # `json.loads`' value, through orjson (validation reads every line's)
    except (json.JSONDecodeError, RecursionError):  # nested past Python's recursion limit: not parsable here either
        return None
    return value if isinstance(value, dict) else None


def split_prompt(prompt: str) -> tuple[str, str]:
    """(shared head: system prompt and examples, varying task part). Dedup looks at the second."""
    start = prompt.rfind(TASK_HEADER)
    return (prompt, "") if start < 0 else (prompt[:start], prompt[start:])


@dataclass(frozen=True)
class PromptRecipe:
    """How a dataset's prompts were built; travels with the dataset to training and evaluation."""

    prompt_version: str = PROMPT_VERSION
    shot_ids: tuple[str, ...] = ()  # worked examples in the order they are put in
    max_length: int | None = None  # the target model's max sequence length, in tokens
    tokenizer: str | None = None  # folder of the tokenizer the budget was counted with
    tokenizer_sha256: str | None = None  # `lib.generation.token_budget.tokenizer_sha256` of that folder
    base_model: str | None = None  # the model the dataset is for; None: the demo base model
    completion_reserve: int = 0  # tokens kept free for the answer when deciding how many examples fit
    shot_count: int = field(default=0)  # = len(shot_ids): most worked examples a prompt may hold

    def __post_init__(self) -> None:
        object.__setattr__(self, "shot_ids", tuple(str(i) for i in self.shot_ids))
        object.__setattr__(self, "shot_count", len(self.shot_ids))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "shot_ids": list(self.shot_ids)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PromptRecipe":
        if not isinstance(data, dict) or "prompt_version" not in data:
            raise ValueError("a prompt recipe is an object with at least prompt_version")
        if data["prompt_version"] != PROMPT_VERSION:
            raise ValueError(f"prompt version {data['prompt_version']!r} is not this code's {PROMPT_VERSION!r}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "shot_count"}
        return cls(**{**known, "shot_ids": tuple(known.get("shot_ids") or ())})


def recipe_path_for(dataset: Path) -> Path:
    """`<dataset stem>_recipe.json` beside the dataset: where export writes its `PromptRecipe`."""
    return dataset.with_name(f"{dataset.stem}_recipe.json")


def read_recipe(dataset: Path) -> PromptRecipe | None:
    """The recipe written beside `dataset`, or None when there is none; a malformed one is a ValueError."""
    path = recipe_path_for(Path(dataset))
    if not path.is_file():
        return None
    try:
        return PromptRecipe.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path}: not a prompt recipe ({exc})") from None


def _table(compact_eda: dict) -> Any:
    return ((compact_eda or {}).get("dataset") or {}).get("name")


def recipe_shots(shot_ids: Sequence[str], seeds: Sequence[dict], compact_eda: dict) -> list[dict]:
    """The seeds named by `shot_ids`, in that order, less any from the task's own table."""
    by_id = {str(s["example_id"]): s for s in seeds}
    missing = [i for i in shot_ids if i not in by_id]
    if missing:
        raise ValueError(f"worked examples {', '.join(missing)} of the prompt recipe are not among the seeds")
    table = _table(compact_eda)
    return [by_id[i] for i in shot_ids if _table(by_id[i]["compact_eda"]) != table]


def fit_shots(compact_eda: dict, shots: Sequence[dict], prompt_tokens: Callable[[str], int],
              limit: int | None) -> list[dict]:
    """The longest prefix of `shots` whose prompt has at most `limit` tokens (all of them when limit is None)."""
    if limit is None:
        return list(shots)
    kept: list[dict] = []
    for shot in shots:
        if prompt_tokens(build_prompt(compact_eda, [*kept, shot])) > limit:
            break
        kept.append(shot)
    return kept


@dataclass(frozen=True)
class RecipePrompt:
    prompt: str
    messages: list[dict[str, str]]
    shot_ids: list[str]


def recipe_budget(recipe: PromptRecipe) -> Any:
    """The recipe's `TokenBudget` (its tokenizer, checked against its sha256), or None when it sets no length."""
    if recipe.max_length is None or not recipe.tokenizer:
        return None
    from datapilot_pipeline.lib.generation.token_budget import TokenBudget

    budget = TokenBudget.load(recipe.tokenizer, recipe.max_length, recipe.base_model)
    budget.check(recipe.tokenizer_sha256)
    return budget


def shots_for(recipe: PromptRecipe, compact_eda: dict, seeds: Sequence[dict], budget: Any = None) -> list[dict]:
    """The worked examples a prompt for `compact_eda` holds under `recipe`: the longest prefix of its shots that
    fits its budget (`budget` already loaded, else loaded from the recipe when it has shots to fit)."""
    shots = recipe_shots(recipe.shot_ids, seeds, compact_eda)
    if shots and budget is None:
        budget = recipe_budget(recipe)
    if shots and budget is not None and recipe.max_length is not None:
        shots = fit_shots(compact_eda, shots, budget.prompt_tokens, recipe.max_length - recipe.completion_reserve)
    return shots


def prompt_for(recipe: PromptRecipe, compact_eda: dict, seeds: Sequence[dict], budget: Any = None) -> RecipePrompt:
    """The prompt (and the same as chat messages) for `compact_eda` built as `recipe` built its dataset.

    `budget` is a `lib.generation.token_budget.TokenBudget` already loaded; without one the recipe's tokenizer is
    loaded (and checked against its sha256) when the recipe has a max length."""
    shots = shots_for(recipe, compact_eda, seeds, budget)
    return RecipePrompt(build_prompt(compact_eda, shots), build_messages(compact_eda, shots),
                        [str(s["example_id"]) for s in shots])
