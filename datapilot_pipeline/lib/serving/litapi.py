"""The LitServe worker: the model loaded once, and a loop that batches requests continuously (importable at module
level: LitServe pickles the API object into its worker process).

`EngineLoop` is a LitServe `LitLoop`: each turn it admits queued requests while the batch has room (blocking only
when nothing runs), advances every running request by one token, and sends each request's chunks back to the API
process. LitServe's own batched loops start a batch only when the previous one has finished, so a short reply
would wait for the longest one in its batch.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import litserve as ls
from litserve.loops.base import _SENTINEL_VALUE, LitLoop
from litserve.utils import LitAPIStatus, LoopResponseType

from datapilot_pipeline.lib.serving.engine import Engine, Job, Update
from datapilot_pipeline.lib.serving.identity import ServedModel

logger = logging.getLogger(__name__)


def chunk(update: Update) -> dict:
    if update.error is not None:
        return {"error": update.error, "status": 500}
    return {"text": update.text, "finish_reason": update.finish_reason, "prompt_tokens": update.prompt_tokens,
            "completion_tokens": update.completion_tokens}


class EngineLoop(LitLoop):
    def __init__(self) -> None:
        super().__init__()
        self._routes: dict[Hashable, int] = {}  # request uid -> the API server's response queue

    def _send(self, transport: Any, uid: Hashable, payload: dict, done: bool) -> None:
        route = self._routes.pop(uid) if done else self._routes[uid]
        self.put_response(transport, route, uid, json.dumps(payload), LitAPIStatus.OK, LoopResponseType.STREAMING)

    def run(self, lit_api: Any, device: str, worker_id: int, request_queue: Any, transport: Any,
            workers_setup_status: Any, callback_runner: Any) -> None:
        engine: Engine = lit_api.engine
        admitted: list[tuple[Hashable, Job]] = []
        while len(admitted) < engine.capacity:
            idle = not engine.rows and not admitted
            item = self.get_request(request_queue, block=idle, timeout=1.0 if idle else None)
            if item is None:
                break
            if item == _SENTINEL_VALUE:
                raise SystemExit(0)
            route, uid, queued_at, job = item
            self._routes[uid] = route
            timeout = lit_api.request_timeout
            if timeout not in (None, False, -1) and time.monotonic() - queued_at > timeout:
                self._send(transport, uid, {"error": f"the request waited over {timeout} s for the model",
                                            "status": 504}, done=True)
                continue
            admitted.append((uid, job))
        try:
            updates = engine.add(admitted) if admitted else []
            updates += engine.step()
        except Exception:  # a model failure fails the requests it held, never the worker
            logger.exception("generation failed; failing the %d requests in the batch", len(self._routes))
            for uid in list(self._routes):
                self._send(transport, uid, {"error": "The server had an error while processing your request.",
                                            "status": 500}, done=True)
            engine.reset()
            return
        for update in updates:
            self._send(transport, update.key, chunk(update),
                       done=update.finish_reason is not None or update.error is not None)


class ChatCompletionsAPI(ls.LitAPI):
    """The worker's side: `setup` loads the model once and prints the start-up line."""

    def __init__(self, served: ServedModel, max_batch_size: int = 8, banner: str = "", **kwargs: Any) -> None:
        super().__init__(max_batch_size=max_batch_size, loop=EngineLoop(), **kwargs)
        self.served, self.banner = served, banner
        self.engine: Engine | None = None

    def setup(self, device: str) -> None:
        from datapilot_pipeline.lib.generation.modeling import load_causal_lm

        model, tokenizer = load_causal_lm(self.served.base_model, self.served.adapter_dir)
        self.engine = Engine(model, tokenizer, self.max_batch_size)
        weights = next(model.parameters())
        print(f"datapilot serve: {self.served.describe()}; device {weights.device}, dtype "
              f"{str(weights.dtype).removeprefix('torch.')}; continuous batching of up to {self.max_batch_size} "
              f"requests; {self.banner}", file=sys.stderr, flush=True)

    def predict(self, jobs: Sequence[Job]) -> Iterator[Update]:
        """All updates of `jobs` run to completion (keys are their positions): the engine without the server."""
        pending = list(enumerate(jobs))
        while pending or self.engine.rows:
            room = self.engine.capacity
            admitted, pending = pending[:room], pending[room:]
            yield from self.engine.add(admitted) if admitted else ()
            yield from self.engine.step()
