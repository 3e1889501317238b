"""PII masking: cost per exported record, and person-name recall and precision on text nobody here wrote.

    python bench/bench_pii.py [--jobs 1000] [--repeat 3] [--quality] [--docstrings 20000]

Cost: `Masker.for_content` over the reviewed synthetic jobs; the analyzer is built before timing; the best of
`--repeat` runs is reported, as wall time and as this process's CPU time (the figure to compare on a shared
machine). `--quality` adds, through the same export masking:
- recall on full names drawn uniformly from the US registries' 1,000 most common first names (SSA) and 5,000
  most common surnames (1990 census), in reviewer sentences without cue words; the same for the names with a
  part held out of the shipped lists; Faker names of the 11 locales, without and with cue words;
- precision: scikit-learn and statsmodels model names in analytics sentences, and docstring sentences of the
  files the lexicon was not built from (`scripts/build_pii_names.held_out_sentences`): share of sentences
  altered, and placeholders glued to a digit (a unit or code beside a number cut).

Runs on whichever `datapilot_pipeline` is first on the path, so the same script measures the code before and
after a change. The corpus helpers come from `datapilot_pipeline_tests/lib/pii_corpus.py`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

_GLUED = re.compile(r"[\d.]<[A-Z_]+>|<[A-Z_]+>\d")


def mask_cost(n_jobs: int, repeat: int) -> dict:
    from datapilot_pipeline.lib.contracts import FeedbackFile
    from datapilot_pipeline.lib.export import review_feedback
    from datapilot_pipeline.lib.export.masking import Masker
    from datapilot_pipeline.lib.pii import get_analyzer
    from datapilot_pipeline.lib.synthetic import generate_feedback

    feedbacks = [FeedbackFile.model_validate(d) for d in generate_feedback(n_jobs, seed=0)]
    examples = review_feedback(feedbacks).examples
    edas = [e.compact_eda for e in examples]
    outputs = [o for e in examples for o in (e.approved_output, e.original_output)]
    get_analyzer()
    Masker.for_content(edas[:5], outputs[:5])  # loads the word data, as any first use does
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        Masker.for_content(edas, outputs)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
    return {"jobs": n_jobs, "records": len(examples), "seconds": round(best, 3),
            "ms_per_record": round(best / len(examples) * 1e3, 4),
            "cpu_ms_per_record": round(best_cpu / len(examples) * 1e3, 4)}


def export_mask(texts: list[str]) -> list[str]:
    """Each text masked as export masks an edited insight text (`Masker.for_content`)."""
    from datapilot_pipeline.lib.export.masking import Masker

    outputs = [{"insights": [{"id": "i1", "category": "trend", "severity": "low", "text": t,
                              "recommendation": {"action": "Review.", "priority": "low"}}]} for t in texts]
    masker = Masker.for_content([], outputs)
    return [masker.text(t) for t in texts]


def _recall(names: list[str], templates) -> float:
    from datapilot_pipeline_tests.lib.pii_corpus import caught

    texts = [templates[i % len(templates)].format(v=v) for i, v in enumerate(names)]
    return round(sum(caught(v, m) for v, m in zip(names, export_mask(texts))) / len(names), 4)


def _altered(texts: list[str]) -> dict:
    masked = export_mask(texts)
    altered = [(t, m) for t, m in zip(texts, masked) if t != m]
    named = [m for _, m in altered if "<PERSON>" in m]
    return {"n": len(texts), "altered": round(len(altered) / len(texts), 4),
            "altered_by_a_name": round(len(named) / len(texts), 4),
            "glued_to_digit": sum(bool(_GLUED.search(m)) for _, m in altered),
            "name_glued_to_digit": sum(bool(re.search(r"[\d.]<PERSON>|<PERSON>\d", m)) for m in named),
            "examples": named[:12]}


def quality(n_names: int, n_docstrings: int) -> dict:
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # the tests' corpus helpers and the build script
    from datapilot_pipeline_tests.lib.pii_corpus import (
        ANALYTICS_TEMPLATES, LOCALES, NO_CUE_TEMPLATES, TEMPLATES, held_out_lists, registry_names, technical_phrases,
    )
    from scripts.build_pii_names import held_out_sentences, is_held_out

    from faker import Faker

    names = registry_names(n_names, seed=1)
    held = [v for v in registry_names(20 * n_names, seed=2) if any(is_held_out(p) for p in v.split())][:n_names]
    both = [v for v in registry_names(100 * n_names, seed=3) if all(is_held_out(p) for p in v.split())][:n_names // 4]
    recall = {"registry_no_cue": _recall(names, NO_CUE_TEMPLATES)}
    with held_out_lists():
        recall["registry_part_held_out_no_cue"] = _recall(held, NO_CUE_TEMPLATES)
        recall["registry_both_held_out_no_cue"] = _recall(both, NO_CUE_TEMPLATES)
    for loc in LOCALES:
        faker = Faker(loc)
        faker.seed_instance(1)
        people = [faker.name() for _ in range(200)]
        recall[f"faker_{loc}"] = {"no_cue": _recall(people, NO_CUE_TEMPLATES),
                                  "cue": _recall(people, TEMPLATES["PERSON"])}
    phrases = technical_phrases()
    analytic = [t.format(p=p) for p in phrases for t in ANALYTICS_TEMPLATES]
    docs = held_out_sentences(limit=n_docstrings)
    titled = [s for s in docs if re.search(r"\s[A-Z][a-z]+\s+[A-Z][a-z]+", s)]
    precision = {"technical_phrases": _altered(analytic), "docstrings": _altered(docs),
                 "docstrings_with_title_case_pair": _altered(titled)}
    return {"recall": recall, "precision": precision, "n_phrases": len(phrases)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quality", action="store_true", help="also measure name recall and precision")
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--docstrings", type=int, default=20000)
    parser.add_argument("--no-cost", action="store_true")
    args = parser.parse_args(argv)
    out = {} if args.no_cost else mask_cost(args.jobs, args.repeat)
    if args.quality:
        out["quality"] = quality(args.names, args.docstrings)
    print(json.dumps(out, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
