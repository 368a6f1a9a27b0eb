"""Derivative graphs keep their quality while their building gets faster: the node counts of a
few graphs, and of their JVP, gradient and Hessian-vector graphs after simplification, may
shrink but never grow. The counts were recorded before the builder's fast paths (issue 14);
lower a count when a change earns it."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from wengert.autodiff.transform import jvp_graph, vjp_graph
from wengert.ir.builder import apply
from wengert.testing import worked_example


def lstm(main_params, extra_params, state, sequence):
    """GradBench's lstm loss, two layers (as bench/bench_graph_building.py has it)."""
    def model(weight, bias, hidden, cell, x):
        gates = wg.concatenate((x, hidden, x, hidden)) * weight + bias
        b = x.shape[0]
        forget, ingate = wg.sigmoid(gates[0:b]), wg.sigmoid(gates[b:2 * b])
        outgate, change = wg.sigmoid(gates[2 * b:3 * b]), wg.tanh(gates[3 * b:])
        cell = cell * forget + ingate * change
        return outgate * wg.tanh(cell), cell

    total, count = 0.0, 0
    x, s = sequence[0], [state[i] for i in range(state.shape[0])]
    for t in range(sequence.shape[0] - 1):
        x = x * extra_params[0]
        for i in range(0, len(s), 2):
            s[i], s[i + 1] = model(main_params[i], main_params[i + 1], s[i], s[i + 1], x)
            x = s[i]
        ypred = x * extra_params[1] + extra_params[2]
        ynorm = ypred - wg.log(wg.sum(wg.exp(ypred)) + 2)
        total = total + wg.sum(sequence[t + 1] * ynorm)
        count += sequence.shape[1]
        x = sequence[t + 1]
    return -total / count


def mlp(w1, b1, w2, b2, x, y):
    h = wg.tanh(x @ w1 + b1)
    return wg.mean((h @ w2 + b2 - y) ** 2)


def sines(x):
    for _ in range(20):
        x = wg.sin(x) * 0.9 + 0.1
    return wg.sum(x)


def looped(w, xs):
    (h, _), hs = wg.scan(lambda carry, x: ((wg.tanh(w @ carry[0] + x), carry[1] + 1.0), carry[0]),
                         (xs[0], 0.0), xs)
    return wg.sum(h) + wg.sum(hs * hs)


rng = np.random.default_rng(0)
GRAPHS = {
    "worked example": (worked_example, (2.0, 5.0)),
    "lstm": (lstm, (rng.uniform(-1, 1, (4, 8)), rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (4, 2)),
                    rng.uniform(-1, 1, (6, 2)))),
    "mlp": (mlp, (rng.normal(size=(3, 4)), np.zeros(4), rng.normal(size=(4, 2)), np.zeros(2),
                  rng.normal(size=(5, 3)), rng.normal(size=(5, 2)))),
    "sines": (sines, (np.linspace(-1, 1, 5),)),
    "scan": (looped, (0.3 * rng.normal(size=(3, 3)), rng.normal(size=(4, 3)))),
}
# (primal, JVP, gradient, Hessian-vector) node counts, recorded before issue 14's changes.
RECORDED = {
    "worked example": (5, 14, 12, 28),
    "lstm": (318, 778, 843, 2368),
    "mlp": (9, 29, 30, 79),
    "sines": (63, 124, 123, 281),
    "scan": (11, 26, 31, 65),
}


def counts(name: str) -> tuple[int, int, int, int]:
    f, args = GRAPHS[name]
    graph = wg.trace(f, *args)
    wrt = [n for n, t in graph.inputs if t.is_float]
    gradient = vjp_graph(graph, wrt, unit_seeds=True)
    hvp = jvp_graph(gradient, wrt)  # forward over reverse, as the engine's Hessians are
    return len(graph.nodes), len(jvp_graph(graph, wrt).nodes), len(gradient.nodes), len(hvp.nodes)


@pytest.mark.parametrize("name", GRAPHS)
def test_node_counts_after_simplification_do_not_grow(name):
    got, recorded = counts(name), RECORDED[name]
    assert all(g <= r for g, r in zip(got, recorded)), f"{name}: {got} nodes, recorded {recorded}"


def test_a_signature_seen_before_is_checked_again_for_attributes_python_finds_equal():
    """The builder keeps the signatures it has checked; 1 == True in Python, not in a schema."""
    x = np.ones((2, 3))
    graph = wg.trace(lambda x: wg.sum(x, axis=0, keepdims=True), x)
    assert graph.nodes[0].attrs == (("axis", (0,)), ("keepdims", True))
    with pytest.raises(wg.InvalidGraph, match=r"node 'v1' \(sum\): attribute 'keepdims' must be a boolean, got 1"):
        wg.trace(lambda x: apply("sum", x, axis=0, keepdims=1), x)
    assert wg.trace(lambda x: wg.sum(x, axis=1), x).output_type("y").shape == (2,)
    with pytest.raises(wg.InvalidGraph, match=r"attribute 'axis' must be a list of integers, got True"):
        wg.trace(lambda x: wg.sum(x, axis=True), x)


def test_a_signature_seen_before_on_other_types_is_checked_again():
    assert wg.trace(lambda x: wg.reshape(x, (3, 2)), np.ones((2, 3))).output_type("y").shape == (3, 2)
    with pytest.raises(wg.InvalidGraph, match=r"node 'v1' \(reshape\): cannot reshape size 8"):
        wg.trace(lambda x: wg.reshape(x, (3, 2)), np.ones((2, 4)))
