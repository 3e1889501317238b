"""PII masking in exported prompts and completions: PII goes, evidence numbers and structure stay."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapilot_pipeline.lib.evidence import check_output
from datapilot_pipeline.lib.export.masking import Masker
from datapilot_pipeline.lib.export.pipeline import ExportOptions, SplitFractions, export_dataset
from datapilot_pipeline.lib.pii.cells import walk_strings
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
    the one a fresh scan of each chunk gives; a cell met in two chunks is not scanned a third time, the memo forgets
    everything past its limit (then scans again), and only the hashes of cells met once past three times that."""
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

    # room for the shared cells, not for the hashes of every chunk's own cells: those hashes go, the shared cells stay
    roomy, scanned[:] = masking.RepeatedCells(limit=5), []
    for chunk in chunks:
        assert roomy.mapping(chunk) == {c: m for c, m in zip(chunk, mask_cells(chunk)) if m != c[1]}
    assert len(roomy._seen_once) < 2 * len(chunks) - 3 * roomy.limit  # the hashes were dropped at least once
    assert all(scanned.count(cell) == 2 for cell in shared) and len(roomy.masked) == len(shared)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(alphabet="abXY", max_size=3),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(alphabet="abXY", max_size=3), inner, max_size=4), max_leaves=20)


def _rebuilt(obj, fn, keys):
    """The value with `fn` applied to each string (keys too when `keys`), every container rebuilt: what
    `walk_strings` gives where the column does not matter to `fn`."""
    if isinstance(obj, str):
        return fn(None, obj)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            new_key = base = fn(None, k) if keys else k
            n = 1
            while new_key in out:
                n += 1
                new_key = f"{base} #{n}"
            out[new_key] = _rebuilt(v, fn, keys)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rebuilt(v, fn, keys) for v in obj)
    return obj


@settings(max_examples=400, deadline=None)
@given(_json_values, st.booleans(), st.sampled_from(["", "a", "X"]))
def test_walk_strings_copies_only_what_changes(value, keys, letter):
    """`fn` masks strings holding `letter` ("": none): the result equals a full rebuild, the input is untouched,
    and a container whose strings all stay is the input's own object."""
    fn = (lambda _c, s: "M" if letter and letter in s else s)
    before = json.dumps(value, sort_keys=True)
    result = walk_strings(value, fn, keys)
    assert json.dumps(result, sort_keys=True) == json.dumps(_rebuilt(value, fn, keys), sort_keys=True)
    assert type(result) is type(value)
    assert json.dumps(value, sort_keys=True) == before
    if before == json.dumps(_rebuilt(value, fn, keys), sort_keys=True) and _same_keys(value, fn, keys):
        assert result is value


def _same_keys(obj, fn, keys) -> bool:
    """No string anywhere (keys included when `keys`) that `fn` changes."""
    if isinstance(obj, str):
        return fn(None, obj) is obj
    if isinstance(obj, dict):
        return all((not keys or fn(None, k) is k) and _same_keys(v, fn, keys) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(_same_keys(v, fn, keys) for v in obj)
    return True


def test_masking_an_eda_leaves_the_reviewed_eda_as_it_was():
    """The masked EDA shares what masking left alone with the reviewed one; its top_values are its own."""
    eda = make_eda()
    eda["columns"]["email"] = {"dtype": "object", "top_values": {EMAIL: 3, "none given": 2}}
    eda["sample_rows"] = [{"row_index": 0, "values": {"email": EMAIL, "amount": 12.5}}]
    before = json.dumps(eda, sort_keys=True)
    masker = Masker.for_content([eda], [])
    renamed: dict = {}
    masked = masker.compact_eda(eda, renamed=renamed)
    assert json.dumps(eda, sort_keys=True) == before
    assert EMAIL not in json.dumps(masked) and renamed
    assert masked["columns"]["email"]["top_values"] is not eda["columns"]["email"]["top_values"]
    untouched = [c for c, profile in eda["columns"].items() if "top_values" not in profile]
    assert untouched and all(masked["columns"][c] is eda["columns"][c] for c in untouched)
