"""What building graphs costs (issue 14, sections 1 and 3): tracing, derivative graphs,
specialising open dimensions, the first derivative call of a long recurrent function, and the
fixed cost of `value_and_grad` on a graph already seen. All in this run:

* per primal node: `wg.trace`, the gradient graph (`vjp_graph` with a unit seed), the JVP graph
  (simplification included in both) and `Engine.specialize` of a graph traced with open (-1)
  dimensions; JAX's `make_jaxpr` of the same function and of its `grad` when installed (JAX's
  tracing, the nearest thing to this work);
* GradBench's lstm eval (l layers, c characters, b = 14): the first gradient call on a fresh
  client and function (tracing, gradient graph, plan, run), the second call, the same with the
  loop over characters in a `wg.scan`, and PyTorch's value and gradient of the same function
  when installed;
* the notes' worked example, `value_and_grad` of a pre-traced graph in-process, vs PyTorch
  autograd and JAX jit.

Everything is timed in CPU seconds of this process (graph building: best of three; per call:
medians, bench/timing.py), the references single-threaded.

Run: python bench/bench_graph_building.py [--layers 2] [--chars 1024]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import wengert as wg  # noqa: E402
from wengert.autodiff.transform import jvp_graph, vjp_graph  # noqa: E402
from wengert.execution.engine import Engine  # noqa: E402
from wengert.testing import WORKED_POINT, worked_example  # noqa: E402
from timing import available, median_seconds, row  # noqa: E402

WIDTH = 14  # GradBench's lstm: characters are vectors of 14
CPU = time.process_time


# -- GradBench's lstm objective, written once over a namespace of array functions -----------
def lstm_objective(np_, main_params, extra_params, state, sequence):
    """GradBench's lstm loss (its PyTorch tool's code, op for op): `np_` is wengert's numpy
    API, torch or jax.numpy."""
    def model(weight, bias, hidden, cell, x):
        gates = np_.concatenate((x, hidden, x, hidden)) * weight + bias
        b = x.shape[0]
        forget, ingate = np_sigmoid(np_, gates[0:b]), np_sigmoid(np_, gates[b:2 * b])
        outgate, change = np_sigmoid(np_, gates[2 * b:3 * b]), np_.tanh(gates[3 * b:])
        cell = cell * forget + ingate * change
        return outgate * np_.tanh(cell), cell

    def predict(w, w2, s, x):
        x = x * w2[0]
        s2 = list(s)
        for i in range(0, len(s), 2):
            s2[i], s2[i + 1] = model(w[i], w[i + 1], s[i], s[i + 1], x)
            x = s2[i]
        return x * w2[1] + w2[2], s2

    total, count = 0.0, 0
    x, s = sequence[0], [state[i] for i in range(state.shape[0])]
    for t in range(sequence.shape[0] - 1):
        ypred, s = predict(main_params, extra_params, s, x)
        ynorm = ypred - np_.log(np_.sum(np_.exp(ypred)) + 2)
        ygold = sequence[t + 1]
        total = total + np_.sum(ygold * ynorm)
        count += ygold.shape[0]
        x = ygold
    return -total / count


def np_sigmoid(np_, x):
    return np_.sigmoid(x) if hasattr(np_, "sigmoid") else 1 / (1 + np_.exp(-x))


def lstm_inputs(layers: int, chars: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    return (rng.uniform(-1, 1, (2 * layers, 4 * WIDTH)), rng.uniform(-1, 1, (3, WIDTH)),
            rng.uniform(-1, 1, (2 * layers, WIDTH)), rng.uniform(-1, 1, (chars, WIDTH)))


def wengert_lstm(main_params, extra_params, state, sequence):
    return lstm_objective(wg, main_params, extra_params, state, sequence)


def wengert_lstm_scanned(main_params, extra_params, state, sequence):
    """The same loss with the characters in a `wg.scan`: a graph of ten nodes, whatever `c`."""
    def step(carry, pair):
        s, total = carry
        x, rows = pair[0] * extra_params[0], []
        for i in range(0, state.shape[0], 2):
            weight, bias = main_params[i], main_params[i + 1]
            gates = wg.concatenate((x, s[i], x, s[i])) * weight + bias
            forget, ingate = wg.sigmoid(gates[0:WIDTH]), wg.sigmoid(gates[WIDTH:2 * WIDTH])
            outgate, change = wg.sigmoid(gates[2 * WIDTH:3 * WIDTH]), wg.tanh(gates[3 * WIDTH:])
            cell = s[i + 1] * forget + ingate * change
            x = outgate * wg.tanh(cell)
            rows += [x, cell]
        ypred = x * extra_params[1] + extra_params[2]
        ynorm = ypred - wg.log(wg.sum(wg.exp(ypred)) + 2)
        return (wg.stack(rows), total + wg.sum(pair[1] * ynorm)), 0.0
    pairs = wg.stack([sequence[:-1], sequence[1:]], axis=1)
    (_, total), _ = wg.scan(step, (state, 0.0), pairs)
    return -total / ((sequence.shape[0] - 1) * sequence.shape[1])


def sines(steps: int):
    """bench_sdk's loop `x = sin(x) * 0.9 + 0.1`, three nodes a step, summed."""
    def f(x):
        for _ in range(steps):
            x = wg.sin(x) * 0.9 + 0.1
        return wg.sum(x)
    return f


