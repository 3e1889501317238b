"""Synthetic tables, jobs and reviews: deterministic, contract-valid, and realistic in the ways the
rest of the pipeline relies on (failure modes present, reviews following them, PII in sample rows)."""

from __future__ import annotations

import difflib
import ipaddress
import re
import uuid
from collections import Counter, defaultdict
from datetime import datetime

import pandas as pd
import pytest

from datapilot_pipeline.lib.contracts import FeedbackFile, JobResult
from datapilot_pipeline.lib.evidence import evidence_problems
from datapilot_pipeline.lib.feedback.inbox import load_inbox
from datapilot_pipeline.lib.synthetic import (QUALITIES, SHAPES, generate_feedback, generate_jobs, make_table,
                                              plan_jobs, write_feedback_files)
from datapilot_pipeline.lib.synthetic.pii import luhn_valid

N = 400  # jobs per module-level sample: enough for every failure mode and re-review kind to occur


@pytest.fixture(scope="module")
def feedback() -> list[dict]:
    return list(generate_feedback(N, seed=11))


@pytest.fixture(scope="module")
def jobs() -> list[dict]:
    return list(generate_jobs(N, seed=11))


# ---------------------------------------------------------------- tables
@pytest.mark.parametrize("shape", SHAPES)
def test_table_has_its_planted_effects(shape: str) -> None:
    table = make_table(shape, seed=5)
    df, facts, eda = table.df, table.facts, table.eda
    assert 200 <= len(df) <= 1000 and eda["dataset"]["n_rows"] == len(df)
    spike = df[facts["outlier"]["column"]]
    assert spike.max() > 3 * spike.median()
    assert set(facts["outlier"]["rows"]) <= set(range(len(df)))
    assert df[facts["missing"]["column"]].isna().sum() > 0
    assert eda["kpis"][facts["quality"]["kpi"]] == len(facts["quality"]["rows"]) > 0
    seg = [eda["kpis"][k] for k in facts["segment"]["kpis"].values()]
    assert max(seg) > 1.3 * min(seg)
    assert any(p["columns"] == facts["correlation"]["columns"] for p in eda["correlations"]) or shape == "web_traffic"


@pytest.mark.parametrize("shape", SHAPES)
def test_table_is_deterministic_by_seed(shape: str) -> None:
    pd.testing.assert_frame_equal(make_table(shape, 3).df, make_table(shape, 3).df)
    assert not make_table(shape, 3).df.equals(make_table(shape, 4).df)


def test_unknown_shape_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown table shape 'crm'"):
        make_table("crm", 1)


# ---------------------------------------------------------------- jobs
def test_jobs_are_deterministic_and_prefix_stable(jobs: list[dict]) -> None:
    assert list(generate_jobs(60, seed=11)) == jobs[:60]
    assert list(generate_jobs(60, seed=12)) != jobs[:60]


