"""LoRA supervised fine-tuning on prompt/completion data: config, data preparation, trainer, tracked runs."""

from datapilot_pipeline.lib.training.config import TrainingConfig

__all__ = ["TrainingConfig"]
