"""Evaluation of the few-shot and fine-tuned arms on the holdout: metrics, generation back ends
(an OpenAI-compatible endpoint or a local model), the runner that writes the report, and the promotion rule."""
