"""Python's cycle collector in the stages that stream a large input (export, validation).

Such a process holds hundreds of thousands of long-lived objects (the modules of Presidio, pandas, numpy, the PII
lexicon) that the stage never frees, and allocates millions of short-lived ones (parsed reviews, cells, findings).
With the default thresholds the collector runs every 700 allocations and each full collection walks the
long-lived objects again: ~15% of validation's per-line time on a 20,000-line file, ~10% of a 10k-job export's
CPU (2.8 of 24 CPU-s, measured with `gc.callbacks`). So, for the stage:
- `gc.freeze` moves the objects alive at its start out of the collector's sight (not out of memory: they are freed
  as usual once unreferenced and unfrozen);
- the youngest generation is collected every `YOUNG_THRESHOLD` allocations instead of 700, so the survivors of a
  chunk are walked a few times, not thousands. Cyclic garbage is still collected, a little later.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000


@contextmanager
def objects_alive_now_frozen() -> Iterator[Callable[[], None]]:
    """Freeze what is alive now and collect the youngest generation less often until the block ends; the block gets
    `gc.freeze` to call again once more long-lived objects exist (the modules the first chunk imported)."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield gc.freeze
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def settle_worker_process() -> None:
    """The same for a worker process that lives for one stage: nothing to restore when it ends."""
    gc.freeze()
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), *older)
