"""datapilot_pipeline: analysts' reviews of LLM data insights -> fine-tuned, evaluated, promoted models."""

import os

# numpy's OpenBLAS starts a thread per core when numpy is imported, then busy-waits in it after each threaded call
# (its own import's included): ~0.1 s of CPU per process, taken from the other processes of a stage on a small
# machine (a validation's main process and its two workers: 0.3 of its 8 CPU-s). The numpy work here is on small
# arrays (MinHash blocks of a chunk, LSH band parameters, metrics), which one thread computes as fast; torch's math
# uses MKL and its own threads. So OpenBLAS runs on one thread unless the user chose a count. Set before numpy's
# import (a package's modules import it after this file) and inherited by the worker processes a stage spawns.
if not any(os.environ.get(name) for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")):
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

__all__ = ["FeedbackCollector"]


def __getattr__(name: str):
    # Lazy so that `import datapilot_pipeline` (and Dagster definitions loading) stays light.
    if name == "FeedbackCollector":
        from datapilot_pipeline.lib.feedback.collector import FeedbackCollector

        return FeedbackCollector
    raise AttributeError(f"module 'datapilot_pipeline' has no attribute {name!r}")
