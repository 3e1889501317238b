"""A/B testing in production: few-shot (control) against fine-tuned (treatment), judged per reviewed job."""


import dagster as dg
from pydantic import Field

from datapilot_pipeline.defs.display import for_display
from datapilot_pipeline.defs.resources import WorkspaceResource


class AbTestConfig(dg.Config):
    """Leave everything out (the schedule does): the current experiment is read with its stored plan, and a new
    experiment is planned with the defaults (MDE 0.05, alpha 0.05, power 0.8). Values that differ from an
    experiment's stored plan fail the run: the plan is fixed once per experiment."""

    mde: float | None = Field(default=None, gt=0, lt=1, description="Minimum detectable approval lift (absolute, "
                              "per job) for a new plan; default 0.05.")
    alpha: float | None = Field(default=None, gt=0, lt=1, description="Two-sided significance level for a new plan; "
                                "default 0.05.")
    power: float | None = Field(default=None, gt=0, lt=1, description="Power at the MDE for a new plan; default 0.8. "
                                "With alpha and the MDE it fixes the jobs needed per variant.")
    fine_tuned_model: str | None = Field(default=None, description="Read the experiment of this fine-tuned release "
                                         "(default: the current one, the latest release).")


def _fmt(value, spec: str = ".1%") -> str:
    return "n/a" if value is None else format(value, spec)


