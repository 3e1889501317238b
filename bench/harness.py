"""Measuring one step in a fresh process: wall seconds and that process's peak resident memory.

A fresh process per measurement keeps one step's memory from hiding another's (ru_maxrss is a high-water mark).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import resource
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class Measurement:
    seconds: float
    peak_mb: float  # the step's own process
    info: dict[str, Any] = field(default_factory=dict)
    children_peak_mb: float = 0.0  # the largest of the processes the step started and waited for (0: none)
    sampled_total_mb: float = 0.0  # the most the step's process and its children held at once, sampled every 0.2 s


@dataclass
class Row:
    stage: str
    size: int
    records: int
    seconds: float
    peak_mb: float
    output_mb: float | None
    baseline: str
    baseline_seconds: float | None
    baseline_note: str = ""

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")

    @property
    def ratio(self) -> float | None:
        return self.baseline_seconds / self.seconds if self.baseline_seconds and self.seconds > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "records_per_s": self.records_per_s, "ratio": self.ratio}


def _child(fn: Callable[..., dict], args: tuple, queue: mp.Queue) -> None:
    try:
        started = time.perf_counter()
        info = fn(*args) or {}
        seconds = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        queue.put(("ok", seconds, peak_kb / 1024.0, info, children_kb / 1024.0))
    except BaseException:  # reported to the parent, which raises it
        queue.put(("error", 0.0, 0.0, {"traceback": traceback.format_exc()}, 0.0))


def measure(fn: Callable[..., dict], *args: Any) -> Measurement:
    """Run `fn(*args)` in a fresh spawned process; `fn` returns a small dict of facts (records, bytes...)."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    sampler = _TreeSampler(proc.pid)
    try:
        status, seconds, peak_mb, info, children_mb = queue.get()
    finally:
        sampled_mb = sampler.stop()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"benchmark step {getattr(fn, '__name__', fn)} failed:\n{info['traceback']}")
    return Measurement(seconds, peak_mb, info, children_mb, sampled_mb)


class _TreeSampler:
    """The largest sum of resident memory of a process and its descendants, sampled every `interval` seconds in a
    thread: what they held together (peaks of different processes at different times do not add up here)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        import threading

        self.pid, self.interval, self.peak_bytes = pid, interval, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._done.is_set():
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.NoSuchProcess:  # a worker that just exited holds nothing
                        pass
            except psutil.NoSuchProcess:
                return
            self.peak_bytes = max(self.peak_bytes, total)
            self._done.wait(self.interval)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak_bytes / 2**20


def machine() -> dict[str, Any]:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "memory_gb": round(mem_gb, 1), "processor": platform.processor() or platform.machine()}


def format_table(rows: list[Row]) -> str:
    header = (f"{'stage':<22}{'size':>8}{'records':>9}{'seconds':>10}{'rec/s':>11}{'peak MB':>9}{'out MB':>8}"
              f"  {'baseline':<34}{'base s':>10}{'ratio':>8}")
    lines = [header, "-" * len(header)]
    for r in rows:
        out = f"{r.output_mb:8.1f}" if r.output_mb is not None else f"{'-':>8}"
        base = f"{r.baseline_seconds:10.2f}" if r.baseline_seconds is not None else f"{'-':>10}"
        ratio = f"{r.ratio:7.1f}x" if r.ratio is not None else f"{'-':>8}"
        lines.append(f"{r.stage:<22}{r.size:>8}{r.records:>9}{r.seconds:>10.2f}{r.records_per_s:>11.0f}"
                     f"{r.peak_mb:>9.0f}{out}  {r.baseline[:34]:<34}{base}{ratio}")
    return "\n".join(lines)


def write_results(rows: list[Row], notes: list[str]) -> Path:
    from datapilot_pipeline.lib.atomic import atomic_write_json

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    payload = {"created_at": stamp, "machine": machine(), "rows": [r.as_dict() for r in rows], "notes": notes}
    path = RESULTS_DIR / f"bench_{stamp}.json"
    atomic_write_json(path, payload)
    atomic_write_json(RESULTS_DIR / "latest.json", payload)
    return path
