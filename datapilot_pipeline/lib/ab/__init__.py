"""A/B testing of the few-shot (control) and fine-tuned (treatment) variants in production: sticky assignment
and routing, job-level outcomes, experiments keyed by the model versions served (plan and decision stored once
each), the design (jobs per variant), the fixed-horizon verdict with guardrails, and the simulations that
calibrate it."""

from datapilot_pipeline.lib.ab.assignment import CONTROL, DEFAULT_SALT, TREATMENT, assign_variant

__all__ = ["CONTROL", "TREATMENT", "DEFAULT_SALT", "assign_variant"]
