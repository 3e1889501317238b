"""Evaluation runs in MLflow: one parent run per evaluation (the report, the paired differences, the promotion
decision as tags) with one child run per arm carrying the same metric names (`evidence_accuracy`,
`schema_pass_rate`, ...), so arms and evaluations compare across runs in MLflow's table and charts. The
evaluation and the decision are also written as tags on the registered version that was evaluated."""

from __future__ import annotations

from datapilot_pipeline.lib.evaluation.metrics import RATE_METRICS

EVAL_EXPERIMENT = "datapilot-eval"
ARM_KEYS = ("few_shot", "fine_tuned", "champion")


def arm_metrics(m: dict) -> dict[str, float]:
    """`n`, every defined rate and its CI bounds for one arm; MLflow cannot store None."""
    out = {"n": float(m["n"])}
    for key in RATE_METRICS:
        if m.get(key) is not None:
            out[key] = float(m[key])
        ci = (m.get("ci") or {}).get(key)
        if ci:
            out[f"{key}_ci_low"], out[f"{key}_ci_high"] = float(ci[0]), float(ci[1])
    return out


def metric_items(report: dict) -> dict[str, float]:
    """The parent run's figures: `<arm>_<metric>` for every arm and the paired differences."""
    out: dict[str, float] = {}
    for arm in ARM_KEYS:
        if arm in report:
            out.update({f"{arm}_{k}": v for k, v in arm_metrics(report[arm]).items()})
    for ref, diffs in (report.get("comparisons") or {"few_shot": report.get("comparison") or {}}).items():
        for key, diff in diffs.items():
            if diff.get("value") is not None:
                out[f"diff_vs_{ref}_{key}"] = float(diff["value"])
    return out


def log_evaluation(report: dict, tracking_uri: str, tags: dict[str, str] | None = None) -> str:
    """The parent run and one child run per arm; returns the parent run id. Figures are logged at step 0."""
    import mlflow.tracking
    from mlflow.entities import Metric, Param

    from datapilot_pipeline.lib.tracking import ensure_tracking_db

    experiment_id = ensure_tracking_db(tracking_uri, experiment=EVAL_EXPERIMENT)
    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
    run = client.create_run(experiment_id, run_name="evaluation", tags={
        "mlflow.note.content": f"{report['fine_tuned'].get('model')} on {report.get('n_examples')} holdout examples",
        **(tags or {})})
    parent = run.info.run_id
    try:
        stamp = run.info.start_time
        client.log_batch(parent, metrics=[Metric(k, v, stamp, 0) for k, v in metric_items(report).items()],
                         params=[Param(f"{arm}_{key}", str(report[arm].get(key))[:500])
                                 for arm in ARM_KEYS if arm in report for key in ("model", "backend", "shot_count")]
                         + [Param("prompt_version", str(report.get("prompt_version")))])
        client.log_dict(parent, report, "eval_report.json")
        for arm in ARM_KEYS:
            if arm in report:
                _log_arm(client, experiment_id, parent, arm, report, tags or {})
    except BaseException:
        client.set_terminated(parent, status="FAILED")
        raise
    client.set_terminated(parent)
    return parent


def _log_arm(client, experiment_id: str, parent: str, arm: str, report: dict, tags: dict[str, str]) -> None:
    from mlflow.entities import Metric, Param

    m = report[arm]
    child = client.create_run(experiment_id, run_name=f"evaluation/{arm}",
                              tags={**tags, "mlflow.parentRunId": parent, "arm": arm})
    stamp = child.info.start_time
    client.log_batch(child.info.run_id, metrics=[Metric(k, v, stamp, 0) for k, v in arm_metrics(m).items()],
                     params=[Param("arm", arm), Param("model", str(m.get("model"))[:500]),
                             Param("backend", str(m.get("backend"))), Param("shot_count", str(m.get("shot_count")))])
    client.set_terminated(child.info.run_id)


def decision_tags(decision: dict, table: str | None = None) -> dict[str, str]:
    """The decision as tags: `promotion.promote`, `promotion.reasons`, the rules table (`promotion.rules_table`)
    and one `promotion.rule.<name>` per rule (`pass`/`FAIL`: observed, needs)."""
    tags = {"promotion.promote": str(decision["promote"]).lower(),
            "promotion.reasons": " | ".join(decision["reasons"])[:5000]}
    if table:
        tags["promotion.rules_table"] = table[:5000]
    for rule in decision["rules"]:
        key = "promotion.rule." + "_".join(rule["name"].replace("-", " ").split())
        tags[key] = f"{'pass' if rule['passed'] else 'FAIL'}: {rule['observed']} (needs {rule['needs']})"[:5000]
    return tags


def tag_decision(run_id: str, tracking_uri: str, decision: dict, table: str | None = None) -> None:
    import mlflow.tracking

    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
    for key, value in decision_tags(decision, table).items():
        client.set_tag(run_id, key, value)


def tag_version(tracking_uri: str, version: str, eval_run_id: str, report: dict, decision: dict) -> None:
    """The evaluated registered version's tags: its evaluation figures and the promotion decision."""
    import mlflow.tracking

    from datapilot_pipeline.lib.tracking import REGISTERED_MODEL

    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    tags = {"evaluation.run_id": eval_run_id, "evaluation.n": str(report["fine_tuned"]["n"]),
            "evaluation.report": str(report.get("report_path", "")),
            "promotion.decision": "promote" if decision["promote"] else "reject",
            "promotion.rules": " | ".join(decision["reasons"])[:5000]}
    for key in RATE_METRICS:
        value = report["fine_tuned"].get(key)
        tags[f"evaluation.{key}"] = "n/a" if value is None else f"{value:.4f}"
    for key, value in tags.items():
        client.set_model_version_tag(REGISTERED_MODEL, str(version), key, value)
