"""Loops without unrolling (issue 15): ratios measured in one run.

1. Reverse mode through 100,000 steps: time and peak memory storing every state (`all`) against
   binomial checkpointing with 20 snapshots, predicted by the resource model and measured.
2. An RK4 integrator, the shape of GradBench's `ode` (y0' = x0, yi' = xi y(i-1), from y = 0 to
   t = 2; the gradient is of the last component) scaled down to N states and S steps: its value
   and gradient as a `fori_loop` against the same code unrolled into a graph, for building the
   graph plus the first call, and in the steady state; JAX (`lax.fori_loop` under `jit`) and
   PyTorch (a Python loop under autograd) when installed. The reference is hand-written NumPy.

    python bench/bench_loops.py                                  # the tables
    python bench/bench_loops.py --plot docs/control-flow.png     # and the figure (needs matplotlib)

The figure is the trade-off itself, from the schedules' exact counts (wengert.loops.checkpointing):
states kept at once against forward steps computed, for each policy, through 100,000 steps.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import wengert as wg  # noqa: E402
from timing import available, median_seconds, row  # noqa: E402
from wengert.execution.call import Call  # noqa: E402
from wengert.execution.engine import Engine  # noqa: E402
from wengert.loops.checkpointing import Checkpoint, Schedule  # noqa: E402

N, S = 100, 1000  # GradBench's ode runs n = 1000 states, 10,000 steps; scaled down
H = 2.0 / S


# -- the integrator, four ways ---------------------------------------------------------------------
def rhs(concatenate, x):
    """y' = (x0, x1 y0, x2 y1, ...) in the array library whose `concatenate` is given."""
    return lambda y: concatenate([x[:1], x[1:] * y[:-1]])


def step(f, y):
    """One RK4 step of y' = f(y): the same arithmetic for every library."""
    k1 = f(y)
    k2 = f(y + H / 2 * k1)
    k3 = f(y + H / 2 * k2)
    k4 = f(y + H * k3)
    return y + H / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def rk4(x, y):
    return step(rhs(wg.concatenate, x), y)


def looped(x):
    return wg.fori_loop(0, S, lambda i, y: rk4(x, y), wg.zeros_like(x))


def unrolled(x):
    y = wg.zeros_like(x)
    for _ in range(S):
        y = rk4(x, y)
    return y


def numpy_value(x):
    f, y = rhs(np.concatenate, x), np.zeros_like(x)
    for _ in range(S):
        y = step(f, y)
    return y


def first_call(make) -> float:
    start = time.perf_counter()
    make()
    return time.perf_counter() - start


def ode() -> None:
    x = np.linspace(0.5, 1.5, N)
    engine = Engine()
    reference = median_seconds(lambda: numpy_value(x), repeat=5)
    print(f"\nRK4 integrator, GradBench ode shape scaled to {N} states, {S} steps "
          f"(ratios against NumPy's value, {reference * 1e3:.1f} ms)")
    for name, f in (("fori_loop", looped), ("unrolled", unrolled)):
        graph = None

        def build():
            nonlocal graph
            graph = wg.trace(f, x)
            engine.evaluate(graph, {"x": x})
        print(row(f"{name}: trace + first value ({wg.trace(f, x).node_count} nodes)", first_call(build), reference))
        print(row(f"{name}: value, steady", median_seconds(lambda: engine.evaluate(graph, {"x": x}), repeat=5),
                  reference))
        gradient = wg.trace(lambda x: f(x)[N - 1], x)
        print(row(f"{name}: first gradient", first_call(lambda: engine.vjp(gradient, {"x": x}, {"y": np.float64(1)})),
                  reference))
        print(row(f"{name}: gradient, steady",
                  median_seconds(lambda: engine.vjp(gradient, {"x": x}, {"y": np.float64(1)}), repeat=5), reference))
    if available("jax"):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        value = jax.jit(lambda x: jax.lax.fori_loop(0, S, lambda i, y: step(rhs(jnp.concatenate, x), y),
                                                    jnp.zeros_like(x)))
        grad = jax.jit(jax.grad(lambda x: value(x)[N - 1]))
        jx = jnp.asarray(x)
        print(row("JAX lax.fori_loop, jit: compile + first value", first_call(lambda: value(jx).block_until_ready()),
                  reference))
        print(row("JAX: value, steady", median_seconds(lambda: value(jx).block_until_ready(), repeat=5), reference))
        print(row("JAX: compile + first gradient", first_call(lambda: grad(jx).block_until_ready()), reference))
        print(row("JAX: gradient, steady", median_seconds(lambda: grad(jx).block_until_ready(), repeat=5), reference))
    if available("torch"):
        import torch

        def tvalue(x):
            f, y = rhs(torch.cat, x), torch.zeros_like(x)
            for _ in range(S):
                y = step(f, y)
            return y

        tx = torch.tensor(x)
        with torch.no_grad():
            print(row("PyTorch loop: value", median_seconds(lambda: tvalue(tx), repeat=5), reference))

        def tgrad():
            xx = tx.clone().requires_grad_(True)
            tvalue(xx)[N - 1].backward()
            return xx.grad
        print(row("PyTorch loop: gradient (autograd)", median_seconds(tgrad, repeat=5), reference))


