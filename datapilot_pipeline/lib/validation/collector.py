"""Python's cycle collector during a validation run.

A validation process holds hundreds of thousands of long-lived objects (the modules of Presidio, pandas, numpy,
the PII lexicon) that no validation frees; every full collection walks them all again, some 15% of the per-line
time on a 20,000-line file. `gc.freeze` moves the objects alive at that moment out of the collector's sight (not
out of memory: they are freed as usual once unreferenced and unfrozen); what validation allocates afterwards is
collected as before.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def objects_alive_now_frozen() -> Iterator[Callable[[], None]]:
    """Freeze what is alive now until the block ends; the block gets `gc.freeze` to call again once more long-lived
    objects exist (the modules the first chunk imported)."""
    gc.freeze()
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()
