"""Realistic synthetic DataPilot data: business tables with planted effects, their compact EDAs,
LLM-style outputs mixing grounded insights with typical failure modes, and analysts' reviews of them.

Public API:
    make_table(shape, seed) -> SyntheticTable          one table (df, name, kpis, facts; `.eda`)
    generate_jobs(n, seed=0, routing=None) -> Iterator[dict]          job results (DESIGN.md contract), each
                                                                      served by the variant `route` assigns it
    generate_feedback(n_jobs, seed=0, routing=None) -> Iterator[dict] feedback-file dicts (>= one per job)
    write_feedback_files(inbox, n_jobs, seed=0, routing=None) -> list[Path]
"""

from __future__ import annotations

from pathlib import Path

from datapilot_pipeline.lib.ab.routing import RoutingConfig
from datapilot_pipeline.lib.atomic import atomic_write_json
from datapilot_pipeline.lib.feedback.inbox import feedback_filename
from datapilot_pipeline.lib.synthetic.jobs import generate_feedback, generate_jobs, plan_jobs
from datapilot_pipeline.lib.synthetic.outputs import QUALITIES
from datapilot_pipeline.lib.synthetic.reviews import REVIEWERS
from datapilot_pipeline.lib.synthetic.shape_registry import SHAPES, make_table
from datapilot_pipeline.lib.synthetic.tables import SyntheticTable

__all__ = ["QUALITIES", "REVIEWERS", "SHAPES", "SyntheticTable", "generate_feedback", "generate_jobs",
           "make_table", "plan_jobs", "write_feedback_files"]


def write_feedback_files(inbox: Path, n_jobs: int, seed: int = 0, routing: RoutingConfig | None = None) -> list[Path]:
    """Write the feedback of `n_jobs` synthetic jobs into `inbox` (atomic, DESIGN.md file names); `routing` assigns
    the jobs their variants (default: the routing defaults)."""
    inbox = Path(inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    paths = []
    for feedback in generate_feedback(n_jobs, seed, routing):
        name = feedback_filename(feedback["job_id"], feedback["created_at"], feedback["feedback_id"])
        paths.append(atomic_write_json(inbox / name, feedback, indent=None))
    return paths
