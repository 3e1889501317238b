"""Which variant serves a job and which endpoint that variant calls, from one file DataPilot and the pipeline
both read: `$DATAPILOT_HOME/ab_routing.json` (all keys optional; these are the defaults):

    {"split": 0.5,                      # share of jobs routed to the fine-tuned model
     "salt": "datapilot-ab-v1",         # change it to start a new experiment with a fresh assignment
     "endpoints": {"few_shot": "https://api.openai.com/v1/chat/completions",
                   "fine_tuned": "http://127.0.0.1:8000/v1/chat/completions"}}   # `datapilot serve`

The assignment is sticky (`assign_variant`): the same job id always gets the same variant for a given salt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from datapilot_pipeline.lib.ab.assignment import CONTROL, DEFAULT_SALT, DEFAULT_SPLIT, TREATMENT, assign_variant
from datapilot_pipeline.lib.contracts import first_error, is_safe_id
from datapilot_pipeline.lib.evaluation.endpoint import check_url

ROUTING_FILE = "ab_routing.json"
DEFAULT_ENDPOINTS = {CONTROL: "https://api.openai.com/v1/chat/completions",
                     TREATMENT: "http://127.0.0.1:8000/v1/chat/completions"}


class Endpoints(BaseModel):
    model_config = ConfigDict(extra="forbid")
    few_shot: str = DEFAULT_ENDPOINTS[CONTROL]
    fine_tuned: str = DEFAULT_ENDPOINTS[TREATMENT]


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    split: float = Field(default=DEFAULT_SPLIT, ge=0.0, le=1.0)
    salt: str = Field(default=DEFAULT_SALT, min_length=1)
    endpoints: Endpoints = Field(default_factory=Endpoints)


@dataclass(frozen=True)
class Route:
    job_id: str
    variant: str
    endpoint: str

    def to_dict(self) -> dict:
        return {"job_id": self.job_id, "variant": self.variant, "endpoint": self.endpoint}


def load_routing(root: Path) -> RoutingConfig:
    """The routing config under `root` (defaults when the file is absent); `ValueError` naming what is wrong."""
    path = Path(root) / ROUTING_FILE
    if not path.exists():
        return RoutingConfig()
    try:
        config = RoutingConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: malformed JSON ({exc.msg}, line {exc.lineno})") from None
    except ValidationError as exc:
        raise ValueError(f"{path}: {first_error(exc)}") from None
    for url in (config.endpoints.few_shot, config.endpoints.fine_tuned):
        check_url(url)
    return config


def route(job_id: str, config: RoutingConfig | None = None, root: Path | None = None) -> Route:
    """The job's sticky variant and the endpoint it calls (config from `root`, default `$DATAPILOT_HOME`)."""
    if not is_safe_id(job_id):
        raise ValueError(f"job id must match [A-Za-z0-9_.-]{{1,128}}, got {job_id!r}")
    if config is None:
        from datapilot_pipeline.lib.paths import datapilot_home

        config = load_routing(root or datapilot_home())
    variant = assign_variant(job_id, config.split, config.salt)
    return Route(job_id=job_id, variant=variant, endpoint=getattr(config.endpoints, variant))
