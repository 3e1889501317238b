"""Known answers for text grounding and for content BLEU/ROUGE (different tables must score near 0)."""

from __future__ import annotations

import json
import random
import re

import pytest

from datapilot_pipeline.lib.evaluation.metrics import score_example, summarize
from datapilot_pipeline.lib import grounding
from datapilot_pipeline.lib.grounding import ground_text, stated_numbers
from datapilot_pipeline.lib.paths import packaged_data

EDA = {"dataset": {"name": "t.csv", "n_rows": 107, "n_cols": 2},
       "columns": {"revenue": {"dtype": "float", "missing": 8, "stats": {"median": 91.78, "max": 1221.37}},
                   "sold_at": {"dtype": "datetime", "range": {"min": "2026-07-01T00:00:00"}}},
       "kpis": {"total_revenue": 12335.1, "revenue_growth_pct": -1.53}}


@pytest.mark.parametrize("text, n, grounded", [
    ("Total revenue is $12,335.10.", 1, 1),                       # thousands separator, currency
    ("Total revenue is 12,335.", 1, 1),                           # rounding within 1%
    ("Total revenue is 13,500.", 1, 0),                           # 9% off: invented
    ("8 rows (7.5%) have no revenue.", 2, 2),                     # count + share 8/107
    ("Revenue ran 1.53% below the first half.", 1, 1),            # magnitude of a negative change
    ("The max is 13x the median of $91.78.", 2, 2),               # ratio 1221.37/91.78 = 13.3
    ("Rows 7, 44 and 79 are extreme.", 3, 3),                     # row numbers in [0, n_rows)
    ("Row 250 is extreme.", 1, 0),                                # beyond n_rows
    ("Sales start on 2026-07-01.", 1, 1),                         # a date the EDA holds
    ("Sales start on 2025-01-01.", 1, 0),
    ("Revenue is skewed.", 0, 0),
])
def test_ground_text_known_answers(text, n, grounded):
    result = ground_text(text, EDA)
    assert (result.n_numbers, result.n_grounded) == (n, grounded), result.ungrounded


def test_stated_numbers_reads_separators_percent_and_sign():
    found = stated_numbers("-4.5% on 1,234 rows, 3x faster")
    assert [(s.value, s.unit) for s in found] == [(-4.5, "%"), (1234.0, ""), (3.0, "x")]


def test_row_numbers_are_found_as_by_the_plainly_written_pattern():
    """`_ROWS` starts at an "r" and looks behind it for the word start; `\\brows?` ahead of it matches the same."""
    plain = re.compile(r"\brows?\s+((?:#?\d+(?:\s*(?:,|and|&|to|-)\s*)?)+)", re.IGNORECASE)
    rng = random.Random(4)
    words = ["row", "rows", "ROWS", "Row", "arrow", "arrows", "xrow", "_row", "row5", "#", "12", "7", "and", "&",
             "to", "-", ",", "r", "ows", "İ", "é"]
    texts = ["".join(rng.choice(words) + rng.choice([" ", "", "  ", "\t", ".", "\n"]) for _ in range(rng.randint(1, 8)))
             for _ in range(30_000)]
    found = [([(m.span(), m.group(1)) for m in plain.finditer(t)], [(m.span(), m.group(1)) for m in
              grounding._ROWS.finditer(t)]) for t in texts]
    assert [t for t, (a, b) in zip(texts, found) if a != b] == []
    assert sum(bool(a) for a, _ in found) > 1_000


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in packaged_data(name).read_text().splitlines() if line.strip()]


def test_reviewed_answers_are_fully_grounded_and_different_tables_are_not():
    rows = _rows("holdout_test.jsonl")
    own = [score_example(r["example_id"], json.dumps(r["output"]), r["compact_eda"], r["output"]) for r in rows]
    m = summarize(own, n_resamples=200)
    assert m["text_grounding"] == 1.0 and m["n_numbers"] > 150
    shifted = rows[3:] + rows[:3]  # another table's answer (the holdout cycles through table kinds)
    cross = [score_example(r["example_id"], json.dumps(o["output"]), r["compact_eda"], r["output"])
             for r, o in zip(rows, shifted)]
    c = summarize(cross, n_resamples=200)
    assert c["text_grounding"] < 0.7
    # content BLEU/ROUGE of another table's answer; compact JSON scored such pairs BLEU 0.55 / ROUGE-L 0.35.
    # Not 0: the synthetic texts of one domain share sentence frames ("voided tickets are exported ...").
    assert c["bleu"] < 0.2 and c["rouge_l"] < 0.3
    assert m["bleu"] == pytest.approx(1.0) and m["rouge_l"] == pytest.approx(1.0)


def test_validation_lists_ungrounded_numbers_per_line():
    from datapilot_pipeline.lib.prompts import build_prompt
    from datapilot_pipeline.lib.validation.content import check_record
    from datapilot_pipeline.lib.validation.records import parse_record

    row = _rows("holdout_test.jsonl")[0]
    output = json.loads(json.dumps(row["output"]))
    output["insights"][0]["text"] = "Average ticket is $96.58 at Airport but 4,812 tickets were voided."
    raw = json.dumps({"prompt": build_prompt(row["compact_eda"], []), "completion": json.dumps(output),
                      "metadata": {"job_id": "j1"}})
    result = check_record(parse_record(7, raw))
    assert result.schema_ok and result.n_numbers > 2
    assert result.ungrounded == ["i1: 4,812"] and result.n_grounded == result.n_numbers - 1
