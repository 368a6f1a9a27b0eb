"""Fixed costs per node and fused elementwise chains (issue 14, section 3): compiled plans
against the interpreter they replace, hand-written NumPy and, when installed, PyTorch and JAX,
all measured in this run. Run: python bench/bench_plans.py

* a chain of 1,500 scalar ops: cost per node of the value and of value+gradient;
* sin(x)*x + exp(-x^2) on 1e6 elements: value, JVP and VJP;
* a chain of cheap ops on 1e6 elements, where fusing into cache-sized blocks pays most;
* pow of negative bases to integral powers (a table x[:, None] ** k) against repeated products.

Times are CPU time of this process (`time.process_time`: the machine is shared, and NumPy and
the engine run on one thread here), except PyTorch's, which are wall time (it runs on several
threads). The engine rows are steady state: each plan is compiled up front (in use, a plan is compiled
once the interpreter has spent about as long on it as compiling takes); "interpreter" rows
run the same plans by the interpreter, which is what every run cost before.
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import wengert as wg  # noqa: E402
from timing import available, median_seconds, row  # noqa: E402
from wengert.execution.engine import Engine  # noqa: E402
from wengert.execution.plan import Plan  # noqa: E402

ENGINE = Engine()
CPU = time.process_time


def cpu_seconds(fn, repeat: int = 15) -> float:
    return median_seconds(fn, repeat=repeat, clock=CPU)


def interpreted(graph: wg.Graph, feeds: dict) -> float:
    """Seconds per run of `graph`'s plan by the interpreter; compiles the plan (for the engine
    rows that follow)."""
    plan = ENGINE.plan(graph)
    plan.compiled()
    return cpu_seconds(lambda: plan.run(feeds, interpret=True), repeat=7)


# -- a chain of 1,500 scalar ops ------------------------------------------------------------
def bench_scalar_chain(steps: int = 750) -> None:
    def chain(x):
        for i in range(steps):
            x = wg.sin(x) + 0.5 if i % 2 else wg.cos(x) * 0.9
        return x

    def python_math(x=0.3):
        for i in range(steps):
            x = math.sin(x) + 0.5 if i % 2 else math.cos(x) * 0.9
        return x
    graph = wg.trace(chain, 0.3)
    n = len(graph.nodes)
    feeds = {"x": np.float64(0.3)}
    gradient = ENGINE.derivative_graph(graph, "vjp", None, seeds=["y"])
    t_math = cpu_seconds(python_math) / n
    start = CPU()
    Plan(gradient, ENGINE.registry).compiled()
    compiling = (CPU() - start) / len(gradient.nodes)
    print(f"Chain of {n} scalar ops (cost per node; reference: plain Python math)")
    print(row("plain Python math, value (reference)", t_math, unit="us"))
    print(row("compiling a plan, per step (once)", compiling, t_math, unit="us"))
    print(row("interpreter, value (before)", interpreted(graph, feeds) / n, t_math, unit="us"))
    print(row("interpreter, value+gradient (before)",
              interpreted(gradient, {**feeds, "cotangent:y": np.float64(1.0)}) / n, t_math, unit="us"))
    t_value = cpu_seconds(lambda: ENGINE.evaluate(graph, feeds)) / n
    t_grad = cpu_seconds(lambda: ENGINE.vjp(graph, feeds, {"y": 1.0})) / n
    print(row("engine value  [target <= 0.3 us]", t_value, t_math, unit="us"))
    print(row("engine value+gradient  [target <= 0.8 us]", t_grad, t_math, unit="us"))
    if available("torch"):
        import torch

        def torch_grad():
            x = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
            y = x
            for i in range(steps):
                y = torch.sin(y) + 0.5 if i % 2 else torch.cos(y) * 0.9
            return torch.autograd.grad(y, x)
        print(row("PyTorch value+gradient (autograd)", median_seconds(torch_grad, repeat=7) / n, t_math, unit="us"))


# -- sin(x) * x + exp(-x^2) on 1e6 elements ----------------------------------------------------
def bench_elementwise(size: int = 1_000_000) -> None:
    rng = np.random.default_rng(0)
    x, v, g = rng.normal(size=size), rng.normal(size=size), rng.normal(size=size)
    graph = wg.trace(lambda x: wg.sin(x) * x + wg.exp(-(x * x)), x)

    def hand_value():
        return np.sin(x) * x + np.exp(-(x * x))

    def hand_derivative(seed):  # the JVP and the VJP are both f'(x) times the seed here
        s, e = np.sin(x), np.exp(-(x * x))
        return s * x + e, (np.cos(x) * x + s - 2.0 * x * e) * seed
    value, derivative = hand_derivative(v)
    np.testing.assert_allclose(ENGINE.evaluate(graph, {"x": x})["y"], value, rtol=1e-13)
    np.testing.assert_allclose(ENGINE.jvp(graph, {"x": x}, {"x": v})[1]["y"], derivative, rtol=1e-12, atol=1e-12)
    runs = {
        "value": (hand_value, lambda: ENGINE.evaluate(graph, {"x": x}), (graph, {"x": x})),
        "JVP": (lambda: hand_derivative(v), lambda: ENGINE.jvp(graph, {"x": x}, {"x": v}),
                (ENGINE.derivative_graph(graph, "jvp", ["x"]), {"x": x, "tangent:x": v})),
        "VJP": (lambda: hand_derivative(g), lambda: ENGINE.vjp(graph, {"x": x}, {"y": g}),
                (ENGINE.derivative_graph(graph, "vjp", None, seeds=["y"]), {"x": x, "cotangent:y": g})),
    }
    torch_runs = {}
    if available("torch"):
        import torch
        from torch.func import jvp

        print(f"  (PyTorch on {torch.get_num_threads()} threads; NumPy and the engine on one)")
        tx, tv, tg = (torch.tensor(a) for a in (x, v, g))

        def f(t):
            return torch.sin(t) * t + torch.exp(-(t * t))

        def torch_vjp():
            t = tx.detach().requires_grad_()
            y = f(t)
            return y, torch.autograd.grad(y, t, tg)
        torch_runs = {"value": lambda: f(tx), "JVP": lambda: jvp(f, (tx,), (tv,)), "VJP": torch_vjp}
    print(f"sin(x)*x + exp(-x^2), n={size:.0e}: ratios to hand NumPy, then to PyTorch when installed")
    for kind, (hand, engine, (dgraph, feeds)) in runs.items():
        t_hand = cpu_seconds(hand, repeat=7)
        print(row(f"hand NumPy {kind} (reference)", t_hand))
        print(row(f"interpreter {kind} (before)", interpreted(dgraph, feeds), t_hand))
        t_engine = cpu_seconds(engine, repeat=7)
        print(row(f"engine {kind}", t_engine, t_hand))
        if kind in torch_runs:
            t_torch = median_seconds(torch_runs[kind], repeat=7)
            print(row(f"PyTorch {kind}", t_torch, t_hand))
            print(row(f"engine {kind} / PyTorch  [target <= 1]", t_engine, t_torch))


# -- a chain of cheap ops on 1e6 elements --------------------------------------------------------
def bench_cheap_chain(size: int = 1_000_000) -> None:
    x = np.random.default_rng(0).normal(size=size)

    def f(x):
        return ((x * x + 2.0 * x + 1.0) * x - 3.0) / (x * x + 4.0)
    graph = wg.trace(f, x)
    np.testing.assert_array_equal(ENGINE.evaluate(graph, {"x": x})["y"], f(x))  # the same ufuncs, in order
    t_hand = cpu_seconds(lambda: f(x), repeat=7)
    print(f"((x*x + 2x + 1) x - 3) / (x*x + 4), n={size:.0e}: memory-bound, where fusing pays")
    print(row("hand NumPy (reference)", t_hand))
    print(row("interpreter (before)", interpreted(graph, {"x": x}), t_hand))
    print(row("engine (fused)", cpu_seconds(lambda: ENGINE.evaluate(graph, {"x": x}), repeat=7), t_hand))


# -- pow of negative bases ---------------------------------------------------------------------
def bench_pow_table(rows: int = 100_000, powers: int = 10) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.5, 1.5, size=(rows, 1))
    k = np.arange(-4.0, powers - 4.0)[None, :]
    graph = wg.trace(lambda x, k: x ** k, x, k)

    def products():
        """x ** k by repeated products, as a hand-written table: x ** 0 = 1, then times x (or 1/x)."""
        out = np.empty((rows, powers))
        zero = int(-k[0, 0])
        out[:, zero] = 1.0
        for j in range(zero + 1, powers):
            np.multiply(out[:, j - 1], x[:, 0], out=out[:, j])
        for j in range(zero - 1, -1, -1):
            np.divide(out[:, j + 1], x[:, 0], out=out[:, j])
        return out
    np.testing.assert_allclose(ENGINE.evaluate(graph, {"x": x, "k": k})["y"], products(), rtol=1e-14)
    ENGINE.plan(graph).compiled()
    t_products = cpu_seconds(products, repeat=7)
    print(f"pow table x[:, None] ** k, x in [-1.5, 1.5], k = -4..{powers - 5} as floats, {rows} x {powers}")
    print(row("repeated products (reference)", t_products))
    print(row("np.power (the op's forward before)", cpu_seconds(lambda: np.power(x, k), repeat=7), t_products))
    print(row("engine", cpu_seconds(lambda: ENGINE.evaluate(graph, {"x": x, "k": k}), repeat=7), t_products))


if __name__ == "__main__":
    bench_scalar_chain()
    bench_elementwise()
    bench_cheap_chain()
    bench_pow_table()
