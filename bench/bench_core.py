"""Benchmarks of the in-process core (issue 2): the engine against hand-written NumPy and,
when installed, JAX and PyTorch, all measured in this run. Run: python bench/bench_core.py"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import wengert as wg  # noqa: E402
from timing import available, median_seconds, row  # noqa: E402
from wengert.execution.engine import Engine  # noqa: E402

ENGINE = Engine()


# -- MLP: X 256x784, tanh layers 784 -> 1024 -> 1024 -> 10, mean squared error -------------
def mlp_loss(w1, b1, w2, b2, w3, b3, x, y):
    h1 = wg.tanh(x @ w1 + b1)
    h2 = wg.tanh(h1 @ w2 + b2)
    out = h2 @ w3 + b3
    return wg.mean(wg.square(out - y))


def mlp_numpy(p, x, y):
    """Hand-written forward + backward: the floor the engine is measured against."""
    w1, b1, w2, b2, w3, b3 = p
    h1 = np.tanh(x @ w1 + b1)
    h2 = np.tanh(h1 @ w2 + b2)
    out = h2 @ w3 + b3
    diff = out - y
    loss = np.mean(diff * diff)
    g_out = diff * (2.0 / diff.size)
    g_w3, g_b3 = h2.T @ g_out, g_out.sum(0)
    g_h2 = (g_out @ w3.T) * (1 - h2 * h2)
    g_w2, g_b2 = h1.T @ g_h2, g_h2.sum(0)
    g_h1 = (g_h2 @ w2.T) * (1 - h1 * h1)
    g_w1, g_b1 = x.T @ g_h1, g_h1.sum(0)
    return loss, (g_w1, g_b1, g_w2, g_b2, g_w3, g_b3)


def mlp_numpy_value(p, x, y):
    w1, b1, w2, b2, w3, b3 = p
    out = np.tanh(np.tanh(x @ w1 + b1) @ w2 + b2) @ w3 + b3
    return np.mean(np.square(out - y))


def bench_mlp(dtype: str) -> None:
    rng = np.random.default_rng(0)
    sizes = [(784, 1024), (1024, 1024), (1024, 10)]
    params = []
    for fan_in, fan_out in sizes:
        params += [(rng.normal(size=(fan_in, fan_out)) / math.sqrt(fan_in)).astype(dtype),
                   np.zeros(fan_out, dtype)]
    x = rng.normal(size=(256, 784)).astype(dtype)
    y = rng.normal(size=(256, 10)).astype(dtype)
    names = ["w1", "b1", "w2", "b2", "w3", "b3", "x", "y"]
    graph = wg.trace(mlp_loss, *params, x, y)
    feeds = dict(zip(names, params + [x, y]))
    wrt = names[:6]
    seed = {"y": np.ones((), dtype)}
    loss, grads = ENGINE.vjp(graph, feeds, seed, wrt)
    ref_loss, ref_grads = mlp_numpy(params, x, y)
    assert np.allclose(loss["y"], ref_loss, rtol=1e-4)
    assert all(np.allclose(grads[n], g, rtol=1e-3, atol=1e-5) for n, g in zip(wrt, ref_grads))

    t_np_value = median_seconds(lambda: mlp_numpy_value(params, x, y), repeat=7)
    t_np_grad = median_seconds(lambda: mlp_numpy(params, x, y), repeat=7)
    t_value = median_seconds(lambda: ENGINE.evaluate(graph, feeds), repeat=7)
    t_grad = median_seconds(lambda: ENGINE.vjp(graph, feeds, seed, wrt), repeat=7)
    print(f"MLP 256x784 -> 1024 -> 1024 -> 10, {dtype}")
    print(row("hand NumPy value", t_np_value))
    print(row("hand NumPy value+gradient (reference)", t_np_grad))
    print(row("engine value", t_value, t_np_value))
    print(row("engine value+gradient  [target <= 1.15x]", t_grad, t_np_grad))
    print(f"  cheap-gradient ratio (value+gradient / value): engine {t_grad / t_value:.2f} "
          f"[target <= 3], hand NumPy {t_np_grad / t_np_value:.2f}")
    if available("torch"):
        import torch

        tp = [torch.tensor(p, requires_grad=True) for p in params]
        tx, ty = torch.tensor(x), torch.tensor(y)

        def torch_grad():
            w1, b1, w2, b2, w3, b3 = tp
            out = torch.tanh(torch.tanh(tx @ w1 + b1) @ w2 + b2) @ w3 + b3
            return torch.autograd.grad(((out - ty) ** 2).mean(), tp)
        print(row("PyTorch value+gradient", median_seconds(torch_grad, repeat=7), t_np_grad))


# -- f(x) = sin(x) x + exp(-x^2) on R^1000: dense Jacobian ------------------------------
def bench_elementwise_jacobian(n: int = 1000) -> None:
    x = np.random.default_rng(1).normal(size=n)
    graph = wg.trace(lambda x: wg.sin(x) * x + wg.exp(-(x * x)), x)

    def by_hand():
        return np.diag(np.cos(x) * x + np.sin(x) - 2 * x * np.exp(-x * x))
    jac = ENGINE.jacobian(graph, {"x": x}).blocks[("y", "x")]
    np.testing.assert_allclose(jac, by_hand(), rtol=1e-12, atol=1e-12)
    t_hand = median_seconds(by_hand)
    print(f"Dense Jacobian of sin(x)x + exp(-x^2), n={n}")
    print(row("hand NumPy np.diag(f'(x)) (reference)", t_hand))
    for mode in ("forward", "reverse", "auto"):
        t = median_seconds(lambda: ENGINE.jacobian(graph, {"x": x}, mode=mode), repeat=7)
        print(row(f"engine {mode}", t, t_hand))
    if available("torch"):
        import torch
        from torch.func import jacfwd

        tx = torch.tensor(x)
        f = lambda v: torch.sin(v) * v + torch.exp(-v * v)  # noqa: E731
        print(row("PyTorch torch.func.jacfwd [target: engine no slower]",
                  median_seconds(lambda: jacfwd(f)(tx), repeat=7), t_hand))
    if available("jax"):
        import jax

        jax.config.update("jax_enable_x64", True)
        jf = jax.jit(jax.jacfwd(lambda v: jax.numpy.sin(v) * v + jax.numpy.exp(-v * v)))
        print(row("JAX jit(jacfwd)", median_seconds(lambda: jf(x).block_until_ready(), repeat=7), t_hand))


# -- tanh(W x + b), R^200 -> R^300 ------------------------------------------------------
def bench_layer_jacobian() -> None:
    rng = np.random.default_rng(2)
    w, b, x = rng.normal(size=(300, 200)) / 15, rng.normal(size=300), rng.normal(size=200)
    graph = wg.trace(lambda x, w, b: wg.tanh(w @ x + b), x, w, b)
    feeds = {"x": x, "w": w, "b": b}

    def by_hand():
        eye = np.eye(200)
        d = 1 - np.tanh(w @ x + b) ** 2
        return (d[:, None] * (w @ eye))  # the identity pushed forward as one batch
    jac = ENGINE.jacobian(graph, feeds, wrt=["x"]).blocks[("y", "x")]
    np.testing.assert_allclose(jac, by_hand(), rtol=1e-12, atol=1e-12)
    t_hand = median_seconds(by_hand)
    print("Jacobian of tanh(W x + b), R^200 -> R^300, wrt x")
    print(row("hand NumPy, identity pushed forward (reference)", t_hand))
    for mode in ("forward", "reverse", "auto"):
        t = median_seconds(lambda: ENGINE.jacobian(graph, feeds, wrt=["x"], mode=mode), repeat=7)
        print(row(f"engine {mode}" + ("  [target <= 1.5x]" if mode == "auto" else ""), t, t_hand))


# -- a chain of 1000 scalar ops -------------------------------------------------------------
def bench_scalar_chain(length: int = 1000) -> None:
    def chain(x):
        for i in range(length // 2):
            x = wg.sin(x) + 0.5 if i % 2 else wg.cos(x) * 0.9
        return x
    graph = wg.trace(chain, 0.3)
    ops = len(graph.nodes)

    def python_math(x=0.3):
        for i in range(length // 2):
            x = math.sin(x) + 0.5 if i % 2 else math.cos(x) * 0.9
        return x
    feeds = {"x": np.float64(0.3)}
    t_math = median_seconds(python_math)
    t_value = median_seconds(lambda: ENGINE.evaluate(graph, feeds))
    t_grad = median_seconds(lambda: ENGINE.vjp(graph, feeds, {"y": 1.0}))
    print(f"Chain of {ops} scalar ops (cost per node)")
    print(row("plain Python math, value (reference)", t_math / ops, unit="us"))
    print(row("engine value", t_value / ops, t_math / ops, unit="us"))
    print(row("engine value+gradient", t_grad / ops, t_math / ops, unit="us"))


if __name__ == "__main__":
    for dtype in ("float32", "float64"):
        bench_mlp(dtype)
    bench_elementwise_jacobian()
    bench_layer_jacobian()
    bench_scalar_chain()
