"""Where the pipeline keeps its working data: everything lives under one root, `$DATAPILOT_HOME`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

HOME_ENV = "DATAPILOT_HOME"


def datapilot_home() -> Path:
    """The working root: `$DATAPILOT_HOME`, else the current directory."""
    return Path(os.environ.get(HOME_ENV) or os.getcwd()).resolve()


@dataclass(frozen=True)
class Workspace:
    """The standard locations under one working root. `Workspace()` reads `$DATAPILOT_HOME` once."""

    root: Path

    @classmethod
    def current(cls) -> "Workspace":
        return cls(datapilot_home())

    @property
    def inbox(self) -> Path:
        return self.root / "feedback_inbox"

    @property
    def feedback_dir(self) -> Path:
        return self.root / "data" / "feedback"

    @property
    def finetune_ready(self) -> Path:
        return self.root / "data" / "finetune_ready"

    @property
    def finetune_samples(self) -> Path:
        return self.root / "data" / "finetune_samples"

    @property
    def llm_logs(self) -> Path:
        return self.root / "data" / "llm_logs"

    @property
    def cli_log(self) -> Path:
        """Where the `datapilot` command keeps the libraries' warnings it does not show (`cli._output`)."""
        return self.root / "data" / "logs" / "datapilot.log"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def dagster_home(self) -> Path:
        return self.root / ".dagster_home"

    @property
    def mlflow_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    def seed_examples_path(self) -> Path:
        """The workspace's seed examples when present, else the copy shipped in the package."""
        return _workspace_or_packaged(self.finetune_samples / "seed_examples.jsonl")

    def reply_cache_path(self) -> Path:
        """Local generation's reply cache (`lib.evaluation.reply_cache`)."""
        return self.root / ".cache" / "replies.sqlite"

    def holdout_path(self) -> Path:
        return _workspace_or_packaged(self.finetune_samples / "holdout_test.jsonl")


def packaged_data(name: str) -> Path:
    """A data file shipped inside the package (`datapilot_pipeline/data/`)."""
    return Path(str(resources.files("datapilot_pipeline") / "data" / name))


def _workspace_or_packaged(path: Path) -> Path:
    return path if path.exists() else packaged_data(path.name)
