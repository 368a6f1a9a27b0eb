"""Functions traced once: `wg.function` and the cache behind every client method keep a graph
per input signature; tracing shares constants, so a loop of N steps costs O(N) op nodes and
O(1) constants, on both clients."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import wengert as wg
from wengert.tracing import as_function

STEPS = 200


def loop(x):
    """The issue's loop: 200 steps, each using the same two Python numbers."""
    for _ in range(STEPS):
        x = wg.sin(x) * 0.9 + 0.1
    return wg.sum(x)


def loop_by_hand(x):
    dx = np.ones_like(x)
    for _ in range(STEPS):
        dx = dx * np.cos(x) * 0.9
        x = np.sin(x) * 0.9 + 0.1
    return x.sum(), dx


class Counting:
    """A function that counts how often it is traced."""

    def __init__(self, body):
        self.body, self.calls = body, 0
        functools.update_wrapper(self, body)  # its signature is the body's

    def __call__(self, *args):
        self.calls += 1
        return self.body(*args)


def test_a_loop_makes_o_n_op_nodes_and_o_1_constants():
    graph = wg.trace(loop, np.zeros(3))
    ops = [n.op for n in graph.nodes]
    assert ops.count("constant") == 2  # 0.9 and 0.1, each held once
    assert len(ops) - 2 == 3 * STEPS + 1  # sin, mul, add per step, and the sum
    two_arrays = wg.trace(lambda x: x * np.arange(3.0) + x * np.arange(3.0), np.zeros(3))
    assert [n.op for n in two_arrays.nodes].count("constant") == 1  # equal tensors shared


def test_a_function_is_traced_once_per_signature(client):
    f = Counting(lambda x, y: sum(wg.sum(leaf * y) for leaf in wg.tree.leaves(x)))
    fn = wg.function(f)
    for _ in range(3):
        assert client.grad(fn, np.ones(3), np.arange(3.0)) == pytest.approx([0.0, 1.0, 2.0])
    assert f.calls == 1
    client.grad(fn, np.ones(4), np.arange(4.0))  # another shape
    client.grad(fn, np.ones(3, np.float32), np.arange(3.0, dtype=np.float32))  # another dtype
    client.grad(fn, 1.0, 2.0)  # Python numbers: weakly typed
    client.grad(fn, np.float64(1.0), np.float64(2.0))  # the same as 0-d arrays, strongly typed
    client.grad(fn, [np.ones(3)], np.arange(3.0))  # another structure
    assert f.calls == 6
    client.value_and_grad(fn, np.ones(3), np.arange(3.0))
    client.jacobian(fn, np.ones(3), np.arange(3.0))
    assert f.calls == 6  # every method shares the cache
    assert fn.trace(np.ones(3), np.arange(3.0)) is fn.trace(np.zeros(3), np.ones(3))


def test_plain_functions_go_through_the_same_cache_keyed_by_the_function(client):
    f = Counting(loop)
    x = np.linspace(0, 1, 3)
    expected_value, expected_grad = loop_by_hand(x)
    for _ in range(3):
        value, grad = client.value_and_grad(f, x)
        assert value == pytest.approx(expected_value, rel=1e-14)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)
    assert f.calls == 1
    assert as_function(f).trace(x) is as_function(f).trace(x)


def test_a_traced_graph_keeps_the_globals_it_read_until_traced_again(client):
    scale = {"value": np.float64(2.0)}
    f = wg.function(lambda x: x * scale["value"])
    assert client.evaluate(f, 1.0) == 2.0
    scale["value"] = np.float64(3.0)
    assert client.evaluate(f, 1.0) == 2.0  # the documented caveat, as with jax.jit
    f.clear()
    assert client.evaluate(f, 1.0) == 3.0


def test_static_arguments_are_part_of_the_signature(client):
    f = Counting(lambda x, n, name: x ** n if name == "power" else x * n)
    fn = wg.function(f, static_argnums=(1,), static_argnames="name")
    assert client.grad(fn, 3.0, 2, "power") == 6.0
    assert client.grad(fn, 3.0, 2, "power") == 6.0
    assert client.grad(fn, 3.0, 3, "power") == 27.0
    assert client.grad(fn, 3.0, 3, "scale") == 3.0
    assert f.calls == 3
    assert fn(3.0, 2, name="power") == 9.0  # keyword arguments bind to their parameters
    with pytest.raises(wg.InvalidRequest, match="must be hashable"):
        wg.function(lambda x, opts: x, static_argnums=1)(1.0, {"a": 1})
    with pytest.raises(wg.InvalidRequest, match="argnums 1 selects no arrays"):
        client.grad(fn, 3.0, 2, "power", argnums=1)


def test_calling_a_function_evaluates_it_on_the_default_client(client):
    fn = wg.function(lambda p: {"double": p["x"] * 2})
    with wg.default_client(client):
        assert fn({"x": np.arange(2.0)})["double"] == pytest.approx([0.0, 2.0])
    assert fn({"x": 1.0}) == {"double": 2.0}  # in-process when none is set


def test_a_function_called_in_a_trace_is_traced_once_and_inlined(client):
    body = Counting(lambda x: wg.sin(x) * 0.9 + 0.1)
    step = wg.function(body)

    def looped(x):
        for _ in range(STEPS):
            x = step(x)
        return wg.sum(x)

    x = np.linspace(0, 1, 3)
    value, grad = client.value_and_grad(looped, x)
    expected_value, expected_grad = loop_by_hand(x)
    assert value == pytest.approx(expected_value, rel=1e-14)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)
    assert body.calls == 1
    graph = wg.trace(looped, x)
    assert [n.op for n in graph.nodes].count("constant") == 2 and len(graph.nodes) == 3 * STEPS + 3
