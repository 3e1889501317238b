"""The evaluation comparison as the Dagster UI shows it: narrow enough for the metadata panel, nothing left out."""

from __future__ import annotations

import re
from pathlib import Path

from datapilot_pipeline.defs.evaluation import RATES, comparison_markdown
from datapilot_pipeline.lib.evaluation.runner import comparison_table


def _arm(model: str, accuracy: float | None) -> dict:
    metrics = {key: 0.5 for key in RATES}
    metrics.update(n=30, model=model, evidence_accuracy=accuracy,
                   ci={key: [0.333, 0.667] for key in RATES if key != "bleu"})
    return metrics


JOIN = "\u2060"  # word joiner
# Where a browser may break a line inside a cell: after a hyphen or slash not followed by a word joiner.
TOKEN_BREAK = re.compile(f"[-/](?!{JOIN})")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_ui_table_is_narrow_and_keeps_every_arm_metric_and_model(tmp_path: Path) -> None:
    root = tmp_path / "a" / "rather" / "long" / "working" / "root"
    report = {"few_shot": _arm(str(root / "models" / "demo_base"), 0.25),
              "fine_tuned": _arm("models:/datapilot-insights/12", 0.4),
              "champion": _arm("models:/datapilot-insights/7", None)}
    md = comparison_markdown(report, root)
    table, models = md.split("\n\nModels:\n\n")
    assert JOIN not in models  # model names are copied from here: plain text
    lines = table.replace(JOIN, "").splitlines()
    assert lines[0] == "| % | few-shot | fine-tuned | champion |"
    assert len(lines) == 3 + 2 * len(RATES) - 1  # header, rule, examples, each metric and its CI (BLEU has none)
    assert max(map(len, lines)) <= 50 < max(map(len, comparison_table(report).splitlines()))
    for line in table.splitlines()[2:] + table.splitlines()[:1]:  # a value never splits ("86-" over "100")
        values = _cells(line)[1:]
        assert not [v for v in values if TOKEN_BREAK.search(v) or " " in v], line
    at = lines.index("| evidence accuracy | 25.0 | 40.0 | n/a |")
    assert lines[at + 1] == "| 95% CI | 33-67 | 33-67 | 33-67 |"
    at = lines.index("| BLEU | 50.0 | 50.0 | 50.0 |")
    assert not lines[at + 1].startswith("| 95% CI")  # no CI recorded: no CI row
    assert models.splitlines() == ["- few-shot: `models/demo_base`", "- fine-tuned: `models:/datapilot-insights/12`",
                                   "- champion: `models:/datapilot-insights/7`"]
    elsewhere = comparison_markdown({"few_shot": _arm("/opt/base", 0.1)}, root)
    assert elsewhere.endswith("- few-shot: `/opt/base`")  # outside the root: the full path
