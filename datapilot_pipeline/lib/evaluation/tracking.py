"""Evaluation runs in MLflow: both arms' metrics in one run, the full report as an artifact, and the
promotion decision as tags on that run."""

from __future__ import annotations

from datapilot_pipeline.lib.evaluation.metrics import RATE_METRICS

EVAL_EXPERIMENT = "datapilot-eval"


def metric_items(report: dict) -> dict[str, float]:
    """`<arm>_<metric>` (and CI bounds) for every defined number; MLflow cannot store None."""
    out: dict[str, float] = {}
    for arm in ("few_shot", "fine_tuned"):
        m = report[arm]
        out[f"{arm}_n"] = float(m["n"])
        for key in RATE_METRICS:
            if m.get(key) is not None:
                out[f"{arm}_{key}"] = float(m[key])
            ci = (m.get("ci") or {}).get(key)
            if ci:
                out[f"{arm}_{key}_ci_low"], out[f"{arm}_{key}_ci_high"] = float(ci[0]), float(ci[1])
    for key, diff in (report.get("comparison") or {}).items():
        if diff.get("value") is not None:
            out[f"diff_{key}"] = float(diff["value"])
    return out


def log_evaluation(report: dict, tracking_uri: str, tags: dict[str, str] | None = None) -> str:
    """One MLflow run holding both arms; returns its run id."""
    import mlflow.tracking
    from mlflow.entities import Metric, Param

    from datapilot_pipeline.lib.tracking import _sqlite_path, ensure_tracking_db

    ensure_tracking_db(tracking_uri)
    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(EVAL_EXPERIMENT)
    # MLflow's default artifact root is ./mlruns in the current directory; keep artifacts beside the DB instead.
    db = _sqlite_path(tracking_uri)
    location = (db.parent / "mlartifacts").resolve().as_uri() if db is not None else None
    experiment_id = found.experiment_id if found else client.create_experiment(EVAL_EXPERIMENT,
                                                                                artifact_location=location)
    run = client.create_run(experiment_id, run_name="evaluation", tags=tags or {})
    try:
        stamp = run.info.start_time
        metrics = [Metric(key, value, stamp, 0) for key, value in metric_items(report).items()]
        params = [Param(f"{arm}_{key}", str(report[arm].get(key))[:500])
                  for arm in ("few_shot", "fine_tuned") for key in ("model", "backend", "shot_count")]
        params.append(Param("prompt_version", str(report.get("prompt_version"))))
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        client.log_dict(run.info.run_id, report, "eval_report.json")
    except BaseException:
        client.set_terminated(run.info.run_id, status="FAILED")
        raise
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def tag_decision(run_id: str, tracking_uri: str, decision: dict) -> None:
    import mlflow.tracking

    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
    client.set_tag(run_id, "promotion.promote", str(decision["promote"]).lower())
    client.set_tag(run_id, "promotion.reasons", " | ".join(decision["reasons"])[:5000])
