"""Training settings with the playbook's defaults, in one block.

Learning rate: the playbook's 5e-6..1e-5 is for full fine-tuning, where every weight moves and a large
step wrecks the pretrained model. LoRA trains small freshly initialised low-rank matrices (B starts at
zero) on top of frozen weights, so it needs a step about 10-50x larger to move at all in a few hundred
steps; 2e-4 is the value the LoRA and QLoRA papers and PEFT's examples use.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

MAX_STEPS_ENV = "DATAPILOT_MAX_TRAIN_STEPS"
CHECKPOINTING_MIN_PARAMS = 100_000_000  # gradient_checkpointing=None turns it on from this model size  # CI only: caps optimizer steps of every run that sets none


class TrainingConfig(BaseModel):
    """How one LoRA fine-tune runs. Every field is logged as an MLflow param."""

    model_config = ConfigDict(extra="forbid")

    epochs: float = Field(default=3.0, gt=0, description="Passes over the training split.")
    batch_size: int = Field(default=1, ge=1, description="Examples per device per forward pass; with the default "
                            "accumulation an update sees 4 (playbook: 4-8) while memory holds one 2048-token row.")
    gradient_accumulation_steps: int = Field(default=4, ge=1, description="Forward passes accumulated per optimizer "
                                             "update.")
    learning_rate: float = Field(default=2e-4, gt=0, description="Peak LoRA learning rate (see module docstring).")
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1, description="Share of steps with linear warmup.")
    weight_decay: float = Field(default=0.0, ge=0)
    validation_fraction: float = Field(
        default=0.1, ge=0, lt=0.5,
        description="Held-out share when the dataset has no metadata.split (playbook: 10-15%).")
    max_seq_length: int | None = Field(
        default=None, ge=16, description="Tokens per example; longer ones are dropped. Default: the dataset's prompt "
        "recipe (the budget export fitted the prompts to), else 2048.")
    lora_r: int = Field(default=16, ge=1, description="LoRA rank (playbook: 8-16).")
    lora_alpha: int = Field(default=32, ge=1, description="LoRA scaling numerator; the update is scaled by alpha/r.")
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] = Field(
        default=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Modules that get adapters: every Llama-style linear layer, as QLoRA recommends (GPT-2: c_attn).")
    seed: int = Field(default=42, description="Seeds the split, adapter init and data order.")
    early_stopping_patience: int = Field(default=2, ge=1, description="Evaluations without eval_loss improvement.")
    evals_per_epoch: int = Field(default=2, ge=1, description="Validation passes per epoch (early stopping unit).")
    logging_steps: int = Field(default=5, ge=1, description="Optimizer steps between metric reports.")
    save_total_limit: int = Field(default=2, ge=1, description="Checkpoints kept for resume.")
    max_steps: int | None = Field(default=None, ge=1, description="Stop after this many steps (demo/tests).")
    gradient_checkpointing: bool | None = Field(
        default=None, description="Trade compute for memory. None: on for base models of 100M parameters or more "
        "(SmolLM2-135M at 1,700 tokens: 6.6 -> 3.9 GB peak, ~20% slower), off for smaller ones, which only slow down.")
    packing: bool | None = Field(
        default=None, description="Pack examples into full rows; None: on CUDA with flash-attn only (safe there).")
    bf16: bool | None = Field(default=None, description="bf16 mixed precision; None: on when the GPU supports it.")
    generation_eval_examples: int = Field(
        default=0, ge=0, description="Validation prompts answered (constrained) at each evaluation for schema pass, "
                                     "evidence accuracy and text grounding; 0 (default): eval loss only. The "
                                     "evaluation stage scores the model on the holdout; this is for early stopping "
                                     "on a generation metric.")
    generation_eval_max_new_tokens: int = Field(default=512, ge=300, description="Token budget of those answers.")
    # a plain str with a pattern: Dagster run config (built from these fields) has no Literal type
    early_stopping_metric: str = Field(
        default="eval_loss", pattern=r"^eval_(loss|schema_pass_rate|evidence_accuracy|text_grounding)$", description="What early stopping and the best checkpoint follow (generation metrics "
                                         "need generation_eval_examples > 0).")
    quantize_4bit: bool = Field(default=False, description="QLoRA: load the base in 4-bit NF4 (GPU + bitsandbytes).")


    def with_environment_cap(self) -> "TrainingConfig":
        """This config with `max_steps` from `$DATAPILOT_MAX_TRAIN_STEPS` when that is set and max_steps is not
        (test suites cap the scheduled retrain that way; run config never has to)."""
        raw = os.environ.get(MAX_STEPS_ENV)
        if not raw or self.max_steps is not None:
            return self
        try:
            steps = int(raw)
        except ValueError:
            raise ValueError(f"{MAX_STEPS_ENV}={raw!r} is not a whole number of steps") from None
        if steps < 1:
            raise ValueError(f"{MAX_STEPS_ENV} must be >= 1, got {steps}")
        return self.model_copy(update={"max_steps": steps})