def _design_md(report: dict) -> str:
    d = report["design"]
    rows = [("unit of analysis", report["unit"]), ("method", report["method"]),
            ("minimum detectable effect", _fmt(d["mde"])), ("alpha (two-sided)", d["alpha"]), ("power", d["power"]),
            ("baseline approval (pooled)", _fmt(d["baseline_approval"])), ("intra-job correlation (ICC)", f"{d['icc']:.3f}"),
            ("insights per job (harmonic mean)", f"{d['insights_per_job']:.2f}"),
            ("design effect", f"{d['design_effect']:.2f}"), ("insights if independent", d["insights_if_independent"]),
            ("**jobs needed per variant**", d["jobs_needed_per_variant"]), ("estimated from", d["source"]),
            ("plan fixed at", f"{e['planned_at']} ({e['planned_by']})" if (e := report["experiment"]) else "not yet")]
    return "\n".join(["| design | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)])


def _variants_md(report: dict) -> str:
    rows = ["| variant | jobs | reviews | approval rate | mean overall score | hallucination rejections |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name, v in report["variants"].items():
        rows.append(f"| {name} | {v['jobs']} | {v['reviews']} | {_fmt(v['approval_rate'])} | "
                    f"{_fmt(v['mean_overall_score'], '.2f')} | {_fmt(v['hallucination_rejection_rate'])} |")
    rails = "\n".join(f"- guardrail `{g['name']}`: {'passes' if g['passed'] else 'FAILS'} ({g['harm']} blocks)"
                      for g in report["guardrails"])
    return "\n".join(rows) + f"\n\n**verdict: {report['verdict']}** - " + "; ".join(report["reasons"]) + "\n\n" + rails


def _experiments_md(report: dict) -> str:
    rows = ["| experiment | fine_tuned | few_shot | started | plan fixed | jobs needed | jobs few_shot / fine_tuned | "
            "verdict | p |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for x in report["experiments"]:
        rows.append(f"| {x['id']} | {x['models']['fine_tuned']} | {x['models']['few_shot']} | {x['started_at']} | "
                    f"{x['planned_at']} | {x['jobs_needed_per_variant']} | {x['jobs']['few_shot']} / "
                    f"{x['jobs']['fine_tuned']} | {x['verdict']} | {_fmt(x['p_value'], '.3g')} |")
    return "\n".join(rows) + ("\n\nOne experiment per pair of model versions; each plan is fixed at its first read "
                              "and each verdict decided once, on the first N jobs of each variant.")


def _daily_md(report: dict) -> str:
    rows = ["| day | jobs few_shot | jobs fine_tuned | approval few_shot | approval fine_tuned | difference | t | p |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for d in report["daily"]:
        rows.append(f"| {d['date']} | {d['jobs']['few_shot']} | {d['jobs']['fine_tuned']} | "
                    f"{_fmt(d['approval_rate']['few_shot'])} | {_fmt(d['approval_rate']['fine_tuned'])} | "
                    f"{_fmt(d['difference'], '+.1%')} | {_fmt(d['t'], '.2f')} | {_fmt(d['p_value'], '.3g')} |")
    return "\n".join(rows) + ("\n\nMonitoring only: the verdict is decided once, at the fixed horizon of "
                              f"{report['jobs_needed_per_variant']} jobs per variant.")


@dg.asset(group_name="ab_testing", kinds={"json"})
def ab_test_report(context: dg.AssetExecutionContext, config: AbTestConfig, workspace: WorkspaceResource,
                   feedback_records: dict) -> dg.Output[dict]:
    """The A/B test of the two variants at the unit of randomization, the job (one row per job: its reviewers'
    consensus; superseded reviews and reviews without a variant left out), for the current experiment (the pair of
    model versions served, a new fine-tuned release starting a new one). Reads the feedback store plus the inbox,
    as `datapilot ab-test` does, through the same function. The plan (MDE, alpha, power and the intra-job
    correlation: the jobs needed per variant) is fixed at the experiment's first read; the verdict (promote / keep
    / keep collecting) is a Welch t-test on per-job approval rates, decided once on the first N jobs of each
    variant, blocked by guardrails on the mean overall score and on insights rejected as hallucinated; later reads
    return the same answer. Shows the statistic per day; written to `reports/ab_test_<TIMESTAMP>.json`."""
    from datapilot_pipeline.lib.ab.experiments import Selector
    from datapilot_pipeline.lib.ab.report import PlanConflict
    from datapilot_pipeline.lib.ab.run import load_reviews, run_ab_test

    ws = workspace.workspace()
    reviews, unusable = load_reviews(ws.inbox, feedback_records["feedback_dir"])  # as `datapilot ab-test` reads
    selector = Selector(config.fine_tuned_model) if config.fine_tuned_model else None
    try:
        report, path = run_ab_test(reviews, ws.root, ws.reports, config.mde, config.alpha, config.power,
                                   experiment=selector)
    except (PlanConflict, LookupError) as exc:
        raise dg.Failure(description=str(exc)) from None
    metadata: dict = {"verdict": report["verdict"], "unit": report["unit"],
                      "experiment": report["experiment"]["id"] if report["experiment"] else "none yet",
                      "experiments": dg.MetadataValue.md(_experiments_md(report)),
                      "jobs_needed_per_variant": report["jobs_needed_per_variant"],
                      "design": dg.MetadataValue.md(_design_md(report)),
                      "summary": dg.MetadataValue.md(_variants_md(report)),
                      "daily": dg.MetadataValue.md(_daily_md(report)), "report": dg.MetadataValue.path(str(path))}
    if report["p_value"] is not None:
        metadata["p_value"] = dg.MetadataValue.float(report["p_value"])
    for name, v in report["variants"].items():
        metadata[f"{name}/jobs"] = v["jobs"]
        metadata[f"{name}/jobs_still_needed"] = report["jobs_still_needed"][name]
        if v["approval_rate"] is not None:
            metadata[f"{name}/approval_rate"] = dg.MetadataValue.float(v["approval_rate"])
    for reason, count in report["excluded"].items():
        metadata[f"excluded/{reason}"] = count
    if unusable:
        metadata["unusable_inbox_files"] = unusable
    context.log.info(f"A/B verdict: {report['verdict']} ({'; '.join(report['reasons'])})")
    return dg.Output({**report, "report_path": str(path)}, metadata=for_display(metadata))


@dg.asset_check(asset=ab_test_report, description="Warns when a guardrail fails: the fine-tuned variant's mean "
                "overall score is significantly lower, or its share of insights rejected as hallucinated "
                "significantly higher (a failing guardrail also blocks a promote verdict).")
def ab_test_guardrails_pass(ab_test_report: dict) -> dg.AssetCheckResult:
    metadata: dict = {}
    for rail in ab_test_report["guardrails"]:
        metadata[f"{rail['name']}/passed"] = rail["passed"]
        if rail["test"] is not None:
            metadata[f"{rail['name']}/difference"] = dg.MetadataValue.float(rail["test"]["difference"])
            metadata[f"{rail['name']}/p_value"] = dg.MetadataValue.float(rail["test"]["p_value"])
    passed = all(rail["passed"] for rail in ab_test_report["guardrails"])
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata=for_display(metadata))


ab_test_job = dg.define_asset_job("ab_test_job", selection=dg.AssetSelection.assets("feedback_records", "ab_test_report"),
                                  description="Ingest new reviews and re-read the A/B test.")

ab_test_daily_schedule = dg.ScheduleDefinition(
    name="ab_test_daily_schedule", job=ab_test_job, cron_schedule="0 6 * * *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Read the A/B test every day (06:00 UTC). Safe to read daily: the verdict is fixed-horizon, nothing "
                "is decided before the planned number of jobs per variant.")
