"""A/B testing in production: few-shot (control) against fine-tuned (treatment) on reviewed jobs."""

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
from pydantic import Field

from datapilot_pipeline.defs.display import for_display
from datapilot_pipeline.defs.resources import WorkspaceResource


class AbTestConfig(dg.Config):
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Significance level of both tests.")
    power: float = Field(default=0.8, gt=0, lt=1, description="Power for the required sample size.")
    min_jobs: int = Field(default=30, ge=1, description="Reviewed jobs each variant needs before any verdict.")


def _markdown(report: dict) -> str:
    def fmt(value, spec=".1%"):
        return "n/a" if value is None else format(value, spec)

    rows = ["| variant | jobs | reviewed insights | approval rate [95% CI] | mean overall score [95% CI] |",
            "| --- | --- | --- | --- | --- |"]
    for name, v in report["variants"].items():
        ci, sci = v["approval_rate_ci"], v["mean_overall_score_ci"]
        rows.append(f"| {name} | {v['jobs']} | {v['reviewed_insights']} | {fmt(v['approval_rate'])}"
                    f"{f' [{ci[0]:.1%}, {ci[1]:.1%}]' if ci else ''} | {fmt(v['mean_overall_score'], '.2f')}"
                    f"{f' [{sci[0]:.2f}, {sci[1]:.2f}]' if sci else ''} |")
    return "\n".join(rows) + f"\n\n**verdict: {report['verdict']}** — " + "; ".join(report["reasons"])


@dg.asset(group_name="ab_testing", kinds={"json"})
def ab_test_report(context: dg.AssetExecutionContext, config: AbTestConfig, workspace: WorkspaceResource,
                   feedback_records: dict) -> dg.Output[dict]:
    """The A/B test of the two variants over variant-tagged reviews: approval rate and mean overall score per
    variant with CIs, a two-proportion z-test, a Mann-Whitney test, the sample size still needed, and the
    verdict (promote / keep / keep collecting). Written to `reports/ab_test_<TIMESTAMP>.json`."""
    import pandas as pd

    from datapilot_pipeline.lib.abtest import ab_report, samples_from_feedback_rows
    from datapilot_pipeline.lib.atomic import atomic_write_json

    path = Path(feedback_records["feedback_path"])
    rows = pd.read_parquet(path).to_dict("records") if path.exists() else []
    report = ab_report(samples_from_feedback_rows(rows), alpha=config.alpha, power=config.power,
                       min_jobs=config.min_jobs)
    now = datetime.now(timezone.utc)
    out = workspace.workspace().reports / f"ab_test_{now:%Y%m%dT%H%M%S%fZ}.json"
    atomic_write_json(out, {"created_at": now.isoformat().replace("+00:00", "Z"), **report})
    metadata: dict = {"verdict": report["verdict"], "summary": dg.MetadataValue.md(_markdown(report)),
                      "report": dg.MetadataValue.path(str(out))}
    for name, v in report["variants"].items():
        metadata[f"{name}/jobs"] = v["jobs"]
        for key in ("approval_rate", "mean_overall_score"):
            if v[key] is not None:
                metadata[f"{name}/{key}"] = dg.MetadataValue.float(float(v[key]))
    if report["approval_z_test"]:
        metadata["approval_z_test_p_value"] = dg.MetadataValue.float(report["approval_z_test"]["p_value"])
    if report["score_mann_whitney"]:
        metadata["mann_whitney_p_value"] = dg.MetadataValue.float(report["score_mann_whitney"]["p_value"])
    if report["required_reviewed_insights_per_variant"] is not None:
        metadata["required_reviewed_insights_per_variant"] = report["required_reviewed_insights_per_variant"]
    return dg.Output({**report, "report_path": str(out)}, metadata=for_display(metadata))
