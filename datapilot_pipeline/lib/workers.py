"""Worker processes for the stages that stream a large input a chunk at a time (export masking, validation).

`worker_count` decides how many processes (a spawned worker imports the project again: ~2 s of CPU and a few
hundred MB, worth it only for a large input on a machine with a core to spare, which `busy_cores` measures);
`ordered_map` runs a function over a stream of chunks in that many processes and gives the results back in input
order, with at most two chunks per worker in flight, so memory stays bounded whatever the input's size. Workers are
spawned, or forked where the caller asks for it and `start_method` finds it safe.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def main_reimport_safe() -> bool:
    """Whether a spawned process can start here: a spawned child imports the parent's main module again (as
    `__mp_main__`), which only a module run with `-m`, no main file (an interactive interpreter) or a script that
    guards its work with `if __name__ == "__main__"` (console scripts such as `datapilot` and `dagster` do)
    survives. A script that does the work at import time keeps working, in this process alone."""
    main = sys.modules.get("__main__")
    if getattr(main, "__spec__", None) is not None:
        return True
    main_path = getattr(main, "__file__", None)
    if main_path is None:
        return True
    try:
        source = Path(main_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "__name__" in source and "__main__" in source


BUSY_SAMPLE_SECONDS = 0.25


def busy_cores(cores: set[int], interval: float = BUSY_SAMPLE_SECONDS) -> float:
    """How many of `cores` (CPU numbers) other work keeps busy now: their use over `interval` seconds, sampled while
    this thread sleeps. The 1-minute load average would not do: it counts this process's own work of the last
    minute, so a stage that had just read its input found no core to spare on an otherwise idle 2-core machine."""
    import psutil

    per_cpu = psutil.cpu_percent(interval=interval, percpu=True)
    return sum(per_cpu[c] for c in cores if c < len(per_cpu)) / 100


def worker_count(large: bool, workers: int | None = None, env: str | None = None, most: int = 4) -> int:
    """How many processes share a stage's chunks: `workers` when given, else the integer in `$env` when set, else one
    per CPU core (at most `most`) for a `large` input on a machine with a core to spare (`busy_cores` at most its
    core count less one), and 1 (this process alone) otherwise. A daemonic process (a multiprocessing pool's worker)
    may not start processes, and a main script that would redo its work when imported again cannot: always 1 there."""
    if multiprocessing.current_process().daemon or not main_reimport_safe():
        return 1
    if workers is None and env and os.environ.get(env, "").strip():
        workers = int(os.environ[env])
    if workers is None:
        cores = os.sched_getaffinity(0)
        workers = min(len(cores), most) if large and busy_cores(cores) <= len(cores) - 1 else 1
    return max(1, workers)


def _os_threads() -> int | None:
    """This process's threads as the kernel counts them (native ones included), where Linux's /proc says."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def start_method(fork: bool) -> str:
    """How `ordered_map` starts its workers: "fork" when `fork` is asked for and safe here, else "spawn".

    A forked worker starts with this process's modules and data as they are; a spawned one starts a new interpreter
    and imports the project again (~0.3 s of CPU each: a tenth of a 20,000-line validation's work per worker). A fork
    copies the process but only the thread that forks: a lock another thread held at that moment (an import, a
    logging handler, a native library's thread pool) stays locked in the copy for good. So only a process with a
    single thread, counted by the kernel (native threads included), forks; and only on Linux (macOS's system
    libraries are not safe to fork, Windows cannot). A daemonic process (a multiprocessing pool's worker) may start
    no process at all: "spawn" there too, and `worker_count` gives it none."""
    if not fork or not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return "spawn"
    if multiprocessing.current_process().daemon:
        return "spawn"
    return "fork" if _os_threads() == 1 else "spawn"


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, initializer: Callable | None = None,
                initargs: tuple = (), while_first: Callable[[], None] | None = None,
                fork: bool = False) -> Iterator[R]:
    """`fn(item)` for each item, computed in `workers` processes (each runs `initializer(*initargs)` once), yielded
    in the items' order. The processes are spawned, or forked when `fork` and `start_method` agree: all of them
    before this starts any thread. `items` is read ahead by at most two per worker. `while_first`, when given, runs
    in a thread of this process once the first items are submitted (work to overlap with the workers' start-up),
    while this thread goes on taking results and submitting items, so the workers never wait for it; it is joined
    before this returns, and its error, if any, is raised after the last result. Stopping early or an error cancels
    what is left and shuts the processes down."""
    from concurrent.futures import ProcessPoolExecutor

    # With "fork" the executor starts every worker at the first submit, before its own manager thread.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(start_method(fork)),
                               initializer=initializer, initargs=initargs)
    pending: deque = deque()
    side, side_errors = None, []

    def side_work(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # raised to the caller once the results are in
            side_errors.append(exc)

    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                if while_first is not None:
                    side = threading.Thread(target=side_work, args=(while_first,), name="while-first", daemon=True)
                    side.start()
                    while_first = None
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
        if side is not None:
            side.join()
        if side_errors:
            raise side_errors[0]
    finally:  # also when the caller stops early or reading the input failed: no work left running
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        if side is not None:
            side.join()
