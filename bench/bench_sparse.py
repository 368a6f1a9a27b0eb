"""Benchmarks of sparse Jacobians and Hessians (issue 6), as ratios against references measured
in this run: one evaluation of the same graph (target: sparse Jacobian <= 10x), hand-written
NumPy for the dense diagonal Jacobian (target: <= 3x), and JAX's dense `jacfwd` when installed.
The first request on a graph also finds its sparsity pattern and colouring; that one-time cost
is printed separately ("cold"). The maps run at n = 100000 (or the n given) and at n = 4000,
where a dense Jacobian is small enough for JAX.

The process runs with glibc's malloc tuned as in deploy/Dockerfile (MALLOC_MMAP_THRESHOLD_,
MALLOC_TRIM_THRESHOLD_): otherwise every multi-megabyte batched array is freshly mapped and
page-faulted, which on this machine makes a 3-direction sweep over R^100000 about twice as
slow. `--untuned` keeps glibc's defaults.

Run: python bench/bench_sparse.py [n] [--untuned]"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import wengert as wg  # noqa: E402
from timing import available, median_seconds, row  # noqa: E402
from wengert.execution.engine import Engine  # noqa: E402


def elementwise(x):
    return wg.sin(x) * x + wg.exp(-x * x)


def tridiagonal(x):
    """A discrete Laplacian plus a nonlinearity: y_i = x_(i-1) - 2 x_i + x_(i+1) + sin x_i."""
    left, right = wg.pad(x[:-1], [(1, 0)]), wg.pad(x[1:], [(0, 1)])
    return left - 2 * x + right + wg.sin(x)


def rosenbrock(x):
    return wg.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def cold_seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_map(name: str, fn, n: int) -> None:
    x = np.random.default_rng(0).uniform(-1, 1, n)
    graph = wg.trace(fn, x)
    engine = Engine()
    inputs = {"x": x}
    cold = cold_seconds(lambda: engine.jacobian(graph, inputs, format="sparse"))
    result = engine.jacobian(graph, inputs, format="sparse")
    evaluate = median_seconds(lambda: engine.evaluate(graph, inputs))
    sparse = median_seconds(lambda: engine.jacobian(graph, inputs, format="sparse"))
    print(f"{name}, R^{n} -> R^{n}: {result.sweeps} sweep(s), {result.nnz} nonzeros, mode {result.mode}")
    print(row("one evaluation (reference)", evaluate))
    print(row("sparse Jacobian (COO), warm", sparse, evaluate))
    print(row("sparse Jacobian, cold (finds pattern + colouring)", cold, evaluate))
    if not available("jax"):
        print("  JAX jacfwd (dense): JAX not installed")
    elif n * n * 8 > DENSE_LIMIT:
        print(f"  JAX jacfwd (dense): skipped, the {n} x {n} result would take {n * n * 8 / 1e9:.0f} GB")
    else:
        print(row("JAX jacfwd, dense, jitted", jax_jacfwd(fn, n), evaluate))


DENSE_LIMIT = 1 << 30  # bytes of a dense Jacobian JAX is asked to build


def jax_jacfwd(fn, n: int) -> float:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    numpy_fn = {
        elementwise: lambda x: jnp.sin(x) * x + jnp.exp(-x * x),
        tridiagonal: lambda x: jnp.pad(x[:-1], (1, 0)) - 2 * x + jnp.pad(x[1:], (0, 1)) + jnp.sin(x),
    }[fn]
    jac = jax.jit(jax.jacfwd(numpy_fn))
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, n))
    return median_seconds(lambda: jac(x).block_until_ready())


def bench_dense_diagonal(n: int = 1000) -> None:
    x = np.random.default_rng(0).uniform(-1, 1, n)
    graph = wg.trace(elementwise, x)
    engine = Engine()
    inputs = {"x": x}

    def by_hand():
        return np.diag(np.cos(x) * x + np.sin(x) - 2 * x * np.exp(-x * x))

    np.testing.assert_allclose(engine.jacobian(graph, inputs).blocks[("y", "x")], by_hand(), atol=1e-12)
    hand = median_seconds(by_hand)
    print(f"dense Jacobian of sin(x)·x + exp(-x²), R^{n}: "
          f"{engine.jacobian(graph, inputs).sweeps} sweep(s)")
    print(row("np.diag(f'(x)) by hand (reference)", hand))
    print(row("engine.jacobian (dense)", median_seconds(lambda: engine.jacobian(graph, inputs)), hand))


def bench_hessian(n: int) -> None:
    x = np.random.default_rng(0).uniform(-1, 1, n)
    graph = wg.trace(rosenbrock, x)
    engine = Engine()
    inputs = {"x": x}
    cold = cold_seconds(lambda: engine.hessian(graph, inputs, format="sparse"))
    result = engine.hessian(graph, inputs, format="sparse")
    evaluate = median_seconds(lambda: engine.evaluate(graph, inputs))
    print(f"Rosenbrock Hessian, R^{n}: {result.sweeps} sweep(s) (star colouring), {result.nnz} nonzeros")
    print(row("one evaluation (reference)", evaluate))
    print(row("sparse Hessian (COO), warm", median_seconds(
        lambda: engine.hessian(graph, inputs, format="sparse")), evaluate))
    print(row("sparse Hessian, cold", cold, evaluate))


MALLOC_TUNING = {"MALLOC_MMAP_THRESHOLD_": "134217728", "MALLOC_TRIM_THRESHOLD_": "1073741824"}


if __name__ == "__main__":
    untuned = "--untuned" in sys.argv
    if not untuned and any(os.environ.get(k) != v for k, v in MALLOC_TUNING.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_TUNING})
    print(f"malloc tuning {'off' if untuned else 'on'}")
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    size = int(numbers[0]) if numbers else 100_000
    for n in (size, 4000):  # 4000: small enough for JAX's dense Jacobian
        bench_map("elementwise sin(x)·x + exp(-x²)", elementwise, n)
        bench_map("tridiagonal x_(i-1) - 2x_i + x_(i+1) + sin x_i", tridiagonal, n)
    bench_hessian(size)
    bench_dense_diagonal()
