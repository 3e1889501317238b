"""PII masking in exported prompts and completions: PII goes, evidence numbers and structure stay."""

from __future__ import annotations

import json

import pytest

from datapilot_pipeline.lib.evidence import check_output
from datapilot_pipeline.lib.export.masking import Masker
from datapilot_pipeline.lib.export.pipeline import ExportOptions, SplitFractions, export_dataset
from datapilot_pipeline.lib.prompts import extract_task_eda
from datapilot_pipeline_tests.lib.export_fixtures import item, make_eda, make_feedback, make_insight, make_seed

EMAIL, PHONE, SSN, CARD, IP = "jane.doe@example.com", "(415) 867-5309", "536-22-8726", "4111 1111 1111 1111", "192.168.1.20"
PII = (EMAIL, PHONE, SSN, CARD, IP)


def _numbers(obj, path=""):
    """Every number in a JSON value with its path: what masking must leave alone."""
    if isinstance(obj, bool) or obj is None:
        return {}
    if isinstance(obj, (int, float)):
        return {path: obj}
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in _numbers(value, f"{path}/{key}").items()}
    if isinstance(obj, list):
        return {k: v for n, value in enumerate(obj) for k, v in _numbers(value, f"{path}/{n}").items()}
    return {}


def _hostile_feedback():
    eda = make_eda(f"leads - {EMAIL} - q3.csv", sample_value=f"call {PHONE}", top_label=EMAIL)
    eda["sample_rows"].append({"row_index": 2, "values": {"revenue": 12.5, "region": f"ssn {SSN}", "units": 1}})
    insights = [make_insight("i1", text=f"Row 17 was entered by {EMAIL} from {IP}.",
                             action=f"Call {PHONE} about card {CARD}."),
                make_insight("i2", "segment"), make_insight("i3")]
    insights[1]["evidence"] = {"columns": ["region"], "aggregates": {f"/columns/region/top_values/{EMAIL}": 500},
                               "row_indices": [0]}
    output = {"insights": insights, "summary": f"Escalate to {EMAIL}."}
    items = [item("i1", "approve", 5, notes=f"reviewer phone {PHONE}"), item("i2", "approve", 5),
             item("i3", "edit", 4, edited_text=f"Ask {EMAIL} (SSN {SSN}) about rows 17 and 250.",
                  edited_recommendation={"action": f"Email {EMAIL}.", "priority": "low"})]
    return make_feedback(eda=eda, output=output, items=items), eda, output


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    feedback, eda, output = _hostile_feedback()
    seeds = [make_seed("s1", "seed.csv", ("trend",))]
    seeds[0]["output"]["insights"][0]["text"] = f"Seed text mentions {EMAIL}."
    targets = {"prompt-completion": out / "finetune.jsonl", "preference": out / "pref.jsonl"}
    result = export_dataset([feedback], seeds, ExportOptions(shot_count=1, fractions=SplitFractions(1.0, 0.0, 0.0)),
                            targets, out / "holdout.jsonl")
    return result, feedback, eda, output


def test_no_pii_anywhere_in_the_exported_files(exported):
    result, *_ = exported
    for role, path in result.paths.items():
        text = path.read_text()
        for value in PII + ("867-5309", "536-22"):
            assert value not in text, f"{value} leaked into {role}"
    line = json.loads(result.paths["prompt-completion"].read_text())
    for placeholder in ("<EMAIL_ADDRESS>", "<PHONE_NUMBER>", "<US_SSN>", "<CREDIT_CARD>", "<IP_ADDRESS>"):
        assert placeholder in line["prompt"] + line["completion"]
    assert "reviewer phone" not in result.paths["prompt-completion"].read_text()  # notes are never exported


