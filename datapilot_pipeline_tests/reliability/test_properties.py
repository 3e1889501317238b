"""Property-based tests: normalization, the evidence rule, masking and every file format's round trip hold
for generated inputs, not only for the hand-picked cases of the unit tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from datapilot_pipeline.lib.atomic import atomic_write_json, atomic_write_jsonl
from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.evidence import (
    _MISSING, aggregate_pointer, check_output, evidence_problems, numbers_match, resolve_pointer,
)
from datapilot_pipeline.lib.export.masking import Masker, _escape, _unescape
from datapilot_pipeline.lib.feedback.collector import FeedbackCollector, build_feedback
from datapilot_pipeline.lib.feedback.inbox import read_feedback_file
from datapilot_pipeline.lib.normalize import normalize_output, parse_output_text
from datapilot_pipeline.lib.pii import mask_json
from datapilot_pipeline.lib.validation.records import read_lines
from datapilot_pipeline_tests.feedback_fixtures import feedback_kwargs, sales_eda, sales_output

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])

# Text with the characters that break naive readers: line and paragraph separators, NEL, quotes, escapes.
TEXT = st.text(st.one_of(st.characters(codec="utf-8"), st.sampled_from("\u2028\u2029\x85\r\n\t\"\\~/ ")),
               max_size=30)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                     st.dictionaries(TEXT, inner, max_size=5)), max_leaves=25)
WORDS = st.sampled_from(["anomaly", " Outlier ", "DATA QUALITY", "Missing Data", "trend", "segment", "Major",
                         "med", "urgent", "1,234.5", "17", " 3 ", "-0.5e2", "i1", "", "  "])
INSIGHTISH = st.fixed_dictionaries({}, optional={
    "id": st.one_of(WORDS, st.integers(-5, 50), TEXT), "category": st.one_of(WORDS, TEXT, SCALARS),
    "severity": st.one_of(WORDS, SCALARS), "text": st.one_of(WORDS, TEXT),
    "evidence": st.one_of(JSON, st.fixed_dictionaries({}, optional={
        "columns": st.lists(st.one_of(WORDS, TEXT, SCALARS), max_size=4),
        "aggregates": st.dictionaries(st.one_of(WORDS, TEXT), st.one_of(WORDS, SCALARS), max_size=4),
        "row_indices": st.lists(st.one_of(WORDS, SCALARS, st.integers(-3, 30)), max_size=6)})),
    "recommendation": st.one_of(JSON, st.fixed_dictionaries({}, optional={
        "action": st.one_of(WORDS, TEXT), "priority": st.one_of(WORDS, SCALARS)}))})
OUTPUTISH = st.one_of(JSON, st.fixed_dictionaries({}, optional={
    "insights": st.one_of(JSON, st.lists(st.one_of(INSIGHTISH, JSON), max_size=4)), "summary": st.one_of(WORDS, TEXT)}))


@FAST
@given(OUTPUTISH)
def test_normalization_is_idempotent_and_total(output):
    once = normalize_output(output)
    assert normalize_output(once) == once


@FAST
@given(st.one_of(TEXT, JSON.map(json.dumps), OUTPUTISH.map(json.dumps)))
def test_checking_any_text_never_raises(text):
    check = check_output(text, sales_eda())
    assert check.schema_pass == (check.error is None)
    assert 0 <= check.n_valid_evidence <= check.n_insights
    try:
        parse_output_text(text)
    except ValueError:
        pass  # the one documented failure


@FAST
@given(st.dictionaries(TEXT, JSON, max_size=4), JSON)
def test_evidence_rule_never_raises_on_any_eda(evidence_extra, eda):
    evidence = {"columns": ["revenue"], "row_indices": [3], "aggregates": {"total_revenue": 1.0}, **{
        k: v for k, v in evidence_extra.items() if k not in ("columns", "row_indices", "aggregates")}}
    problems = evidence_problems(evidence, eda if isinstance(eda, dict) else {"dataset": eda, "columns": eda})
    assert problems  # nothing in a malformed EDA can make this evidence check out


@FAST
@given(st.lists(TEXT, min_size=1, max_size=5), SCALARS)
def test_json_pointer_escaping_round_trips(tokens, value):
    doc: object = value
    for token in reversed(tokens):
        doc = {token: doc}
    pointer = "".join("/" + _escape(t) for t in tokens)
    assert resolve_pointer(doc, pointer) == value
    assert [_unescape(p) for p in pointer.split("/")[1:]] == tokens


@FAST
@given(TEXT.filter(lambda name: not name.startswith("/")), st.floats(-1e12, 1e12))
def test_bare_kpi_names_mean_kpis(name, value):
    eda = {"kpis": {name: value}}
    assert resolve_pointer(eda, aggregate_pointer(name)) == value
    assert resolve_pointer(eda, aggregate_pointer(name + "x")) is _MISSING


@FAST
@given(st.floats(1e-6, 1e12), st.sampled_from([1, -1]), st.floats(0, 0.0098), st.sampled_from([1, -1]))
def test_tolerance_is_symmetric_around_the_true_value(magnitude, sign, rel, direction):
    actual = sign * magnitude
    assert numbers_match(actual * (1 + direction * rel), actual)
    assert not numbers_match(actual * (1 + direction * (0.0102 + rel)), actual)
    assert numbers_match(direction * rel * 1e-9, 0.0) and not numbers_match(direction * 1.1e-9, 0.0)


PII = st.sampled_from(["jane.doe@example.com", "4111 1111 1111 1111", "192.168.10.23", "john@corp.io"])
PROSE = st.sampled_from(["Revenue is high", "Contact", "Order 3 for", "Total 9,800 by", "EMEA"])


@st.composite
def outputs_with_pii(draw):
    base = sales_output()
    for insight in base["insights"]:
        if draw(st.booleans()):
            insight["text"] = f"{draw(PROSE)} {draw(PII)} {insight['text']}"
        if draw(st.booleans()):
            insight["recommendation"]["action"] = f"Email {draw(PII)} about it."
        aggregates = insight["evidence"].get("aggregates") or {}
        for key in list(aggregates):
            aggregates[key] = draw(st.floats(-1e9, 1e9))
    if draw(st.booleans()):
        base["summary"] = f"{draw(PROSE)} {draw(PII)}"
    return base


def _numbers(obj, path=()):
    if isinstance(obj, bool) or obj is None:
        return [(path, obj)]
    if isinstance(obj, (int, float)):
        return [(path, obj)]
    if isinstance(obj, dict):
        return [n for k, v in obj.items() for n in _numbers(v, path + (k,))]
    if isinstance(obj, list):
        return [n for i, v in enumerate(obj) for n in _numbers(v, path + (i,))]
    return []


def _shape(obj):
    if isinstance(obj, dict):
        return {k: _shape(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_shape(v) for v in obj]
    return type(obj).__name__


@SLOW
@given(outputs_with_pii())
def test_masking_keeps_numbers_and_structure_and_is_idempotent(output):
    eda = sales_eda()
    masker = Masker.for_content([eda], [output])
    masked = masker.output(output)
    assert _shape(masked) == _shape(output)
    assert _numbers(masked) == _numbers(output)  # evidence aggregates and row indices included
    assert not any(p in json.dumps(masked) for p in ("jane.doe@example.com", "john@corp.io", "4111 1111"))
    assert Masker.for_content([eda], [masked]).output(masked) == masked

    generic = mask_json(output)
    assert _shape(generic) == _shape(output) and _numbers(generic) == _numbers(output)
    assert mask_json(generic) == generic


ACTIONS = st.sampled_from(["approve", "reject", "skip", "edit"])


@st.composite
def reviews(draw):
    items = []
    for insight in sales_output()["insights"]:
        action = draw(ACTIONS)
        item = {"insight_id": insight["id"], "action": action}
        if action != "skip":
            item["human_score"] = draw(st.integers(1, 5))
        if action == "edit":
            item["edited_text"] = draw(TEXT.filter(lambda t: t.strip())) + " edited."
        if draw(st.booleans()):
            item["notes"] = draw(TEXT)
        items.append(item)
    return {"feedback_items": items, "overall_score": draw(st.integers(1, 5)),
            "reviewer_id": draw(st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,20}", fullmatch=True))}


@SLOW
@given(reviews())
def test_feedback_file_round_trips_through_the_inbox_reader(tmp_path: Path, review):
    kwargs = feedback_kwargs(**review)
    path = FeedbackCollector(inbox=tmp_path / "inbox").collect_feedback(**kwargs)
    read = read_feedback_file(path)
    built = build_feedback(**kwargs, feedback_id=read.feedback_id)
    assert isinstance(read, FeedbackFile) and read == built
    assert [i.model_dump(exclude_none=True) for i in read.items] == review["feedback_items"]
    assert (read.overall_score, read.reviewer_id) == (review["overall_score"], review["reviewer_id"])


@SLOW
@given(st.lists(st.fixed_dictionaries({"prompt": TEXT, "completion": TEXT,
                                       "metadata": st.dictionaries(TEXT, SCALARS, max_size=3)}), min_size=1, max_size=6))
def test_export_lines_parse_back_line_for_line(tmp_path: Path, rows):
    path = atomic_write_jsonl(tmp_path / "finetune.jsonl", rows)
    assert [json.loads(raw) for _, raw in read_lines(path)] == rows


@SLOW
@given(st.dictionaries(TEXT, JSON, max_size=6))
def test_report_json_round_trips(tmp_path: Path, report):
    path = atomic_write_json(tmp_path / "report.json", report)
    assert json.loads(path.read_text(encoding="utf-8")) == report
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
