"""The demo's job, in the code location so that `make ui` can open the demo's run and launch it again."""

import dagster as dg

# Small enough to finish on 2 CPU cores in a few minutes; every other setting is the production default: the whole
# holdout is evaluated (the 450 jobs of `datapilot demo` hold about 40 examples, over the promotion rule's minimum
# of 30).
DEMO_TRAIN_STEPS = 60
DEMO_RUN_CONFIG: dict = {
    "loggers": {"console": {"config": {"log_level": "INFO"}}},  # stage logs and training steps, not engine events
    "ops": {
        "fine_tuned_model": {"config": {"max_steps": DEMO_TRAIN_STEPS}},
        "evaluation_scores": {"config": {"n_bootstrap": 200}},
    },
}

# Partitioned stages run per partition, not in one run with the rest; test_definitions pins that this leaves
# every unpartitioned asset.
PARTITIONED_ROOTS = ("validation_shards",)

demo_job = dg.define_asset_job(
    "demo_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*PARTITIONED_ROOTS).downstream(),
    config=DEMO_RUN_CONFIG,
    description="`datapilot demo`: every asset and check except the partitioned validation shards, in one run, "
                f"sized for a laptop ({DEMO_TRAIN_STEPS} training steps). Launch it again from "
                "here with the same settings, or edit them in the launchpad.",
)
