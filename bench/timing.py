"""Timing helpers shared by the benchmarks: medians of repeated runs, and optional references
(JAX, PyTorch) that appear only when installed. Machines here are noisy, so every benchmark
prints ratios against a reference measured in the same run."""

from __future__ import annotations

import importlib.util
import statistics
import time
from typing import Callable


def median_seconds(fn: Callable[[], object], *, repeat: int = 15, min_time: float = 0.02,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """Median time of one call to `fn` (wall time, or `clock`: `time.process_time` for CPU
    time on a busy machine), each sample looping long enough to be measurable."""
    fn()  # warm caches, compile plans
    loops, start = 1, clock()
    fn()
    once = max(clock() - start, 1e-7)
    loops = max(1, int(min_time / once))
    samples = []
    for _ in range(repeat):
        start = clock()
        for _ in range(loops):
            fn()
        samples.append((clock() - start) / loops)
    return statistics.median(samples)


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def row(label: str, seconds: float, reference: float | None = None, unit: str = "ms") -> str:
    scale = {"ms": 1e3, "us": 1e6}[unit]
    ratio = f"{seconds / reference:7.2f}x" if reference else " " * 8
    return f"  {label:<48} {seconds * scale:10.3f} {unit}  {ratio}"
