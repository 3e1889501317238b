"""A registered model (or a model directory) behind an OpenAI-compatible API, on LitServe's `OpenAISpec`.

`serve(model_ref, ...)` resolves the model and checks the settings in the calling process (an unknown model or an
unsafe binding fails before a port is bound), then runs LitServe: one API process (`spec.py`: keys and body cap
in `gate.py`, request checks and tokenization in `protocol.py`, the audit log) and one worker process
(`litapi.py`) that loads the base model and LoRA adapter once and batches requests continuously (`engine.py`).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path

from datapilot_pipeline.lib.paths import Workspace

DEFAULT_MODEL = "models:/datapilot-insights@champion"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
HOSTS = ("127.0.0.1", "0.0.0.0", "::")  # what LitServe binds
# The largest real request (10 worked examples, the contract's response_format) is ~19 KB of JSON; 256 KiB leaves
# 13x headroom and still refuses a runaway body before it is read.
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_MAX_BATCH_SIZE = 16
REQUEST_TIMEOUT_S = 600  # longest wait in the queue; CPU generation of long replies under load takes minutes


def parse_keys(value: str | None) -> list[str]:
    """API keys from an environment variable's value: comma-separated, blanks ignored."""
    return [key.strip() for key in (value or "").split(",") if key.strip()]


def check_binding(host: str, port: int, keys: Sequence[str], insecure_no_auth: bool) -> None:
    """Refuse (ValueError) an address LitServe cannot bind, and a non-loopback address without a key."""
    if not 1024 <= port <= 65535:
        raise ValueError(f"--port must be from 1024 to 65535 (got {port})")
    if host not in HOSTS:
        raise ValueError(f"--host must be one of {', '.join(HOSTS)} (got {host!r})")
    if host != "127.0.0.1" and not keys and not insecure_no_auth:
        raise ValueError(f"refusing to serve on {host} without an API key: set one with --api-key-env VAR "
                         "(or pass --insecure-no-auth to expose the model to anyone who can reach the port)")


def model_context(base_model: Path) -> int:
    """Tokens the model attends over (prompt plus reply)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(base_model, local_files_only=True)
    context = getattr(config, "max_position_embeddings", None)
    if not context:
        raise ValueError(f"{base_model}: config.json states no max_position_embeddings")
    return int(context)


def build_server(model_ref: str = DEFAULT_MODEL, workspace: Workspace | None = None, base_model: str | None = None,
                 *, keys: Sequence[str] = (), max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 max_batch_size: int = DEFAULT_MAX_BATCH_SIZE, max_reply_tokens: int | None = None,
                 banner: str = "", audit: bool = True):
    """The LitServer for `model_ref` (not started). Raises `ValueError` for a model that cannot be served."""
    import litserve as ls
    from transformers import AutoTokenizer

    from datapilot_pipeline.lib.serving.audit_log import ServedAudit
    from datapilot_pipeline.lib.serving.errors import install_error_handlers
    from datapilot_pipeline.lib.serving.gate import Gate
    from datapilot_pipeline.lib.serving.identity import resolve_served_model
    from datapilot_pipeline.lib.serving.litapi import ChatCompletionsAPI
    from datapilot_pipeline.lib.serving.protocol import Preparer
    from datapilot_pipeline.lib.serving.spec import ChatCompletionsSpec

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the API process is forked after the tokenizer loads
    workspace = workspace or Workspace.current()
    served = resolve_served_model(model_ref, workspace, base_model)
    tokenizer = AutoTokenizer.from_pretrained(served.base_model, local_files_only=True)
    preparer = Preparer(tokenizer, model_context(served.base_model), max_reply_tokens)
    spec = ChatCompletionsSpec(served, preparer, ServedAudit(workspace.llm_logs, served) if audit else None)
    api = ChatCompletionsAPI(served=served, max_batch_size=max_batch_size, banner=banner, spec=spec)
    # accelerator "cpu" keeps one worker process; load_causal_lm puts the model on the GPU itself when there is one
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=REQUEST_TIMEOUT_S,
                          middlewares=[(Gate, {"keys": list(keys), "max_body_bytes": max_body_bytes})],
                          disable_openapi_url=True, track_requests=False)
    install_error_handlers(server.app)
    return server


def serve(model_ref: str = DEFAULT_MODEL, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          workspace: Workspace | None = None, base_model: str | None = None, *, keys: Sequence[str] = (),
          key_source: str | None = None, insecure_no_auth: bool = False,
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
          max_reply_tokens: int | None = None, log_level: str = "info") -> None:
    """Serve `model_ref` until interrupted. Raises `ValueError` for a model or binding that cannot be served."""
    check_binding(host, port, keys, insecure_no_auth)
    auth = (f"API keys: {len(keys)} from ${key_source}" if key_source else f"API keys: {len(keys)}") if keys \
        else "no API key (open to anyone who can reach the port)"
    shown = f"[{host}]" if ":" in host else host
    server = build_server(model_ref, workspace, base_model, keys=keys, max_body_bytes=max_body_bytes,
                          max_batch_size=max_batch_size, max_reply_tokens=max_reply_tokens,
                          banner=f"http://{shown}:{port}/v1; {auth}; bodies up to {max_body_bytes} bytes")
    main = os.getpid()

    def interrupt(signum: int, frame: object) -> None:  # LitServe shuts its processes down on Ctrl-C only
        if os.getpid() == main:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)  # a process LitServe forked: end as SIGTERM means, no traceback
        os.kill(os.getpid(), signum)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        # generate_client_file would write client.py into the current directory, outside the working root
        server.run(host=host, port=port, log_level=log_level, generate_client_file=False, num_api_servers=1)
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["DEFAULT_MODEL", "build_server", "check_binding", "parse_keys", "serve"]
