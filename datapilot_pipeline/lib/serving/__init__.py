"""The champion behind an OpenAI-compatible chat-completions API (LitServe's `OpenAISpec`).

`serve(model_ref, ...)` resolves the model (a `models:/` URI of the registry, an adapter or model directory)
in the calling process, so an unknown model fails before a port is bound, then runs LitServe: one worker
process that loads the base model and LoRA adapter once and answers `POST /v1/chat/completions` through the
same `LocalGenerator` the evaluation's local arm uses (see `chat.py`).
"""

from __future__ import annotations

from datapilot_pipeline.lib.paths import Workspace

DEFAULT_MODEL = "models:/datapilot-insights@champion"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
DEFAULT_MAX_NEW_TOKENS = 384  # the evaluation's default reply bound; a request's max_tokens may lower it
REQUEST_TIMEOUT_S = 600  # CPU generation of a long reply takes minutes; LitServe's default (30 s) cuts it off


def load_generator(model_ref: str, workspace: Workspace, base_model: str | None = None,
                   max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS):
    """The `LocalGenerator` for `model_ref`, resolved like `datapilot eval --finetuned-model`.

    Unconstrained by default, as an OpenAI-compatible server is: a request asks for the insights contract (or any
    JSON Schema) with `response_format` (`datapilot eval --structured-outputs` sends the contract's)."""
    from datapilot_pipeline.lib.evaluation.arms import fine_tuned_arm

    generator = fine_tuned_arm(model_ref, workspace, base_model, max_new_tokens=max_new_tokens, batch_size=1)
    generator.constrained = False
    return generator


def serve(model_ref: str = DEFAULT_MODEL, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          workspace: Workspace | None = None, base_model: str | None = None,
          max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, log_level: str = "info") -> None:
    """Serve `model_ref` until interrupted. Raises `ValueError` for a model that cannot be resolved."""
    import litserve as ls

    from datapilot_pipeline.lib.serving.litapi import ChatCompletionsAPI

    generator = load_generator(model_ref, workspace or Workspace.current(), base_model, max_new_tokens)
    api = ChatCompletionsAPI(generator=generator, model_name=model_ref, spec=ls.OpenAISpec())
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=REQUEST_TIMEOUT_S,
                          track_requests=False)
    # generate_client_file would write client.py into the current directory, outside the working root
    server.run(host=host, port=port, log_level=log_level, generate_client_file=False)


__all__ = ["DEFAULT_MODEL", "load_generator", "serve"]
