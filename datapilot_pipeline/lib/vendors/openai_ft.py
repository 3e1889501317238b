"""OpenAI fine-tuning backend: upload the chat-format file, create a supervised job, poll it to the end,
and record the job and the fine-tuned model id in MLflow.

Endpoints used (openai SDK >= 1.40): `POST /files` (purpose `fine-tune`), `POST /fine_tuning/jobs`,
`GET /fine_tuning/jobs/{id}`. `base_url` points the client at another OpenAI-compatible server.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datapilot_pipeline.lib.atomic import dumps_compact
from datapilot_pipeline.lib.vendors import chat_rows

TERMINAL = {"succeeded", "failed", "cancelled"}


class VendorJobFailed(RuntimeError):
    """The vendor's job ended in `failed` or `cancelled`."""


def run_openai_finetune(dataset: Path, *, model: str, n_epochs: int = 3, learning_rate_multiplier: float = 1.0,
                        base_url: str | None = None, api_key: str | None = None, poll_seconds: float = 15.0,
                        timeout_seconds: float = 24 * 3600, tracking_uri: str | None = None,
                        on_status: Callable[[str], None] | None = None, client: Any = None) -> dict[str, Any]:
    """Fine-tune `model` on `dataset` with OpenAI; returns `job_id`, `file_id`, `status`, `fine_tuned_model`
    and, when `tracking_uri` is given, the MLflow `run_id` (FINISHED on success, FAILED otherwise)."""
    import openai

    payload = "".join(dumps_compact(row) + "\n" for row in chat_rows(Path(dataset))).encode("utf-8")
    if client is None:
        client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=2)
    params = {"backend": "openai", "model": model, "n_epochs": n_epochs,
              "learning_rate_multiplier": learning_rate_multiplier, "dataset_path": str(dataset)}
    run = _start_run(tracking_uri, params)
    try:
        uploaded = client.files.create(file=(Path(dataset).name, io.BytesIO(payload)), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(
            model=model, training_file=uploaded.id,
            method={"type": "supervised", "supervised": {"hyperparameters": {
                "n_epochs": n_epochs, "learning_rate_multiplier": learning_rate_multiplier}}})
        deadline = time.monotonic() + timeout_seconds
        while job.status not in TERMINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fine-tuning job {job.id} still {job.status} after {timeout_seconds:.0f} s")
            if on_status:
                on_status(f"job {job.id}: {job.status}")
            time.sleep(poll_seconds)
            job = client.fine_tuning.jobs.retrieve(job.id)
        if on_status:
            on_status(f"job {job.id}: {job.status}")
        result = {"job_id": job.id, "file_id": uploaded.id, "status": job.status,
                  "fine_tuned_model": job.fine_tuned_model, "trained_tokens": getattr(job, "trained_tokens", None)}
        if job.status != "succeeded":
            message = getattr(getattr(job, "error", None), "message", None) or "no error message"
            raise VendorJobFailed(f"fine-tuning job {job.id} {job.status}: {message}")
    except BaseException:
        _end_run(tracking_uri, run, "FAILED", {})
        raise
    result["run_id"] = _end_run(tracking_uri, run, "FINISHED", result)
    return result


def _start_run(tracking_uri: str | None, params: dict[str, Any]):
    if tracking_uri is None:
        return None
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    from datapilot_pipeline.lib.tracking import ensure_tracking_db

    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.create_run(ensure_tracking_db(tracking_uri), run_name=f"openai-{params['model']}",
                            tags={"backend": "openai"})
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    return run


def _end_run(tracking_uri: str | None, run, status: str, result: dict[str, Any]) -> str | None:
    if run is None:
        return None
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    for key in ("job_id", "file_id", "fine_tuned_model"):
        if result.get(key):
            client.set_tag(run.info.run_id, key, result[key])
    client.set_terminated(run.info.run_id, status=status)
    return run.info.run_id
