"""A year of the retrain loop on its defaults alone, as the Dagster daemon runs it.

Twelve simulated months: reviews arrive weekly (some weeks none, one week a burst of 150 jobs), the
`new_feedback_sensor` is evaluated after every delivery and the two retrain schedules on the 1st of every month,
and every run request they return is executed in process against one Dagster instance under the working root,
with the request's tags and no run config, as the daemon would launch it. Each retrain exports, validates, trains
a LoRA adapter on the demo base model (optimizer steps capped by `DATAPILOT_MAX_TRAIN_STEPS`, the CI-only environment cap), evaluates the
candidate on its own export's holdout against few-shot and the current champion, and promotes it or not. In month
6 an ingestion is SIGKILLed between its feedback rows and its decision rows and run again.

Across the year: every scheduled retrain succeeded; no table that was ever held out was ever in a training or
validation line; the `champion` alias moved only on a promotion whose rules all passed, to the evaluated version;
after the operator names the first version champion (month 3, by hand, as a deployment starts from the model in
production), every retrain re-evaluates it on the same holdout, reading back from the reply cache the replies it
and few-shot gave before;
each evaluation's n is the size of the holdout its own export wrote; the feedback store holds exactly the reviews
delivered (none lost, none twice), the killed ingestion included. `pytest -s` prints the month-by-month table.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline.lib.export.splits import table_identity
from datapilot_pipeline.lib.synthetic import write_feedback_files
from datapilot_pipeline_tests.reliability.ingest_kill import WRITE_POINTS, run_ingestion

pytestmark = pytest.mark.long_running(seconds=460)  # about, in `make test` (scheduling.py)

YEAR = 2027
# Jobs reviewed at each weekly delivery (four a month), month by month (a job can get a second review, so
# files >= jobs). Quiet weeks, modest ones and, in month 8, the week a team reviews a backlog of 150 jobs
# (~180 reviews: the sensor requests an export, and the next monthly tick a retrain).
WEEKLY_JOBS = {1: (8, 0, 6, 6), 2: (5, 0, 0, 6), 3: (6, 5, 0, 0), 4: (0, 4, 5, 0), 5: (6, 0, 0, 5),
               6: (5, 6, 0, 4), 7: (0, 0, 6, 5), 8: (0, 150, 0, 0), 9: (4, 0, 5, 0), 10: (0, 6, 0, 4),
               11: (5, 0, 0, 0), 12: (0, 4, 6, 0)}
KILL_MONTH, KILL_DELIVERY = 6, 1  # the ingestion of this delivery is SIGKILLed mid-write, then re-run
KILL_POINT = WRITE_POINTS["after the feedback rows, before the decisions"]
OPERATOR_CHAMPION_MONTH = 3  # the operator sets `champion` on the first registered version, by hand
STEP_CAP = "2"  # optimizer steps per retrain (CI cap, an environment variable; never run config)


@dataclass
class Month:
    month: int
    reviews: int = 0
    jobs: int = 0
    sensor_exports: int = 0
    retrains: list[str] = field(default_factory=list)  # trigger of each retrain run
    holdout_n: list[int] = field(default_factory=list)
    promoted: list[bool] = field(default_factory=list)
    champion: str | None = None

    def row(self) -> str:
        return (f"| {self.month:>2} | {self.reviews:>4} | {self.sensor_exports} | {', '.join(self.retrains) or '-'} | "
                f"{', '.join(map(str, self.holdout_n)) or '-'} | "
                f"{', '.join('yes' if p else 'no' for p in self.promoted) or '-'} | {self.champion or '-'} |")


class Year:
    """The simulated deployment: one working root, one Dagster instance, the sensor's cursor."""

    def __init__(self, home: Path, instance: dg.DagsterInstance) -> None:
        from datapilot_pipeline.definitions import defs

        self.home, self.instance, self.defs = home, instance, defs
        self.repository = defs.get_repository_def()  # sensors and schedules with their resources, as deployed
        self.resources = self.repository.get_top_level_resources()
        self.cursor: str | None = None
        self.delivered: list[str] = []  # feedback_id of every review file written, in delivery order
        self.retrain_runs: list[dg.ExecuteInProcessResult] = []
        self.champion_moves: list[tuple[str | None, str | None, dict]] = []  # (before, after, decision)
        self.evaluations: list[tuple[dict, dict]] = []  # (finetune_dataset output, evaluation_scores output)

    def deliver(self, n_jobs: int, seed: int) -> int:
        paths = write_feedback_files(self.home / "feedback_inbox", n_jobs, seed=seed)
        self.delivered += [json.loads(p.read_text(encoding="utf-8"))["feedback_id"] for p in paths]
        return len(paths)

    def tick_sensor(self) -> int:
        sensor = self.repository.get_sensor_def("new_feedback_sensor")
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources,
                                          repository_def=self.repository)
        data = sensor.evaluate_tick(context)
        self.cursor = data.cursor
        for request in data.run_requests or []:
            result = self.execute(request, sensor.job_name)
            assert result.success, _failures(result)
        return len(data.run_requests or [])

    def tick_schedules(self, when: datetime, month: Month) -> None:
        # The monthly schedule is STOPPED by default: this deployment's operator switched it on in the UI once
        # feedback was steady (the daemon then evaluates it exactly like the quarterly one, which is on by default).
        for name in ("monthly_retrain_schedule", "quarterly_retrain_schedule"):
            schedule = self.repository.get_schedule_def(name)
            if schedule.cron_schedule == "0 0 1 1,4,7,10 *" and when.month not in (1, 4, 7, 10):
                continue  # the daemon evaluates a schedule only at its cron times
            with dg.build_schedule_context(instance=self.instance, scheduled_execution_time=when,
                                           resources=self.resources, repository_def=self.repository) as context:
                data = schedule.evaluate_tick(context)
            for request in data.run_requests or []:
                before = self.champion()
                result = self.execute(request, schedule.job_name)
                self.retrain_runs.append(result)
                assert result.success, (name, when, _failures(result))
                decision = result.output_for_node("model_promotion")
                self.champion_moves.append((before, self.champion(), decision))
                self.evaluations.append((result.output_for_node("finetune_dataset"),
                                         result.output_for_node("evaluation_scores")))
                month.retrains.append(name.split("_")[0])
                month.holdout_n.append(result.output_for_node("evaluation_scores")["fine_tuned"]["n"])
                month.promoted.append(bool(decision["promote"]))

    def execute(self, request: dg.RunRequest, job_name: str) -> dg.ExecuteInProcessResult:
        """Launch a run request as the daemon does: its job, its tags, no run config."""
        job = self.defs.resolve_job_def(request.job_name or job_name)
        return job.execute_in_process(instance=self.instance, tags=request.tags, raise_on_error=False)

    def name_champion(self, version: str) -> None:
        """What an operator does in the MLflow UI: set the `champion` alias on a registered version."""
        from mlflow.tracking import MlflowClient

        from datapilot_pipeline.lib.paths import Workspace
        from datapilot_pipeline.lib.tracking import CHAMPION_ALIAS, REGISTERED_MODEL, default_tracking_uri

        client = MlflowClient(tracking_uri=default_tracking_uri(Workspace(self.home)))
        client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, version)

    def champion(self) -> str | None:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        from datapilot_pipeline.lib.paths import Workspace
        from datapilot_pipeline.lib.tracking import CHAMPION_ALIAS, REGISTERED_MODEL, default_tracking_uri

        uri = default_tracking_uri(Workspace(self.home))
        try:
            version = MlflowClient(tracking_uri=uri).get_model_version_by_alias(REGISTERED_MODEL, CHAMPION_ALIAS)
        except MlflowException:  # no registered model yet, or no version holds the alias
            return None
        return str(version.version)


