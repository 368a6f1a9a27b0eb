"""What the SDK adds to a request: a Python function called in a loop is traced once per
signature (wengert.tracing), so its cost per call is the pre-traced graph's (issue 13 measured
13x before the cache). For the issue's loop of 200 steps (`x = sin(x) * 0.9 + 0.1`, 601 op
nodes) and a long one of 2,500 steps (7,501 op nodes), in-process and through a server, all
in this run:

* `client.grad(graph, x)` with the graph traced beforehand: the reference;
* `client.grad(f, x)` with the plain function: traced on the first call, then from the cache;
* `client.grad(wg.function(f), x)`: the same cache, made explicit;
* `client.grad(wg.trace(f, x), x)`: tracing on every call, which is what the SDK did before.

Also the graph's size: op nodes grow with the loop, constant nodes do not.

Run: python bench/bench_sdk.py
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import wengert as wg  # noqa: E402
from wengert.testing import start_server  # noqa: E402
from timing import median_seconds, row  # noqa: E402

X = np.linspace(-1.0, 1.0, 100)


def looped(steps: int):
    def f(x):
        for _ in range(steps):
            x = wg.sin(x) * 0.9 + 0.1
        return wg.sum(x)
    return f


def measure(connect: Callable[[], wg.Client], steps: int, rounds: int) -> None:
    """Each case on a client of its own (the engine's caches are keyed by graph), timed in
    turns, so that a slow moment of the shared machine hits every case alike."""
    f = looped(steps)
    clients = [connect() for _ in range(4)]
    graph = wg.trace(f, X, registry=clients[0].registry)
    function = wg.function(looped(steps))
    cases = {
        "pre-traced graph": lambda c: c.grad(graph, X),
        "plain function (traced once, cached)": lambda c: c.grad(f, X),
        "wg.function": lambda c: c.grad(function, X),
        "traced on every call (before the cache)": lambda c: c.grad(wg.trace(f, X, registry=c.registry), X),
    }
    samples: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(rounds):
        for client, (label, call) in zip(clients, cases.items()):
            samples[label].append(median_seconds(lambda: call(client), repeat=3, min_time=0.05))
    for client in clients:
        client.close()
    constants = sum(node.op == "constant" for node in graph.nodes)
    print(f"  {steps} steps: {len(graph.nodes) - constants} op nodes, {constants} constant nodes")
    reference = statistics.median(samples["pre-traced graph"])
    for label, times in samples.items():
        print(row(label, statistics.median(times), reference))


def main() -> None:
    print("client.grad of a loop, per call (ratios: to the pre-traced graph)")
    print("in-process (Client.local())")
    measure(wg.Client.local, 200, 7)
    measure(wg.Client.local, 2500, 7)
    with start_server() as server:
        print("through a server")
        measure(lambda: wg.Client(server.target), 200, 7)
        measure(lambda: wg.Client(server.target), 2500, 7)


if __name__ == "__main__":
    main()
