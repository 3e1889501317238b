"""Turning command-line or asset settings into the two arms' generation back ends."""

from __future__ import annotations

import json
from pathlib import Path

from datapilot_pipeline.lib.evaluation.endpoint import EndpointClient
from datapilot_pipeline.lib.evaluation.local import DEFAULT_BATCH_SIZE, DEFAULT_MAX_NEW_TOKENS, LocalGenerator
from datapilot_pipeline.lib.paths import Workspace


def base_model_arm(ref: str | None, workspace: Workspace, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                   batch_size: int = DEFAULT_BATCH_SIZE) -> LocalGenerator:
    """The base model (a local directory, a cached hub id, or the workspace's demo base model when None)."""
    from datapilot_pipeline.lib.generation.modeling import resolve_base_model

    base = resolve_base_model(ref, workspace)
    return LocalGenerator(base_model=base, max_new_tokens=max_new_tokens, batch_size=batch_size)


def fine_tuned_arm(ref: str, workspace: Workspace, base_model: str | None = None,
                   max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, batch_size: int = DEFAULT_BATCH_SIZE,
                   tracking_uri: str | None = None) -> LocalGenerator:
    """A fine-tuned model from a `models:/` URI (the registry), a LoRA adapter directory (on `base_model`,
    else the base it names in adapter_config.json), or a full model directory."""
    from datapilot_pipeline.lib.generation.modeling import resolve_base_model

    if ref.startswith("models:/"):
        from datapilot_pipeline.lib.tracking import default_tracking_uri, resolve_model_uri

        model = resolve_model_uri(ref, tracking_uri or default_tracking_uri(workspace))
        return LocalGenerator(base_model=model.base_model, adapter_dir=model.adapter_dir, name=ref,
                              max_new_tokens=max_new_tokens, batch_size=batch_size)
    path = Path(ref).expanduser()
    if (path / "adapter_model.safetensors").is_file():
        if base_model is None:
            config = path / "adapter_config.json"
            named = json.loads(config.read_text()).get("base_model_name_or_path") if config.is_file() else None
            if not named:
                raise ValueError(f"{path} is a LoRA adapter that names no base model; pass --base-model")
            base_model = named
        base = resolve_base_model(base_model, workspace)
        return LocalGenerator(base_model=base, adapter_dir=path.resolve(), max_new_tokens=max_new_tokens,
                              batch_size=batch_size)
    if not path.exists():
        raise ValueError(f"fine-tuned model {ref!r} not found: pass a model or adapter directory or a models:/ URI")
    return LocalGenerator(base_model=resolve_base_model(path, workspace), max_new_tokens=max_new_tokens,
                          batch_size=batch_size)


def endpoint_arm(url: str, model: str, api_key_env: str, max_concurrency: int, max_tokens: int,
                 timeout_s: float = 60.0, max_retries: int = 4, structured_outputs: bool = False) -> EndpointClient:
    """An OpenAI-compatible endpoint; with `structured_outputs` (only for endpoints that support it) every request
    carries the llm_output JSON Schema, bounded to `max_tokens`, as `response_format`."""
    fmt = None
    if structured_outputs:
        from datapilot_pipeline.lib.generation.decoding import fit_bounds, output_schema, response_format

        fmt = response_format(output_schema(fit_bounds(max_tokens)))
    return EndpointClient(url=url, model=model, api_key_env=api_key_env, max_concurrency=max_concurrency,
                          max_tokens=max_tokens, timeout_s=timeout_s, max_retries=max_retries, response_format=fmt)
