"""A holdout of real tables nobody here wrote: the datasets bundled with statsmodels and scikit-learn (no
download), profiled by `lib.eda.compact_eda`, in the seed-example format `datapilot eval --holdout` reads.

It answers a question the synthetic holdout cannot: does a model cite the numbers of tables unlike anything in
its training data? Each example's reference output is one plain grounded insight (a column's range, citing its
min and max), there only so that the BLEU / ROUGE columns are defined; evidence accuracy and coverage are the
figures that matter here.

    python -m datapilot_pipeline.lib.evaluation.real_tables OUT.jsonl   # then: datapilot eval --holdout OUT.jsonl
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

STATSMODELS_TABLES = ("anes96", "cancer", "ccard", "committee", "copper", "cpunish", "engel", "fair", "grunfeld",
                      "heart", "longley", "macrodata", "modechoice", "randhie", "scotland", "spector", "stackloss",
                      "statecrime", "strikes", "elnino", "nile", "sunspots", "interest_inflation", "danish_data")
SKLEARN_TABLES = ("iris", "diabetes", "wine", "linnerud")
MAX_COLUMNS = 12  # wider tables (fertility, star98, breast_cancer) would not fit a small model's context


def bundled_tables() -> list[tuple[str, object]]:
    """(file name, DataFrame) of every bundled table with at most MAX_COLUMNS columns, in a fixed order."""
    import statsmodels.api as sm
    from sklearn import datasets

    tables = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in STATSMODELS_TABLES:
            tables.append((f"{name}.csv", getattr(sm.datasets, name).load_pandas().data))
        for name in SKLEARN_TABLES:
            tables.append((f"{name}.csv", getattr(datasets, f"load_{name}")(as_frame=True).frame))
    return [(name, df.reset_index(drop=True)) for name, df in tables if df.shape[1] <= MAX_COLUMNS]


def _reference(eda: dict) -> dict:
    numeric = [(c, p) for c, p in eda["columns"].items() if (p.get("stats") or {}).get("max") is not None]
    column, profile = numeric[0]
    low, high = profile["stats"]["min"], profile["stats"]["max"]
    return {"insights": [{
        "id": "i1", "category": "distribution", "severity": "low",
        "text": f"{column} ranges from {low} to {high}.",
        "evidence": {"columns": [column], "aggregates": {f"/columns/{column}/stats/min": low,
                                                         f"/columns/{column}/stats/max": high}},
        "recommendation": {"action": f"Check the extremes of {column} before modelling it.", "priority": "low"}}]}


def holdout_examples() -> list[dict]:
    """Seed-example records (`example_id`, `compact_eda`, `output`) of the bundled tables with a numeric column."""
    from datapilot_pipeline.lib.eda import compact_eda

    examples = []
    for name, df in bundled_tables():
        eda = compact_eda(df, name)
        if any((p.get("stats") or {}).get("max") is not None for p in eda["columns"].values()):
            examples.append({"example_id": f"real_{name.removesuffix('.csv')}", "compact_eda": eda,
                             "output": _reference(eda)})
    return examples


def main(argv: list[str] | None = None) -> int:
    from datapilot_pipeline.lib.atomic import atomic_write_text, dumps_compact

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m datapilot_pipeline.lib.evaluation.real_tables OUT.jsonl", file=sys.stderr)
        return 2
    examples = holdout_examples()
    atomic_write_text(Path(args[0]), "".join(dumps_compact(e) + "\n" for e in examples))
    print(f"{len(examples)} real tables -> {args[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
