"""The export stage: reviewed feedback -> fine-tuning datasets (see `pipeline.export_dataset`)."""

from datapilot_pipeline.lib.export.eligibility import (
    ReviewedExample, ReviewOutcome, consensus, eligible_insights, is_eligible, review_feedback,
)
from datapilot_pipeline.lib.export.formats import FORMATS, openai_chat_problems
from datapilot_pipeline.lib.export.pipeline import (
    ExportOptions, ExportResult, NoEligibleExamples, NothingToExport, default_output, export_dataset, export_reviews,
    holdout_path_for, write_export,
)
from datapilot_pipeline.lib.export.shots import load_seeds, select_shots
from datapilot_pipeline.lib.export.splits import SplitFractions, assign_splits

__all__ = ["ReviewedExample", "ReviewOutcome", "consensus", "eligible_insights", "is_eligible", "review_feedback",
           "FORMATS", "openai_chat_problems", "ExportOptions", "ExportResult", "NoEligibleExamples", "NothingToExport",
           "default_output", "export_dataset", "export_reviews", "holdout_path_for", "write_export", "load_seeds", "select_shots", "SplitFractions",
           "assign_splits"]