# -- checkpointing through 100,000 steps ----------------------------------------------------------------
LONG, WIDTH = 100_000, 100


def peak_rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def checkpointing() -> None:
    x, a = np.linspace(0, 1, WIDTH), np.float64(1.3)

    def f(x0, a):
        c, _ = wg.scan(lambda c, _: (c + 0.001 * wg.sin(a * c), None), x0, None, length=LONG)
        return wg.sum(c)
    graph = wg.trace(f, x, a)
    print(f"Reverse mode through {LONG:,} steps of a {WIDTH}-state recurrence (ratios against `all`)")
    results = {}
    for policy in (Checkpoint("all"), Checkpoint("binomial", snapshots=20)):
        engine = Engine()
        call = Call("Vjp", graph, {"x0": x, "a": a}, cotangents={"y": np.float64(1)}, checkpoint=policy)
        predicted = engine.cost(call).peak_bytes
        prepared = engine.prepare(call)
        reset_peak()
        before = peak_rss()
        start = time.perf_counter()
        prepared.run()
        results[policy.policy] = (time.perf_counter() - start, predicted, peak_rss() - before)
    base = results["all"]
    for name, (seconds, predicted, measured) in results.items():
        print(f"  {name:<10} {seconds:8.2f} s ({seconds / base[0]:5.2f}x)   predicted peak "
              f"{predicted / 2**20:8.2f} MiB ({predicted / base[1]:.4f}x)   measured growth "
              f"{measured / 2**20:8.2f} MiB ({measured / max(base[2], 1):.4f}x)")


def plot(path: str, steps: int = LONG) -> None:
    """States kept against steps computed (in sweeps of the loop) for each policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def point(schedule: Schedule) -> tuple[int, float]:
        return schedule.stored, (schedule.advances() + steps) / steps  # the backward sweep runs each step once more

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    every = [point(Schedule("every_k", steps, every=k)) for k in np.unique(np.geomspace(2, math.isqrt(steps), 30).astype(int))]
    binomial = [point(Schedule("binomial", steps, snapshots=s)) for s in np.unique(np.geomspace(2, 4000, 60).astype(int))]
    ax.plot(*zip(*binomial), "-", color="C0", label="binomial (revolve), 2 .. 4000 snapshots")
    ax.plot(*zip(*every), "-", color="C1", label="every_k, k = 2 .. sqrt(n)")
    ax.plot(*point(Schedule("all", steps)), "o", color="C2", label="all")
    for s in (20,):
        ax.annotate(f"binomial, {s} snapshots", point(Schedule("binomial", steps, snapshots=s)), textcoords="offset points",
                    xytext=(12, 8), arrowprops={"arrowstyle": "-"})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("states kept at once (memory)")
    ax.set_ylabel("body runs / n (work: forward and backward)")
    ax.set_title(f"Reverse mode through n = {steps:,} steps")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="PNG", help="also draw the memory/recomputation trade-off")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args.plot:
        plot(args.plot)
    checkpointing()  # first: memory the process freed earlier would hide the growth it measures
    ode()