def _failures(result: dg.ExecuteInProcessResult) -> list[str]:
    return [f"{e.step_key}: {e.event_specific_data.error.message.strip()[:300]}"
            for e in result.all_events if e.is_step_failure]


def _kill_and_rerun_ingestion(home: Path) -> None:
    killed = run_ingestion(home, kill_at=KILL_POINT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    finished = run_ingestion(home)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert json.loads(finished.stdout)["new_feedback"] > 0  # the killed batch was rolled back, not half-kept


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _trained_and_held_out_tables(home: Path) -> tuple[set[str], set[str]]:
    """Table identities of every train / validation line of every file under data/finetune_ready, and of every
    holdout (the `*_holdout.jsonl` files, the shipped holdout and `holdout_tables.json`)."""
    ready = home / "data" / "finetune_ready"
    trained: set[str] = set()
    held: set[str] = set(json.loads((ready / "holdout_tables.json").read_text())["tables"])
    shipped = home / "data" / "finetune_samples" / "holdout_test.jsonl"
    for path in sorted(ready.rglob("*.jsonl")) + ([shipped] if shipped.is_file() else []):
        for row in _lines(path):
            if "compact_eda" in row and "output" in row:  # a holdout line, in the seed-example format
                held.add(table_identity(row["compact_eda"]))
            elif "metadata" in row and row["metadata"].get("split") != "holdout":
                trained.add(row["metadata"]["table_id"])
    return trained, held


def test_a_year_of_the_loop_on_its_defaults(home: Path, monkeypatch) -> None:
    monkeypatch.setenv("DATAPILOT_MAX_TRAIN_STEPS", STEP_CAP)
    # Simulated weeks pass in milliseconds: the sensor's settle delay (guarding files still being copied in,
    # which this simulation never leaves) would otherwise hide each delivery from the tick right after it.
    monkeypatch.setenv("DATAPILOT_SENSOR_SETTLE_S", "0")
    months = [Month(m) for m in range(1, 13)]
    with dg.instance_for_test(temp_dir=str(home / ".dagster_home")) as instance:
        year = Year(home, instance)
        for month in months:
            for delivery, n_jobs in enumerate(WEEKLY_JOBS[month.month]):
                if n_jobs:
                    month.reviews += year.deliver(n_jobs, seed=month.month * 10 + delivery)
                    month.jobs += n_jobs
                if (month.month, delivery) == (KILL_MONTH, KILL_DELIVERY):
                    _kill_and_rerun_ingestion(home)
                month.sensor_exports += year.tick_sensor()
            first_of_next = datetime(YEAR + month.month // 12, month.month % 12 + 1, 1, tzinfo=timezone.utc)
            year.tick_schedules(first_of_next, month)
            if month.month == OPERATOR_CHAMPION_MONTH:
                year.name_champion(str(year.champion_moves[-1][2]["version"]))
            month.champion = year.champion()
            print(f"\nmonth {month.row()}", flush=True)  # progress, for `pytest -s` on a slow machine

    print("\n| month | reviews | sensor exports | retrains | holdout n | promoted | champion |\n"
          "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(m.row() for m in months))

    # Every quarter retrained (the quarterly schedule always requests), and every scheduled retrain succeeded.
    # Once the holdout passed 30 examples a candidate was promoted, so the champion arm and the rule were exercised.
    assert sum(m.retrains.count("quarterly") for m in months) == 4
    assert all(r.success for r in year.retrain_runs)
    # After the operator named a champion, every retrain evaluated it on the same holdout as the candidate; the
    # champion's and few-shot's replies to holdout examples they had answered before were read back, not generated.
    later = [scores["report"] for _, scores in year.evaluations[1:]]
    assert later and all(r["champion"]["n"] == r["fine_tuned"]["n"] for r in later)
    assert all(r[arm]["decoding"]["reply_cache"]["hits"] > 0 for r in later for arm in ("few_shot", "champion"))
    # Each evaluation ran on the whole holdout its own export wrote.
    for dataset, scores in year.evaluations:
        assert scores["holdout_path"] == dataset["holdout_path"]
        assert scores["fine_tuned"]["n"] == len(_lines(Path(dataset["holdout_path"]))) == scores["report"]["n_examples"]
    # `champion` moved only on a promotion whose rules all passed, and onto the version that was evaluated.
    for before, after, decision in year.champion_moves:
        if after != before:
            assert decision["promote"] and all(rule["passed"] for rule in decision["rules"]), decision["reasons"]
            assert after == str(decision["version"])
        if decision["promote"]:
            assert after == str(decision["version"])
    # No table that was ever held out was ever trained on.
    trained, held = _trained_and_held_out_tables(home)
    assert trained and held and not trained & held, sorted(trained & held)[:5]
    # The store holds exactly the reviews delivered: none lost, none twice, the killed ingestion included.
    from datapilot_pipeline.lib.feedback.ingest import feedback_table

    stored = feedback_table(home / "data" / "feedback")["feedback_id"].tolist()
    assert len(stored) == len(set(stored)) == len(year.delivered) == len(set(year.delivered))
    assert set(stored) == set(year.delivered)