def test_jobs_follow_the_contract(jobs: list[dict]) -> None:
    for job in jobs:
        JobResult.model_validate(job)
        assert set(job) == {"job_id", "created_at", "model", "variant", "compact_eda", "llm_output"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", job["created_at"])
    assert len({j["job_id"] for j in jobs}) == len(jobs)
    months = {j["created_at"][:7] for j in jobs}
    assert len(months) >= 5
    variants = Counter(j["variant"] for j in jobs)
    assert min(variants["few_shot"], variants["fine_tuned"]) > 0.3 * len(jobs)  # routed 50/50 (test_synthetic_routing)
    assert {j["model"] for j in jobs if j["variant"] == "fine_tuned"}.isdisjoint(
        {j["model"] for j in jobs if j["variant"] == "few_shot"})


def test_most_jobs_see_a_new_table_and_popular_tables_come_back() -> None:
    names = Counter(j["compact_eda"]["dataset"]["name"] for j in generate_jobs(2000, seed=3))
    repeats = sum(n - 1 for n in names.values())
    assert 0.3 < repeats / 2000 < 0.6  # a long tail of tables seen once, beside a few popular ones
    assert names.most_common(1)[0][1] >= 10


def test_every_failure_mode_occurs_and_truth_matches_evidence() -> None:
    seen: Counter = Counter()
    for pj in plan_jobs(N, seed=11):
        eda = pj.job["compact_eda"]
        for planned in pj.planned:
            seen[planned.quality] += 1
            valid = not evidence_problems(planned.insight["evidence"], eda)
            if planned.quality in ("grounded", "wrong_severity", "wrong_category"):
                assert valid, planned
            elif planned.quality in ("missing_evidence", "imprecise_value", "invalid_rows", "hallucinated"):
                assert not valid, planned
            assert not evidence_problems(planned.correct["evidence"], eda)
    assert set(seen) == set(QUALITIES)
    assert 0.4 < seen["grounded"] / sum(seen.values()) < 0.75


def test_fine_tuned_outputs_are_grounded_more_often(jobs: list[dict]) -> None:
    valid: dict[str, list[bool]] = defaultdict(list)
    for job in jobs:
        for insight in job["llm_output"]["insights"]:
            valid[job["variant"]].append(not evidence_problems(insight["evidence"], job["compact_eda"]))
    rate = {v: sum(flags) / len(flags) for v, flags in valid.items()}
    assert rate["fine_tuned"] > rate["few_shot"] + 0.05


def test_some_jobs_are_near_duplicates(jobs: list[dict]) -> None:
    by_table: dict[str, list[dict]] = defaultdict(list)
    for job in jobs:
        by_table[job["compact_eda"]["dataset"]["name"]].append(job)
    near = 0
    for group in by_table.values():
        texts = [" ".join(i["text"] for i in j["llm_output"]["insights"]) for j in group]
        for a in range(len(texts)):
            for b in range(a + 1, len(texts)):
                if texts[a] != texts[b] and difflib.SequenceMatcher(None, texts[a], texts[b]).quick_ratio() > 0.97 \
                        and difflib.SequenceMatcher(None, texts[a], texts[b]).ratio() > 0.95:
                    near += 1
    assert near >= 3


# ---------------------------------------------------------------- feedback
def test_feedback_is_deterministic(feedback: list[dict]) -> None:
    first_jobs = {j["job_id"] for j in generate_jobs(40, seed=11)}
    assert list(generate_feedback(40, seed=11)) == [f for f in feedback if f["job_id"] in first_jobs]
    assert [f["feedback_id"] for f in generate_feedback(40, seed=12)] != [f["feedback_id"] for f in feedback[:40]]


def test_all_feedback_validates(feedback: list[dict], jobs: list[dict]) -> None:
    for fb in feedback:
        FeedbackFile.model_validate(fb)
        assert uuid.UUID(fb["feedback_id"]).version == 4
    assert len(feedback) > N
    assert len({f["feedback_id"] for f in feedback}) == len(feedback)
    assert {f["job_id"] for f in feedback} == {j["job_id"] for j in jobs}
    assert len({f["reviewer_id"] for f in feedback}) >= 4
    jobs_by_id = {j["job_id"]: j for j in jobs}
    for fb in feedback:
        job = jobs_by_id[fb["job_id"]]
        assert (fb["llm_output"], fb["compact_eda"], fb["variant"]) == (job["llm_output"], job["compact_eda"], job["variant"])


def test_reviews_follow_the_guidelines(feedback: list[dict]) -> None:
    valid_by_action: dict[str, list[bool]] = defaultdict(list)
    for fb in feedback:
        insights = {i["id"]: i for i in fb["llm_output"]["insights"]}
        for item in fb["items"]:
            evidence = insights[item["insight_id"]]["evidence"]
            valid_by_action[item["action"]].append(not evidence_problems(evidence, fb["compact_eda"]))
            if item["action"] == "approve":
                assert item["human_score"] >= 3
            elif item["action"] == "reject":
                assert item["human_score"] <= 2 and item["notes"]
            elif item["action"] == "edit":
                assert 3 <= item["human_score"] <= 4
                if item.get("edited_evidence") is not None:
                    assert not evidence_problems(item["edited_evidence"], fb["compact_eda"])
    rate = {a: sum(v) / len(v) for a, v in valid_by_action.items()}
    assert rate["approve"] > 0.9 and rate["reject"] < 0.5 and rate["approve"] > rate["reject"] + 0.4
    counts = {a: len(v) for a, v in valid_by_action.items()}
    assert counts["approve"] > counts["edit"] > 0.1 * counts["approve"] and counts["skip"] > 0
    assert set(Counter(f["overall_score"] for f in feedback)) >= {2, 3, 4, 5}


def test_rereviews_and_disagreement(feedback: list[dict]) -> None:
    by_job: dict[str, list[dict]] = defaultdict(list)
    for fb in feedback:
        by_job[fb["job_id"]].append(fb)
    same = other = disagreements = 0
    for reviews in by_job.values():
        reviewers = [r["reviewer_id"] for r in reviews]
        if len(reviewers) != len(set(reviewers)):
            same += 1
            first, later = [r for r in reviews if reviewers.count(r["reviewer_id"]) > 1][:2]
            assert datetime.fromisoformat(later["created_at"][:-1]) > datetime.fromisoformat(first["created_at"][:-1])
        if len(set(reviewers)) > 1:
            other += 1
            a, b = (next(r for r in reviews if r["reviewer_id"] == rid) for rid in list(dict.fromkeys(reviewers))[:2])
            disagreements += sum(x["action"] != y["action"] for x, y in zip(a["items"], b["items"]))
    assert same >= 10 and other >= 20 and disagreements >= 5


# ---------------------------------------------------------------- PII
EMAIL = re.compile(r"^[a-z]+[._]?[a-z]+\d*@[a-z0-9-]+\.[a-z]+$")
PHONE = re.compile(r"^(\(\d{3}\) \d{3}-\d{4}|\+1 \d{3}-\d{3}-\d{4})$")
SSN = re.compile(r"^(\d{3})-(\d{2})-(\d{4})$")


def _sample_values(jobs: list[dict], column: str) -> list[str]:
    return [row["values"][column] for j in jobs for row in j["compact_eda"]["sample_rows"] if column in row["values"]]


def test_sample_rows_carry_valid_format_pii(jobs: list[dict]) -> None:
    emails = _sample_values(jobs, "customer_email") + _sample_values(jobs, "email") + _sample_values(jobs, "work_email")
    phones, ssns = _sample_values(jobs, "phone"), _sample_values(jobs, "ssn")
    cards, ips = _sample_values(jobs, "card_number"), _sample_values(jobs, "client_ip")
    assert min(len(emails), len(phones), len(ssns), len(cards), len(ips)) > 0
    assert all(EMAIL.match(v) for v in emails), emails[:5]
    assert all(PHONE.match(v) for v in phones) and {v[0] for v in phones} == {"(", "+"}
    for value in ssns:
        area, group, serial = SSN.match(value).groups()
        assert area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"
        assert value != "123-45-6789"
    assert all(luhn_valid(v) and len(v.replace(" ", "")) == 16 for v in cards)
    assert all(ipaddress.ip_address(v).is_global for v in ips)
    no_pii = [j for j in jobs if j["compact_eda"]["dataset"]["name"].startswith(("inventory", "warehouse", "sku"))]
    assert no_pii and all("@" not in str(r["values"]) for j in no_pii for r in j["compact_eda"]["sample_rows"])


def test_some_reviewer_notes_quote_pii(feedback: list[dict]) -> None:
    quoted = 0
    for fb in feedback:
        shown = {v for row in fb["compact_eda"]["sample_rows"] for v in row["values"].values()
                 if isinstance(v, str) and (EMAIL.match(v) or PHONE.match(v) or SSN.match(v) or luhn_valid(v))}
        for item in fb["items"]:
            written = (item.get("notes") or "") + (item.get("edited_text") or "")
            quoted += any(value in written for value in shown)
    assert 5 <= quoted < 0.05 * sum(len(f["items"]) for f in feedback)


@pytest.mark.parametrize("number,ok", [("4111 1111 1111 1111", True), ("4111 1111 1111 1112", False),
                                       ("5500-0000-0000-0004", True), ("1234", False)])
def test_luhn(number: str, ok: bool) -> None:
    assert luhn_valid(number) is ok


# ---------------------------------------------------------------- files
def test_write_feedback_files_fills_a_readable_inbox(tmp_path) -> None:
    paths = write_feedback_files(tmp_path / "inbox", 30, seed=2)
    assert len(paths) == len(list(generate_feedback(30, seed=2))) >= 30
    assert all(re.fullmatch(r"feedback_job_[0-9a-f]{12}_\d{8}T\d{6}Z_[0-9a-f]{8}\.json", p.name) for p in paths)
    good, rejected = load_inbox(tmp_path / "inbox")
    assert rejected == [] and len(good) == len(paths)
    assert not [p for p in (tmp_path / "inbox").iterdir() if p.name.startswith(".")]