# -- per node ------------------------------------------------------------------------------
def once(fn) -> float:
    """CPU seconds of one call: on a shared machine wall time mostly measures the neighbours
    (the references are single-threaded, so theirs is comparable)."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def best_of(fn, rounds: int = 3) -> float:
    return min(once(fn) for _ in range(rounds))


def per_node(layers: int, chars: int) -> None:
    args = lstm_inputs(layers, chars)
    graph = wg.trace(wengert_lstm, *args)
    n = len(graph.nodes)
    print(f"per primal node: GradBench lstm l={layers} c={chars}, {n} primal nodes (us per node)")
    cases = {
        "trace": lambda: wg.trace(wengert_lstm, *args),
        "gradient graph (vjp_graph, unit seed)": lambda: vjp_graph(graph, ["main_params", "extra_params"],
                                                                  unit_seeds=True),
        "JVP graph (jvp_graph)": lambda: jvp_graph(graph, ["main_params", "extra_params"]),
    }
    jax_cases = {}
    if available("jax"):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        def jax_lstm():  # a new function each time: JAX caches traces by function
            return lambda *a: lstm_objective(jnp, *a)
        jax_cases = {"trace": lambda: jax.make_jaxpr(jax_lstm())(*args),
                     "gradient graph (vjp_graph, unit seed)":
                         lambda: jax.make_jaxpr(jax.grad(jax_lstm(), argnums=(0, 1)))(*args),
                     "JVP graph (jvp_graph)":
                         lambda: jax.make_jaxpr(lambda a, b, c, d: jax.jvp(jax_lstm(), (a, b, c, d),
                                                                           (a, b, 0 * c, 0 * d)))(*args)}
    print(f"  {'':<48} {'wengert':>13}  {'JAX make_jaxpr':>14}")
    for label, fn in cases.items():
        seconds = best_of(fn)
        reference = best_of(jax_cases[label]) if label in jax_cases else None
        jax_text = f"{reference / n * 1e6:11.2f} us" if reference else ""
        ratio = f"{seconds / reference:7.2f}x" if reference else ""
        print(f"  {label:<48} {seconds / n * 1e6:10.2f} us  {jax_text:>14}  {ratio}")
    dgraph = vjp_graph(graph, ["main_params", "extra_params"], unit_seeds=True)
    tgraph = jvp_graph(graph, ["main_params", "extra_params"])
    print(f"  gradient graph {len(dgraph.nodes)} nodes, JVP graph {len(tgraph.nodes)} nodes")


def specialize(steps: int) -> None:
    """A graph traced with an open (-1) dimension, specialised to the shapes of its inputs."""
    open_graph = wg.trace(sines(steps), wg.spec((-1,)))
    n = len(open_graph.nodes)
    feeds = {"x": np.linspace(-1.0, 1.0, 100)}
    seconds = best_of(lambda: Engine().specialize(open_graph, feeds))
    print(f"specialising open dimensions: the loop x = sin(x) * 0.9 + 0.1, {n} nodes")
    print(f"  {'Engine.specialize':<48} {seconds / n * 1e6:10.2f} us per node, {seconds * 1e3:.1f} ms in all")


# -- the first derivative call --------------------------------------------------------------
def first_gradient(layers: int, chars: int) -> None:
    args = lstm_inputs(layers, chars)
    print(f"GradBench lstm l={layers} c={chars}: gradient w.r.t. main_params and extra_params")
    client = wg.Client.local()
    f = wg.function(wengert_lstm)
    first = once(lambda: client.grad(f, *args, argnums=(0, 1)))
    second = best_of(lambda: client.grad(f, *args, argnums=(0, 1)))
    graph = f.trace(*args).graph
    print(f"  {len(graph.nodes)} primal nodes")
    reference = None
    if available("torch"):
        import torch

        torch.set_num_threads(1)
        tensors = [torch.tensor(a) for a in args]

        def torch_grad():
            main, extra = (t.clone().requires_grad_() for t in tensors[:2])
            loss = lstm_objective(torch, main, extra, *tensors[2:])
            return torch.autograd.grad(loss, (main, extra))
        reference = best_of(torch_grad)
        print(row("PyTorch value and gradient (reference)", reference, reference))
    print(row("wengert first call (trace, graphs, plan, run)", first, reference))
    print(row("wengert second call", second, reference))
    client, f = wg.Client.local(), wg.function(wengert_lstm_scanned)
    first = once(lambda: client.grad(f, *args, argnums=(0, 1)))
    print(row("wengert first call, the loop in a wg.scan", first, reference))
    print(row("wengert second call, the loop in a wg.scan", best_of(lambda: client.grad(f, *args, argnums=(0, 1))),
              reference))


# -- fixed cost per call -----------------------------------------------------------------------
def worked_value_and_grad() -> None:
    print("the worked example, value_and_grad in-process, pre-traced graph (ratios: to PyTorch)")
    client = wg.Client.local()
    graph = wg.trace(worked_example, 2.0, 5.0)
    x1, x2 = WORKED_POINT["x1"], WORKED_POINT["x2"]
    ours = median_seconds(lambda: client.value_and_grad(graph, x1, x2, wrt=["x1", "x2"]), clock=CPU)
    reference = None
    if available("torch"):
        import torch

        def torch_value_and_grad():
            a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
            b = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
            y = torch.log(a) + a * b - torch.sin(b)
            return y.item(), torch.autograd.grad(y, (a, b))
        reference = median_seconds(torch_value_and_grad, clock=CPU)
        print(row("PyTorch autograd", reference, reference, "us"))
    if available("jax"):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        jitted = jax.jit(jax.value_and_grad(lambda a, b: jnp.log(a) + a * b - jnp.sin(b), argnums=(0, 1)))
        print(row("JAX jit", median_seconds(lambda: jax.block_until_ready(jitted(2.0, 5.0)), clock=CPU),
                  reference, "us"))
    print(row("wengert value_and_grad(graph)", ours, reference, "us"))
    function = wg.function(worked_example)
    print(row("wengert value_and_grad(wg.function)",
              median_seconds(lambda: client.value_and_grad(function, x1, x2, argnums=(0, 1)), clock=CPU),
              reference, "us"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--chars", type=int, default=1024)
    parser.add_argument("--per-node-chars", type=int, default=64)
    options = parser.parse_args()
    per_node(options.layers, options.per_node_chars)
    specialize(1000)
    first_gradient(options.layers, options.chars)
    worked_value_and_grad()


if __name__ == "__main__":
    main()
