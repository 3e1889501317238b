"""Build the shipped seed examples (few-shot prompts) and holdout examples (evaluation references).

    python -m datapilot_pipeline.lib.synthetic.seeds            # rewrite both files, both copies

Lines are `{"example_id", "compact_eda", "output"}`. Every insight's evidence is valid against its
compact EDA; the 10 seeds cover all 7 categories; holdout tables never share a name with a seed table.
The package copy (`datapilot_pipeline/data/`) and the workspace copy (`data/finetune_samples/`) are
identical.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from datapilot_pipeline.lib.atomic import atomic_write_jsonl, dumps_compact
from datapilot_pipeline.lib.eda import compact_eda
from datapilot_pipeline.lib.synthetic.drafts import Draft, drafts_for, fmt
from datapilot_pipeline.lib.synthetic.seed_tables import DOMAINS

FACT_KEY = {"missing_data": "missing"}  # facts key of a category when it differs from the category
SUFFIXES = ("east", "west", "central", "north", "south", "emea", "apac")
# Two insights per seed keeps a line under SEED_MAX_CHARS, so three shots fit a prompt comfortably.
SEED_PLAN = (
    ("store_sales", 0, ("outlier", "trend")),
    ("saas_accounts", 0, ("segment", "missing_data")),
    ("campaign_spend", 0, ("distribution", "segment")),
    ("shipments", 0, ("quality", "segment")),
    ("support_queue", 0, ("trend", "missing_data")),
    ("energy_meters", 0, ("trend", "outlier")),
    ("loan_book", 0, ("segment", "missing_data")),
    ("store_sales", 1, ("missing_data", "segment")),
    ("shipments", 1, ("correlation", "segment")),
    ("support_queue", 1, ("quality", "distribution")),
)
HOLDOUT_PLAN = tuple(
    (domain, idx, cats) for domain, first, cats, count in (
        ("store_sales", 2, ("segment", "outlier", "missing_data", "trend"), 4),
        ("saas_accounts", 1, ("outlier", "segment", "correlation", "missing_data"), 4),
        ("campaign_spend", 1, ("segment", "correlation", "distribution"), 3),
        ("shipments", 2, ("segment", "quality", "correlation"), 3),
        ("support_queue", 2, ("trend", "correlation", "quality", "missing_data"), 4),
        ("energy_meters", 1, ("segment", "missing_data", "trend"), 3),
        ("loan_book", 1, ("distribution", "correlation", "segment"), 3),
    ) for idx in range(first, first + count))
SEED_MAX_CHARS = 2500  # prompts carry three seed examples
HOLDOUT_MAX_CHARS = 3400
ATTEMPTS = 30


def _summary(drafts: list[Draft]) -> str:
    parts = []
    for d in drafts:
        a = d.aggregates
        if d.category == "outlier":
            parts.append(f"{fmt(a[next(k for k in a if k.endswith('/outliers/count'))])} {d.columns[0]} outliers")
        elif d.category == "quality":
            parts.append(f"invalid {d.columns[0]} values to fix at the source")
        elif d.category == "missing_data":
            parts.append(f"{d.columns[0]} gaps")
        elif d.category == "correlation":
            parts.append(f"{d.columns[0]} drives {d.columns[1]}")
        elif d.category == "trend":
            parts.append(f"a {'rising' if next(iter(a.values())) >= 0 else 'falling'} trend")
        elif d.category == "segment":
            parts.append(f"a wide gap between {d.columns[0]} groups")
        else:
            parts.append(f"skewed {d.columns[0]}")
    return "Findings: " + "; ".join(parts) + "."


def _attempt(domain: str, idx: int, attempt: int, name: str) -> tuple[dict, dict[str, Draft]]:
    builder, _ = DOMAINS[domain]
    rng = np.random.default_rng([sorted(DOMAINS).index(domain), idx, attempt])
    df, kpis, facts = builder(rng, int(rng.integers(60, 120)))
    eda = compact_eda(df, name, kpis=kpis)
    drafts = {}
    for draft in drafts_for(eda, facts):
        action = facts.get(FACT_KEY.get(draft.category, draft.category), {}).get("action")
        drafts[draft.category] = dataclasses.replace(draft, action=action) if action else draft
    return eda, drafts


def build_example(example_id: str, domain: str, idx: int, categories: tuple[str, ...], max_chars: int) -> dict:
    """One example from a small table of `domain`: the first table variant that supports the
    requested categories (in order of importance) and fits in `max_chars`; when none fits with all
    of them, the least important category is dropped (never below 2 insights). Deterministic."""
    _, bases = DOMAINS[domain]
    name = f"{bases[idx % len(bases)]}_{SUFFIXES[idx % len(SUFFIXES)]}.csv"
    for k in range(len(categories), 1, -1):
        for attempt in range(ATTEMPTS):
            eda, by_cat = _attempt(domain, idx, attempt, name)
            if not set(categories[:k]) <= set(by_cat):
                continue
            chosen = [by_cat[c] for c in categories[:k]]
            insights = [{"id": f"i{n}", "category": d.category, "severity": d.severity,
                         "text": d.texts[(idx + n) % len(d.texts)](d.aggregates), "evidence": d.evidence(),
                         "recommendation": {"action": d.action, "priority": d.priority}}
                        for n, d in enumerate(chosen, start=1)]
            example = {"example_id": example_id, "compact_eda": eda,
                       "output": {"insights": insights, "summary": _summary(chosen)}}
            if len(dumps_compact(example)) <= max_chars:
                return example
    raise RuntimeError(f"no variant of {domain} supports {categories[:2]} within {max_chars} characters")


def build_seed_examples() -> list[dict]:
    return [build_example(f"seed_{n:02d}", d, i, c, SEED_MAX_CHARS) for n, (d, i, c) in enumerate(SEED_PLAN, start=1)]


def build_holdout_examples() -> list[dict]:
    return [build_example(f"holdout_{n:02d}", d, i, c, HOLDOUT_MAX_CHARS)
            for n, (d, i, c) in enumerate(HOLDOUT_PLAN, start=1)]


def write_examples(project_root: Path) -> list[Path]:
    """Write both files into the package data folder and the project's `data/finetune_samples/`."""
    package_data = Path(__file__).resolve().parents[2] / "data"
    written = []
    for name, rows in (("seed_examples.jsonl", build_seed_examples()), ("holdout_test.jsonl", build_holdout_examples())):
        for folder in (package_data, project_root / "data" / "finetune_samples"):
            written.append(atomic_write_jsonl(folder / name, rows))
    return written


if __name__ == "__main__":
    for path in write_examples(Path(__file__).resolve().parents[3]):
        print(path)
