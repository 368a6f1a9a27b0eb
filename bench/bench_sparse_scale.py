"""Sparse Jacobians at the scale of real problems (issue 14): GradBench's bundle-adjustment
(`ba`) and hand-tracking (`ht`) Jacobians through `jacobian(format="sparse")` alone, as ratios
against one evaluation of the objective measured in the same run, and against PyTorch's dense
`torch.func.jacfwd` on the sizes whose dense Jacobian it can hold (when PyTorch is installed).

For each size it prints the colours used against the fewest possible (the fullest row of the
Jacobian; GradBench counts 15 for ba, its dense blocks holding a principal point coordinate
that a residual does not read), the first request's time ("cold": it finds the pattern and the
colouring, then sweeps) with the pattern's and the colouring's shares measured apart, a
repeated request's ("warm"), and the process's peak RSS so far. Times are CPU times (BLAS and
PyTorch kept to one thread), steadier than wall times on a shared machine. The engine runs within a
memory budget (--memory-mb, default 2048: what sweeps may take besides the result, which
chunks the directions of the largest cases); the request's price under it is printed with the
server flags it would need.

The process runs with glibc's malloc tuned as in deploy/Dockerfile, like bench_sparse.py.

Run: python bench/bench_sparse_scale.py [--quick] [--untuned] [--memory-mb N]
  --quick: ba1 and hand1..hand8 only (a minute); the default adds ba5, ba13 (1,091,386
  observations: a minute or two and about 3.3 GB at the default budget), and hand9..hand12."""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import wengert as wg  # noqa: E402
from gradbench import BA, BA_SIZES, HT, HT_POINTS  # noqa: E402
from timing import available, median_seconds, row  # noqa: E402
from wengert.execution.cost import Limits  # noqa: E402
from wengert.execution.engine import Engine  # noqa: E402
from wengert.jacobians import colouring, sparsity  # noqa: E402

DENSE_LIMIT = 1 << 26  # bytes of a dense Jacobian PyTorch is asked to build (its jacfwd holds
# a few arrays many times larger: one of every intermediate per column)
MALLOC_TUNING = {"MALLOC_MMAP_THRESHOLD_": "134217728", "MALLOC_TRIM_THRESHOLD_": "1073741824"}
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CACHE = 1 << 34  # the engine's cache of patterns, colourings and plans: keeps every warm request warm
WORK = 10 ** 13  # operations a request may take: the price reports what it needs


CLOCK = time.process_time  # CPU time: the machines this runs on are shared


def seconds(fn) -> float:
    start = CLOCK()
    fn()
    return CLOCK() - start


def bench(name: str, problem, memory: int, optimum: int | None = None) -> None:
    graph = wg.trace(problem.objective, *problem.inputs)
    inputs = dict(zip(graph.input_names, problem.inputs))
    price = Engine(limits=Limits(memory=memory, work=WORK)).prepare_jacobian(graph, inputs, format="sparse").price
    limits = Limits(memory=memory, work=price.work)
    engine = Engine(limits=limits, cache_bytes=CACHE)
    evaluate = median_seconds(lambda: engine.evaluate(graph, inputs), repeat=5, clock=CLOCK)
    start = CLOCK()  # the pattern and the colouring alone, dropped before the requests
    pattern = sparsity.jacobian_pattern(graph, graph.input_names, graph.output_names, engine.registry, memory)
    found = CLOCK() - start
    starts = np.cumsum([0] + [a.size for a in problem.inputs[:-1]]).tolist()
    coloured = seconds(lambda: colouring.columns(pattern, list(zip(graph.input_names, starts))))  # as the engine does
    (m, n), fewest = pattern.shape, colouring.min_colours(pattern)[0]
    del pattern
    start = CLOCK()
    result = engine.jacobian(graph, inputs, format="sparse")
    cold = CLOCK() - start
    result = replace(result, values={}, blocks={})  # what it says, not what it holds
    warm = median_seconds(lambda: engine.jacobian(graph, inputs, format="sparse"), repeat=3, min_time=0,
                          clock=CLOCK)
    print(f"{name}: J is {m} x {n}, {result.nnz} nonzeros; {result.mode} mode, {result.sweeps} colours "
          f"({result.colouring}{', ' + result.note if result.note else ''}), fewest possible {fewest}"
          + (f", GradBench's optimum {optimum}: {result.sweeps / optimum:.2f}x" if optimum else ""))
    print(f"  {result.chunk} directions at once; priced at {price.peak_bytes / 2**30:.2f} GiB peak, "
          f"{price.work:.3g} operations: a server needs --memory-budget-mb {_mib(memory)} --max-work "
          f"{_work(price.work)}; peak RSS so far {_peak_rss() / 2**30:.2f} GiB")
    print(row("one evaluation (reference)", evaluate))
    print(row("sparse Jacobian, cold (pattern + colouring + sweeps)", cold, evaluate))
    print(row("  of which the pattern", found, evaluate))
    print(row("  of which the colouring", coloured, evaluate))
    print(row("sparse Jacobian, warm (sweeps)", warm, evaluate))
    if not available("torch"):
        print("  PyTorch jacfwd (dense): PyTorch not installed")
    elif m * n * 8 > DENSE_LIMIT:
        print(f"  PyTorch jacfwd (dense): skipped, the {m} x {n} result would take {m * n * 8 / 2**20:.0f} MiB")
    else:
        dense = torch_jacfwd(problem)
        print(row("PyTorch jacfwd, dense", dense, evaluate))
        print(f"  {'sparse Jacobian, cold / PyTorch jacfwd':<48} {cold / dense:7.3f}x   warm: {warm / dense:.3f}x")


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _mib(nbytes: int) -> int:
    return math.ceil(nbytes / 2**20)


def _work(work: int) -> str:
    """`work` rounded up to two significant digits."""
    step = 10 ** max(len(str(work)) - 2, 0)
    return f"{-(-work // step) * step:.2g}"


def torch_jacfwd(problem) -> float:
    import torch

    torch.set_num_threads(1)
    args = tuple(torch.as_tensor(a) for a in problem.inputs)
    jacobian = torch.func.jacfwd(problem.torch_objective, argnums=tuple(range(len(args))))
    return median_seconds(lambda: jacobian(*args), repeat=3, min_time=0, clock=CLOCK)


if __name__ == "__main__":
    untuned = "--untuned" in sys.argv
    settings = ONE_THREAD if untuned else {**MALLOC_TUNING, **ONE_THREAD}
    if any(os.environ.get(k) != v for k, v in settings.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **settings})
    quick = "--quick" in sys.argv
    memory = (int(sys.argv[sys.argv.index("--memory-mb") + 1]) if "--memory-mb" in sys.argv else 2048) << 20
    print(f"malloc tuning {'off' if untuned else 'on'}; memory budget {memory >> 20} MiB")
    for n, m, p in [(2, 40, 500), (5, 100, 1000)]:  # small enough for a dense Jacobian
        bench(f"ba n={n} m={m} p={p}", BA.random(n, m, p), memory, optimum=15)
    for name, (n, m, p) in BA_SIZES.items():
        if name == "ba1" or not quick:
            bench(f"{name} n={n} m={m} p={p}", BA.random(n, m, p), memory, optimum=15)
    for name, c in HT_POINTS.items():
        if c <= 6400 or not quick:
            bench(f"{name} complicated, c={c}", HT.random(c), memory)
    bench("hand12 simple, c=100000", HT.random(100_000, complicated=False), memory)
