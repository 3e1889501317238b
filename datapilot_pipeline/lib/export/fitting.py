"""Export within the token budget: which worked examples each prompt holds, and which lines cannot fit.

The rule is `lib.prompts`' (longest prefix of the recipe's worked examples within max length minus the
completion reserve), counted with `lib.generation.token_budget.TokenBudget.measure`, the trainer's own count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from datapilot_pipeline.lib.export.formats import PreparedExample
from datapilot_pipeline.lib.prompts import PromptRecipe, build_prompt, fit_shots, format_completion

if TYPE_CHECKING:
    from datapilot_pipeline.lib.generation.token_budget import TokenBudget

BudgetFactory = Callable[[], "TokenBudget"]


@dataclass
class Prepared:
    """Masked examples ready to format, the recipe their prompts follow, and what the budget left out."""

    examples: list[PreparedExample]
    recipe: PromptRecipe
    over_budget: list[str] = field(default_factory=list)  # job ids whose 0-shot line exceeds the budget


def within_budget(prepared: list[PreparedExample], recipe: PromptRecipe, budget_for: BudgetFactory) -> Prepared:
    """Leave out the trainable lines that cannot fit even without worked examples; fit the others' shots.

    `budget_for()` returns the target model's `TokenBudget` (loaded only when there is something to fit). The
    completion reserve is the longest kept completion, so an answer like any trained on fits after a prompt
    built by the same rule at evaluation."""
    trainable = [p for p in prepared if p.split != "holdout"]
    completions = {p.job_id: format_completion(p.approved_output) for p in trainable}
    budget = budget_for()
    measured = {p.job_id: budget.measure(build_prompt(p.compact_eda, []), completions[p.job_id]) for p in trainable}
    over = {j for j, (total, completion) in measured.items() if total > budget.max_length or completion == 0}
    reserve = max((c for j, (_, c) in measured.items() if j not in over), default=0)
    recipe = replace(recipe, max_length=budget.max_length, tokenizer=budget.tokenizer_path,
                     tokenizer_sha256=budget.tokenizer_hash, base_model=budget.base_model,
                     completion_reserve=reserve)
    kept = []
    for p in prepared:
        if p.job_id in over:
            continue
        if p.split != "holdout":
            p.shots = fit_shots(p.compact_eda, p.shots, budget.prompt_tokens, budget.max_length - reserve)
            total, completion = budget.measure(build_prompt(p.compact_eda, p.shots), completions[p.job_id])
            if total > budget.max_length:  # shots fitted with the reserve; this completion is longer than most
                p.shots = []
                total, completion = measured[p.job_id]
            p.metadata.update(sequence_tokens=total, completion_tokens=completion)
        kept.append(p)
    return Prepared(kept, recipe, sorted(over))