def test_masking_keeps_every_number_and_evidence_still_valid(exported):
    result, _, eda, output = exported
    line = json.loads(result.paths["prompt-completion"].read_text())
    task_eda = extract_task_eda(line["prompt"])
    assert _numbers(task_eda) == {k.replace(f"/top_values/{EMAIL}", "/top_values/<EMAIL_ADDRESS>"): v
                                  for k, v in _numbers(eda).items()}
    assert task_eda["sample_rows"][1]["values"]["revenue"] == "1683.75"  # a float-looking string is no phone
    completion = json.loads(line["completion"])
    originals = {i["id"]: i for i in output["insights"]}
    for insight in completion["insights"]:
        assert insight["evidence"]["row_indices"] == originals[insight["id"]]["evidence"]["row_indices"]
        assert sorted(insight["evidence"]["aggregates"].values()) == \
            sorted(originals[insight["id"]]["evidence"]["aggregates"].values())
    check = check_output(line["completion"], task_eda)
    assert check.schema_pass and check.n_valid_evidence == check.n_insights == 3


def test_top_values_labels_masked_and_pointers_follow():
    masker = Masker({EMAIL: "<EMAIL_ADDRESS>", "ops@example.org": "<EMAIL_ADDRESS>"})
    eda = make_eda(top_label=EMAIL)
    eda["columns"]["region"]["top_values"]["ops@example.org"] = 7
    renamed: dict = {}
    masked = masker.compact_eda(eda, renamed=renamed)
    assert masked["columns"]["region"]["top_values"] == {"<EMAIL_ADDRESS>": 500, "NA": 400, "<EMAIL_ADDRESS> #2": 7}
    insight = make_insight("i1")
    insight["evidence"]["aggregates"] = {"/columns/region/top_values/ops@example.org": 7}
    out = masker.output({"insights": [insight]}, renamed)
    assert out["insights"][0]["evidence"]["aggregates"] == {"/columns/region/top_values/<EMAIL_ADDRESS> #2": 7}
    assert masked["correlations"] == eda["correlations"] and masked["kpis"] == eda["kpis"]


def test_masked_edits_and_preference_pair(exported):
    result, *_ = exported
    pair = json.loads(result.paths["preference"].read_text())
    assert set(pair) == {"prompt", "chosen", "rejected"}
    chosen = json.loads(pair["chosen"])["insights"]
    assert chosen[2]["text"] == "Ask <EMAIL_ADDRESS> (SSN <US_SSN>) about rows 17 and 250."
    assert chosen[2]["recommendation"] == {"action": "Email <EMAIL_ADDRESS>.", "priority": "low"}
    rejected = json.loads(pair["rejected"])
    assert rejected["summary"] == "Escalate to <EMAIL_ADDRESS>."
    assert rejected["insights"][2]["text"] != chosen[2]["text"]


def test_repeated_cells_mask_as_a_fresh_scan_and_skip_what_came_before(monkeypatch):
    """Over many chunks that share some cells (labels, a worked example's text) and hold new ones, the mapping is
    the one a fresh scan of each chunk gives; a cell met in two chunks is not scanned a third time, and the memo
    forgets everything past its limit (then scans again)."""
    from datapilot_pipeline.lib.export import masking
    from datapilot_pipeline.lib.pii import mask_cells

    shared = [(None, "Enterprise"), ("customer_email", EMAIL), (None, f"Call {PHONE} today."), (None, "float")]
    chunks = [shared + [(None, f"order {n} from {name}"), ("phone", f"{415_555_0100 + n}")]
              for n, name in enumerate(["Ana Souza", "Wei Chen", "plain text", "Kofi Mensah", "Olga Ivanova"] * 4)]
    scanned: list = []

    def counting(cells, *args):
        scanned.extend(cells)
        return mask_cells(cells, *args)

    monkeypatch.setattr("datapilot_pipeline.lib.pii.mask_cells", counting)
    memo = masking.RepeatedCells(limit=100)
    for chunk in chunks:
        fresh = {c: m for c, m in zip(chunk, mask_cells(chunk)) if m != c[1]}
        assert memo.mapping(chunk) == fresh
    assert all(scanned.count(cell) == 2 for cell in shared)  # the first two chunks; never again
    assert len(memo.masked) == len(shared)  # the new cells of each chunk cost a hash, not an entry
    assert memo.mapping(shared)[("customer_email", EMAIL)] == "<EMAIL_ADDRESS>"

    small, scanned[:] = masking.RepeatedCells(limit=2), []
    for chunk in chunks:
        small.mapping(chunk)
    assert scanned.count(shared[0]) > 2 and len(small.masked) <= 4
