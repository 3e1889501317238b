"""LoRA SFT with TRL: loss on the completion only, early stopping on validation loss, resumable checkpoints.

`train_lora` is the one training loop; the CLI and the Dagster Pipes entry point both reach it through
`lib.training.run.run_training`, which adds MLflow tracking and registration.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datapilot_pipeline.lib.training import ranks
from datapilot_pipeline.lib.training.config import CHECKPOINTING_MIN_PARAMS, TrainingConfig
from datapilot_pipeline.lib.training.data import PreparedData

MetricsSink = Callable[[int, dict[str, float]], None]
ProgressHook = Callable[[int, int], None]  # (global step, max steps): at train begin (the plan), then every step
REPORTED = ("loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second", "epoch")


@dataclass
class TrainOutcome:
    adapter_dir: Path
    checkpoint_dir: Path
    global_step: int
    max_steps: int
    first_loss: float | None
    final_loss: float | None
    eval_loss: float | None
    tokens_per_second: float
    train_seconds: float
    trainable_params: int
    params_changed: bool
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)


def _final_eval_loss(trainer: Any, history: list[dict[str, float]]) -> float:
    """The validation loss of the adapter training ends with (the best checkpoint's, which is loaded at the end):
    the one logged at that step when there is one, else a fresh evaluation."""
    state = trainer.state
    step = state.best_global_step if trainer.args.load_best_model_at_end and state.best_global_step else state.global_step
    logged = [h["eval_loss"] for h in history if "eval_loss" in h and int(h["step"]) == step]
    return logged[-1] if logged else trainer.evaluate()["eval_loss"]


def _metrics_callback(sink: MetricsSink | None, history: list[dict[str, float]], progress: ProgressHook | None):
    from transformers import TrainerCallback

    class MetricsCallback(TrainerCallback):
        """Forwards every log (train and eval) to `sink`, adding non-padding tokens/s since the last log."""

        def __init__(self) -> None:
            self._last = (time.perf_counter(), None)

        def on_train_begin(self, args, state, control, **kwargs):
            if progress is not None:  # the plan: the step training starts from (a resumed one's) and max_steps
                progress(state.global_step, state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            if progress is not None:
                progress(state.global_step, state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            now, seen = time.perf_counter(), state.num_input_tokens_seen
            metrics = {k: float(v) for k, v in (logs or {}).items() if k in REPORTED and v is not None}
            if "loss" in metrics and self._last[1] is not None and now > self._last[0]:
                metrics["tokens_per_second"] = (seen - self._last[1]) / (now - self._last[0])
            if "loss" in metrics or self._last[1] is None:
                self._last = (now, seen)
            if metrics:
                history.append({"step": float(state.global_step), **metrics})
                if sink is not None:
                    sink(state.global_step, metrics)

    return MetricsCallback()


def _use_packing(config: TrainingConfig, cuda: bool) -> bool:
    if config.packing is not None:
        return config.packing
    # TRL's packing implies padding-free rows, which are only correct with flash-attention's varlen kernels.
    import importlib.util

    return cuda and importlib.util.find_spec("flash_attn") is not None


def use_gradient_checkpointing(config: TrainingConfig, n_parameters: int) -> bool:
    """The config's choice, else on for models of `CHECKPOINTING_MIN_PARAMS` or more."""
    if config.gradient_checkpointing is not None:
        return config.gradient_checkpointing
    return n_parameters >= CHECKPOINTING_MIN_PARAMS


def _lora_state(model) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def last_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest `checkpoint-<step>` folder under `checkpoint_dir`, or None."""
    found = sorted(Path(checkpoint_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return found[-1] if found else None


def train_lora(config: TrainingConfig, data: PreparedData, base_model: Path, output_dir: Path,
               sink: MetricsSink | None = None, resume: bool = False,
               progress: ProgressHook | None = None) -> TrainOutcome:
    """Fine-tune a LoRA adapter on `data`; checkpoints go to `output_dir/checkpoints`, the adapter (safetensors)
    to `output_dir/adapter`. With `resume`, training continues from the newest checkpoint there."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from datasets.utils.logging import disable_progress_bar
    from transformers import EarlyStoppingCallback, PrinterCallback, set_seed
    from trl import SFTConfig, SFTTrainer

    from datapilot_pipeline.lib.chat_format import has_chat_template, to_conversational
    from datapilot_pipeline.lib.generation.modeling import load_causal_lm

    disable_progress_bar()  # progress belongs to the caller's sink, not per-map bars on stderr
    set_seed(config.seed)
    output_dir = Path(output_dir)
    checkpoint_dir, adapter_dir = output_dir / "checkpoints", output_dir / "adapter"
    resume_from = last_checkpoint(checkpoint_dir) if resume else None
    if resume and resume_from is None:
        raise ValueError(f"nothing to resume: no checkpoint under {checkpoint_dir}")
    if config.early_stopping_metric != "eval_loss" and not config.generation_eval_examples:
        raise ValueError(f"early_stopping_metric={config.early_stopping_metric} needs generation_eval_examples > 0")
    model, tokenizer = load_causal_lm(base_model, trainable=True, quantize_4bit=config.quantize_4bit)
    tokenizer.padding_side = "right"
    checkpointing = use_gradient_checkpointing(config, model.num_parameters())
    cuda = torch.cuda.is_available()
    has_val = bool(data.validation)
    # each data-parallel process takes its own batches: an update consumes batch * accumulation * processes rows
    updates_per_epoch = math.ceil(len(data.train) / (config.batch_size * config.gradient_accumulation_steps
                                                      * ranks.world_size()))
    eval_every = max(1, updates_per_epoch // config.evals_per_epoch)
    args = SFTConfig(
        output_dir=str(checkpoint_dir), num_train_epochs=config.epochs, max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio, weight_decay=config.weight_decay, lr_scheduler_type="linear",
        logging_steps=config.logging_steps, logging_first_step=True,
        eval_strategy="steps" if has_val else "no", eval_steps=eval_every,
        save_strategy="steps", save_steps=eval_every, save_total_limit=config.save_total_limit,
        load_best_model_at_end=has_val, metric_for_best_model=config.early_stopping_metric,
        greater_is_better=config.early_stopping_metric != "eval_loss",
        seed=config.seed, data_seed=config.seed, report_to="none", disable_tqdm=True,
        max_length=config.max_seq_length, completion_only_loss=True, packing=_use_packing(config, cuda),
        bf16=config.bf16 if config.bf16 is not None else (cuda and torch.cuda.is_bf16_supported()),
        activation_checkpointing=checkpointing, include_num_input_tokens_seen="non_padding",
        activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        dataloader_num_workers=0, dataset_num_proc=None, dataloader_pin_memory=cuda,  # pinning needs a GPU
    )
    peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                             target_modules=list(config.target_modules), task_type="CAUSAL_LM")
    history: list[dict[str, float]] = []
    callbacks = [_metrics_callback(sink, history, progress)]
    if has_val and config.generation_eval_examples:
        from datapilot_pipeline.lib.training.generation_eval import generation_callback

        callbacks.append(generation_callback(data.validation[:config.generation_eval_examples], tokenizer,
                                             config.generation_eval_max_new_tokens, sink, history))
    if has_val:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    train_rows, val_rows = data.train, data.validation
    if has_chat_template(tokenizer):  # train through the template generation uses; it ends turns itself
        train_rows, val_rows = [to_conversational(r) for r in train_rows], [to_conversational(r) for r in val_rows]
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(train_rows),
                         eval_dataset=Dataset.from_list(val_rows) if has_val else None,
                         processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # prints every log dict to stdout; the sink reports instead
    before = _lora_state(trainer.model)
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - started
    after = _lora_state(trainer.model)
    trainer.save_model(str(adapter_dir))
    eval_loss = _final_eval_loss(trainer, history) if has_val else None
    losses = [h["loss"] for h in history if "loss" in h]
    state = trainer.state
    return TrainOutcome(
        adapter_dir=adapter_dir, checkpoint_dir=checkpoint_dir, global_step=state.global_step,
        max_steps=state.max_steps, first_loss=losses[0] if losses else None,
        final_loss=losses[-1] if losses else result.training_loss, eval_loss=eval_loss,
        tokens_per_second=state.num_input_tokens_seen / seconds if seconds else 0.0,
        train_seconds=seconds, trainable_params=sum(t.numel() for t in after.values()),
        params_changed=any(not torch.equal(before[n], after[n]) for n in after),
        stopped_early=state.global_step < state.max_steps, history=history,
    )
