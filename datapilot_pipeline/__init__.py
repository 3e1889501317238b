"""datapilot_pipeline: analysts' reviews of LLM data insights -> fine-tuned, evaluated, promoted models."""

__all__ = ["FeedbackCollector"]


def __getattr__(name: str):
    # Lazy so that `import datapilot_pipeline` (and Dagster definitions loading) stays light.
    if name == "FeedbackCollector":
        from datapilot_pipeline.lib.feedback.collector import FeedbackCollector

        return FeedbackCollector
    raise AttributeError(f"module 'datapilot_pipeline' has no attribute {name!r}")
