"""Synthetic DataPilot jobs and their reviews, as a stream of contract dicts.

A job analyses one table from a pool: the same tables are analysed many times (popular tables more
often), so tables and compact EDAs are built once per pool slot and reused. Everything is derived
from `seed`, and job `i` depends only on `(seed, i)` and a few earlier jobs, so the first `n` jobs
of a long run equal a run of `n` jobs.

Every job is served by the variant the project's A/B routing assigns its id (`lib.ab.routing.route`, the answer
`datapilot route JOB_ID` gives under the same routing config; default 50/50), as DataPilot does in production: the
synthetic traffic is the A/B test from its first day, a first fine-tuned release, then a second from October.
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from datapilot_pipeline.lib.ab.routing import RoutingConfig, route
from datapilot_pipeline.lib.synthetic.drafts import Draft, drafts_for
from datapilot_pipeline.lib.synthetic.outputs import Planned, llm_output, plan_output
from datapilot_pipeline.lib.synthetic.reviews import (add_pii, overall_score, pick_reviewer, pii_snippets,
                                                      review_item)
from datapilot_pipeline.lib.synthetic.shape_registry import SHAPES, make_table
from datapilot_pipeline.lib.synthetic.tables import SyntheticTable

# Tables analysed by the jobs. Popular tables come back (weight 1/sqrt(rank)) but most jobs see a table for the
# first time: with 160 jobs about 5% repeat a table, with 10k most do. Built lazily, so a run pays only for the
# tables it draws (~13 ms each).
POOL_SIZE = 3000
SLOT_CUM_WEIGHTS = tuple(itertools.accumulate(1.0 / (k + 1) ** 0.5 for k in range(POOL_SIZE)))
WINDOW_START = datetime(2026, 6, 1, tzinfo=timezone.utc)
WINDOW_DAYS = 165  # jobs run from June to mid-November 2026; reviews follow within 8 days
SECOND_RELEASE = datetime(2026, 10, 1, tzinfo=timezone.utc)  # the fine-tuned variant's next model from here
FEW_SHOT_MODEL = "datapilot-fewshot-llama3.1-8b"
NEAR_DUPLICATE_RATE = 0.04
REREVIEW_SAME_RATE = 0.07  # same reviewer looks again later; the later verdict supersedes
REREVIEW_OTHER_RATE = 0.12  # a second analyst reviews the same job
PII_NOTE_RATE = 0.04


@dataclass(frozen=True)
class PoolEntry:
    table: SyntheticTable
    eda_json: str  # serialized once; every job gets its own parsed copy
    drafts: tuple[Draft, ...]


@dataclass
class PlannedJob:
    job: dict
    planned: list[Planned]
    entry: PoolEntry


@lru_cache(maxsize=POOL_SIZE)
def pool_entry(seed: int, slot: int) -> PoolEntry:
    """Table `slot` of the pool for `seed` (a file name unique within the pool)."""
    shape = SHAPES[slot % len(SHAPES)]
    table = make_table(shape, (seed * 7919 + slot * 104729) % 2**32)
    table.name = f"{table.name.removesuffix('.csv')}_{slot:02d}.csv"
    eda = table.eda
    return PoolEntry(table, json.dumps(eda), tuple(drafts_for(eda, table.facts)))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _model(variant: str, when: datetime) -> str:
    if variant == "few_shot":
        return FEW_SHOT_MODEL
    return "datapilot-ft-2026-05" if when < SECOND_RELEASE else "datapilot-ft-2026-10"


def _perturbed(planned: list[Planned], rng: random.Random) -> list[Planned]:
    """A near-duplicate of an earlier output: same findings, slightly different wording."""
    swaps = (("Audit", "Review"), ("move together", "rise and fall together"), ("blank", "empty"),
             ("sharply", "markedly"), ("rows", "records"))
    out = []
    for p in planned:
        text = p.insight["text"]
        old, new = rng.choice(swaps)
        out.append(Planned({**p.insight, "text": text.replace(old, new, 1)}, p.quality, p.correct))
    return out


def plan_jobs(n: int, seed: int = 0, routing: RoutingConfig | None = None) -> Iterator[PlannedJob]:
    """Jobs with their hidden per-insight truth (what `generate_feedback` reviews against). `routing` splits them
    between the variants (default: the routing defaults, as `datapilot route` without an `ab_routing.json`)."""
    routing = routing or RoutingConfig()
    recent: list[PlannedJob] = []
    used_ids: set[str] = set()
    for i in range(n):
        rng = random.Random(f"job:{seed}:{i}")
        when = WINDOW_START + timedelta(seconds=rng.uniform(0, WINDOW_DAYS * 86400))
        job_id = f"job_{rng.getrandbits(48):012x}"
        while job_id in used_ids:
            job_id = f"job_{rng.getrandbits(48):012x}"
        used_ids.add(job_id)
        variant = route(job_id, routing).variant
        same_variant = [pj for pj in recent if pj.job["variant"] == variant]
        if same_variant and rng.random() < NEAR_DUPLICATE_RATE:  # the same model re-analysing a recent table
            source = rng.choice(same_variant)
            entry, planned = source.entry, _perturbed(source.planned, rng)
        else:
            entry = pool_entry(seed, rng.choices(range(POOL_SIZE), cum_weights=SLOT_CUM_WEIGHTS)[0])
            planned = plan_output(list(entry.drafts), variant, rng, entry.table.eda)
        job = {"job_id": job_id, "created_at": _stamp(when), "model": _model(variant, when), "variant": variant,
               "compact_eda": json.loads(entry.eda_json), "llm_output": llm_output(planned, entry.table.name)}
        planned_job = PlannedJob(job, planned, entry)
        recent = (recent + [planned_job])[-20:]
        yield planned_job


def generate_jobs(n: int, seed: int = 0, routing: RoutingConfig | None = None) -> Iterator[dict]:
    """`n` job results (DESIGN.md: job_id, created_at, model, variant, compact_eda, llm_output)."""
    for planned_job in plan_jobs(n, seed, routing):
        yield planned_job.job


def _review(pj: PlannedJob, reviewer, when: datetime, rng: random.Random) -> dict:
    eda = pj.job["compact_eda"]
    snippets = pii_snippets(eda, pj.entry.table.facts.get("pii_columns", []))
    items = []
    for insight, planned in zip(pj.job["llm_output"]["insights"], pj.planned):
        item = review_item(planned, insight["id"], reviewer, rng, eda["dataset"]["n_rows"])
        if snippets and item["action"] != "skip" and rng.random() < PII_NOTE_RATE:
            add_pii(item, snippets, rng)
        items.append(item)
    return {"schema_version": 1, "feedback_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "job_id": pj.job["job_id"], "reviewer_id": reviewer.reviewer_id, "created_at": _stamp(when),
            "overall_score": overall_score(items, reviewer, rng), "model": pj.job["model"],
            "variant": pj.job["variant"], "compact_eda": eda, "llm_output": pj.job["llm_output"], "items": items}


def generate_feedback(n_jobs: int, seed: int = 0, routing: RoutingConfig | None = None) -> Iterator[dict]:
    """Feedback-file dicts for `n_jobs` jobs: one review each, plus re-reviews by the same analyst
    (later, superseding) and second opinions by another analyst."""
    for i, pj in enumerate(plan_jobs(n_jobs, seed, routing)):
        rng = random.Random(f"review:{seed}:{i}")
        when = datetime.fromisoformat(pj.job["created_at"].replace("Z", "+00:00"))
        first = pick_reviewer(rng)
        first_at = when + timedelta(minutes=rng.uniform(20, 48 * 60))
        yield _review(pj, first, first_at, rng)
        if rng.random() < REREVIEW_SAME_RATE:
            yield _review(_copy(pj), first, first_at + timedelta(days=rng.uniform(1, 6)), rng)
        if rng.random() < REREVIEW_OTHER_RATE:
            other = pick_reviewer(rng, exclude=first.reviewer_id)
            yield _review(_copy(pj), other, first_at + timedelta(hours=rng.uniform(1, 24 * 6)), rng)


def _copy(pj: PlannedJob) -> PlannedJob:
    """The same job with its own dicts, so that feedback dicts never share mutable parts."""
    return PlannedJob(json.loads(json.dumps(pj.job)), pj.planned, pj.entry)
