"""The demo's job, in the code location so that `make ui` can open the demo's run and launch it again."""

import dagster as dg

# Small enough to finish on 2 CPU cores in a few minutes; every other setting is the production default.
# Local generation on CPU is the slow part: the demo evaluates a slice of the holdout with bounded replies.
# The export's token budget decides how many worked examples each prompt holds (none at the demo base model's
# default 2048 tokens: a worked example is about 700 of its tokens, a 0-shot prompt about 1,100).
DEMO_RUN_CONFIG: dict = {
    "loggers": {"console": {"config": {"log_level": "INFO"}}},  # stage logs and training steps, not engine events
    "ops": {
        "fine_tuned_model": {"config": {"max_steps": 30}},
        "evaluation_scores": {"config": {"max_examples": 8, "max_new_tokens": 512, "n_bootstrap": 200}},
    },
}



def demo_run_config(base_model: str | None = None) -> dict:
    """The demo's run config; with a real `base_model` (e.g. `smollm2-135m-instruct`) the run is sized for it rather
    than for the shipped demo base: every stage's dataset is for that model (export's token budget, training, both
    evaluation arms on it), 20 updates of 4 rows, and the few-shot arm's one worked example against the fine-tuned
    model on the first 40 holdout examples (the promotion rule needs 30) with replies bounded at 768 tokens."""
    if base_model is None:
        return DEMO_RUN_CONFIG
    return {
        **DEMO_RUN_CONFIG,
        "ops": {
            "finetune_dataset": {"config": {"base_model": base_model}},
            "fine_tuned_model": {"config": {"max_steps": 20}},
            "evaluation_scores": {"config": {"max_examples": 40, "max_new_tokens": 768, "shot_count": 1,
                                             "n_bootstrap": 1000}},
        },
    }


# Partitioned stages run per partition, not in one run with the rest; test_definitions pins that this leaves
# every unpartitioned asset.
PARTITIONED_ROOTS = ("validation_shards", "ab_test_by_month", "feedback_quality_by_month")

demo_job = dg.define_asset_job(
    "demo_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*PARTITIONED_ROOTS).downstream(),
    config=DEMO_RUN_CONFIG,
    description="`datapilot demo`: every asset and check except the partitioned ones (validation shards, the "
                "monthly views), in one run, "
                "sized for a laptop (30 training steps, 8 holdout examples). Launch it again from "
                "here with the same settings, or edit them in the launchpad.",
)
