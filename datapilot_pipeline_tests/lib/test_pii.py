"""PII scanning and masking: recall on valid-format values, numbers untouched, idempotent, offline."""

from __future__ import annotations

import random
import socket

import pytest

from datapilot_pipeline.lib import pii
from datapilot_pipeline.lib.validation.planted import PLANTED_TYPES, luhn_complete, planted_value

N_PER_TYPE = 60
SENTENCES = ("Contact the owner at {v} before the audit.", "{v}", "Row 17 belongs to {v}; revenue was 1683.75.",
             "Flagged value {v} appears in 4 rows")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _planted(entity_type: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [planted_value(entity_type, rng) for _ in range(N_PER_TYPE)]


@pytest.mark.parametrize("entity_type", PLANTED_TYPES)
def test_recall_in_sentences(entity_type: str) -> None:
    values = _planted(entity_type, seed=PLANTED_TYPES.index(entity_type))
    texts = [SENTENCES[i % len(SENTENCES)].format(v=v) for i, v in enumerate(values)]
    results = pii.scan_texts(texts)
    hits = 0
    for text, value, findings in zip(texts, values, results):
        start = text.index(value)
        hits += any(f.entity_type == entity_type and f.start <= start and f.end >= start + len(value) for f in findings)
    assert hits / len(values) >= 0.9, f"{entity_type} recall {hits}/{len(values)}"


@pytest.mark.parametrize("entity_type", PLANTED_TYPES)
def test_recall_in_json_and_masked(entity_type: str) -> None:
    values = _planted(entity_type, seed=7)
    doc = {"sample_rows": [{"row_index": i, "values": {"contact": v, "amount": 1683.75}} for i, v in enumerate(values)]}
    masked = pii.mask_json(doc)
    placeholder = f"<{entity_type}>"
    got = [row["values"]["contact"] for row in masked["sample_rows"]]
    assert sum(g == placeholder for g in got) / len(values) >= 0.9
    assert all(row["values"]["amount"] == 1683.75 for row in masked["sample_rows"])
    assert [row["row_index"] for row in masked["sample_rows"]] == list(range(len(values)))


def test_example_phone_formats_and_mask_text() -> None:
    text = "Call (415) 555-0132, +1 415-555-0132 or 415.555.0132; mail jane.doe@example.com; ssn 536-22-8714"
    assert pii.mask_text(text) == ("Call <PHONE_NUMBER>, <PHONE_NUMBER> or <PHONE_NUMBER>; mail <EMAIL_ADDRESS>; "
                                   "ssn <US_SSN>")


@pytest.mark.parametrize("text", ["1683.75", "1,824,480.0", "4155550132", "536228714", "17", "-0.5", "1.5e10",
                                  "Revenue averaged 1683.75 across 1200 rows (max 9800.0, rows 17, 250, 811).",
                                  "2024-03-01", "2026-11-24T10:00:00Z", "12:30:45", "/columns/revenue/stats/max",
                                  "i1", "ORD-1234567"])
def test_plain_numbers_and_ordinary_strings_are_not_findings(text: str) -> None:
    assert pii.scan_texts([text]) == [[]]
    assert pii.mask_text(text) == text


def test_mask_json_never_touches_keys_numbers_bools_or_shape() -> None:
    doc = {"jane@example.com": "reach jane@example.com", "n": 4155550132, "f": 1683.75, "b": True, "z": None,
           "list": ["1683.75", ("536-22-8714", 3)], "nested": {"ip": "10.1.2.3"}}
    masked = pii.mask_json(doc)
    assert masked == {"jane@example.com": "reach <EMAIL_ADDRESS>", "n": 4155550132, "f": 1683.75, "b": True,
                      "z": None, "list": ["1683.75", ("<US_SSN>", 3)], "nested": {"ip": "<IP_ADDRESS>"}}
    assert doc["nested"]["ip"] == "10.1.2.3", "input must not be mutated"


def test_masking_is_idempotent_and_placeholders_are_not_findings() -> None:
    rng = random.Random(3)
    text = " | ".join(planted_value(t, rng) for t in PLANTED_TYPES)
    once = pii.mask_text(text)
    assert once == " | ".join(f"<{t}>" for t in PLANTED_TYPES)
    assert pii.mask_text(once) == once
    assert pii.scan_texts([once]) == [[]]


def test_luhn_invalid_card_is_not_a_finding_and_valid_one_is() -> None:
    valid = luhn_complete("411111111111111")
    invalid = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    found = pii.scan_texts([f"card {valid}", f"card {invalid}"])
    assert [f.entity_type for f in found[0]] == ["CREDIT_CARD"]
    assert found[1] == []


def test_batched_scan_matches_one_by_one() -> None:
    rng = random.Random(11)
    texts = [f"{SENTENCES[i % 4].format(v=planted_value(PLANTED_TYPES[i % 5], rng))} id {i}" for i in range(80)]
    texts += ["415", "555-0132 was the extension", "jane@", "example.com"]  # neighbours must not merge
    batched = pii.scan_texts(texts)
    single = [pii.scan_texts([t])[0] for t in texts]
    assert batched == single
    assert batched[-4:] == [[], [], [], []]


def test_scan_keeps_order_and_repeats() -> None:
    texts = ["x@example.com", "nothing here", "x@example.com", ""]
    found = pii.scan_texts(texts)
    assert [len(f) for f in found] == [1, 0, 1, 0]
    assert found[0][0] == pii.PiiFinding("EMAIL_ADDRESS", 0, 13, found[0][0].score)


def test_prefilter_is_a_superset_on_planted_values() -> None:
    rng = random.Random(5)
    for entity_type in PLANTED_TYPES:
        for _ in range(50):
            assert pii.could_contain_pii(planted_value(entity_type, rng))
    assert not pii.could_contain_pii("Revenue averaged 1683.75 across 1200 rows")
