"""Experiments: one per pair of model versions the two variants served, each with a plan fixed once and a
decision taken once.

An experiment is keyed by the few-shot model and the fine-tuned release (the `model` of the job results, copied
into every review). A new fine-tuned release starts a new experiment, so jobs served by different releases are
never pooled in one arm. A job belongs to the experiment of its own model and of the other variant's release
that was live when it was first reviewed (the release whose first reviewed job came latest before it); jobs
reviewed before the other variant had any release (the few-shot-only period before the A/B test) belong to none.

The state lives under the working root, `$DATAPILOT_HOME/data/ab/`: `<id>.plan.json` (the design: jobs per
variant, MDE, alpha, power, the ICC used) and, once both variants reach the horizon, `<id>.decision.json` (the
verdict, p-value, guardrails and the job ids it was computed on). Both are written once: a temp file is
hard-linked into place, so concurrent readers (the CLI and the daily asset) cannot both write one, and the one
that loses reads back the winner's.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from datapilot_pipeline.lib.ab.assignment import CONTROL, TREATMENT
from datapilot_pipeline.lib.ab.jobs import JobOutcome
from datapilot_pipeline.lib.atomic import process_umask

AB_DIR = Path("data") / "ab"


@dataclass(frozen=True, order=True)
class ExperimentKey:
    few_shot: str
    fine_tuned: str

    @property
    def id(self) -> str:
        """A readable, file-safe id: the fine-tuned release and a hash of both models."""
        digest = hashlib.sha256(json.dumps([self.few_shot, self.fine_tuned]).encode("utf-8")).hexdigest()[:10]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.fine_tuned).strip("-.")[:60] or "model"
        return f"{slug}-{digest}"

    def to_dict(self) -> dict:
        return {CONTROL: self.few_shot, TREATMENT: self.fine_tuned}


@dataclass(frozen=True)
class Selector:
    """An experiment named by its fine-tuned release (and its few-shot model, where several share the release)."""

    fine_tuned: str
    few_shot: str | None = None


@dataclass(eq=False)
class Experiment:
    key: ExperimentKey
    jobs: list[JobOutcome]  # in review order (first review, then job id)
    started_at: datetime | None  # the first reviewed job of the later of the two releases (None: no job yet)

    def arm(self, variant: str) -> list[JobOutcome]:
        return [j for j in self.jobs if j.variant == variant]


def _release_starts(jobs: Sequence[JobOutcome]) -> dict[str, list[tuple[datetime, str]]]:
    """Per variant, its releases (models) sorted by their first reviewed job."""
    first: dict[tuple[str, str], datetime] = {}
    for j in jobs:
        key = (j.variant, j.model)
        if key not in first or j.first_reviewed_at < first[key]:
            first[key] = j.first_reviewed_at
    out: dict[str, list[tuple[datetime, str]]] = {CONTROL: [], TREATMENT: []}
    for (variant, model), start in first.items():
        out[variant].append((start, model))
    for releases in out.values():
        releases.sort()
    return out


def split_experiments(jobs: Sequence[JobOutcome]) -> tuple[list[Experiment], list[JobOutcome]]:
    """(experiments sorted by start, jobs outside every experiment); `jobs` in review order."""
    releases = _release_starts(jobs)
    starts = {v: [s for s, _ in r] for v, r in releases.items()}
    members: dict[ExperimentKey, list[JobOutcome]] = defaultdict(list)
    outside: list[JobOutcome] = []
    for j in jobs:
        other = TREATMENT if j.variant == CONTROL else CONTROL
        live = bisect.bisect_right(starts[other], j.first_reviewed_at) - 1
        if live < 0:
            outside.append(j)
            continue
        other_model = releases[other][live][1]
        key = ExperimentKey(j.model, other_model) if j.variant == CONTROL else ExperimentKey(other_model, j.model)
        members[key].append(j)
    first = {(v, m): s for v, r in releases.items() for s, m in r}
    experiments = [Experiment(key, members[key], max(first[(CONTROL, key.few_shot)], first[(TREATMENT, key.fine_tuned)]))
                   for key in members]
    experiments.sort(key=lambda e: (e.started_at, e.key))
    return experiments, outside


class ExperimentStore:
    """Write-once plan and decision files of each experiment under one folder (default `data/ab/` of the root)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    @classmethod
    def under(cls, root: Path) -> "ExperimentStore":
        return cls(Path(root) / AB_DIR)

    def _path(self, key: ExperimentKey, kind: str) -> Path:
        return self.directory / f"{key.id}.{kind}.json"

    def _read(self, key: ExperimentKey, kind: str) -> dict | None:
        path = self._path(key, kind)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: unreadable experiment {kind} ({exc}); restore it or remove it to re-plan") from None
        if record.get("models") != key.to_dict():
            raise ValueError(f"{path}: belongs to models {record.get('models')}, not {key.to_dict()}")
        return record

    def _write_once(self, key: ExperimentKey, kind: str, record: dict) -> dict:
        """Store `record` unless one is already there; the stored record either way (first writer wins)."""
        path = self._path(key, kind)
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.directory)
        try:
            os.fchmod(fd, 0o666 & ~process_umask())
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # atomic, and fails when another reader stored one first
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
        stored = self._read(key, kind)
        assert stored is not None
        return stored

    def plan(self, key: ExperimentKey) -> dict | None:
        return self._read(key, "plan")

    def save_plan(self, key: ExperimentKey, record: dict) -> dict:
        return self._write_once(key, "plan", {"models": key.to_dict(), "experiment_id": key.id, **record})

    def decision(self, key: ExperimentKey) -> dict | None:
        return self._read(key, "decision")

    def save_decision(self, key: ExperimentKey, record: dict) -> dict:
        return self._write_once(key, "decision", {"models": key.to_dict(), "experiment_id": key.id, **record})


class MemoryStore(ExperimentStore):
    """The same interface kept in memory: a report that persists nothing (one read, plan fixed at that read)."""

    def __init__(self) -> None:
        self.records: dict[tuple[ExperimentKey, str], dict] = {}

    def _read(self, key: ExperimentKey, kind: str) -> dict | None:
        return self.records.get((key, kind))

    def _write_once(self, key: ExperimentKey, kind: str, record: dict) -> dict:
        return self.records.setdefault((key, kind), record)
