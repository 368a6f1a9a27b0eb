"""Property-based tests on random well-formed graphs: for any graph built from smooth ops,
FORWARD and REVERSE Jacobians agree, JVP and VJP satisfy <u, J v> = <J^T u, v>, and the JVP
matches central finite differences."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import wengert as wg
from wengert.execution.engine import Engine
from wengert.plugins.checker import check_graph

ENGINE = Engine()  # shared on purpose: its caches are part of what is exercised

UNARY = [wg.sin, wg.cos, wg.tanh, wg.sigmoid, wg.softplus, wg.arctan, wg.square,
         lambda v: wg.exp(wg.tanh(v)), lambda v: wg.sum(v, axis=-1, keepdims=True) if v.ndim else 2 * v]
BINARY = [wg.add, wg.sub, wg.mul, lambda a, b: a / (1.5 + wg.tanh(b)), wg.maximum]
SHAPES = [(), (3,), (2, 3), (1, 3)]


@st.composite
def graphs(draw):
    """A random graph: 1-3 inputs of broadcast-compatible shapes, then 1-8 random ops."""
    shapes = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3))
    steps = draw(st.lists(st.tuples(st.booleans(), st.integers(0, 100), st.integers(0, 100),
                                    st.integers(0, 100)), min_size=1, max_size=8))

    def f(*xs):
        values = list(xs)
        for binary, k, i, j in steps:
            a, b = values[i % len(values)], values[j % len(values)]
            values.append(BINARY[k % len(BINARY)](a, b) if binary else UNARY[k % len(UNARY)](a))
        return {"y": values[-1], "z": wg.sum(values[len(xs):][0])}

    return wg.trace(f, *(wg.spec(s) for s in shapes), names=[f"x{i}" for i in range(len(shapes))])


@settings(max_examples=60, deadline=None)
@given(graph=graphs(), seed=st.integers(0, 2**32 - 1))
def test_forward_and_reverse_jacobians_agree(graph, seed):
    rng = np.random.default_rng(seed)
    inputs = {name: rng.normal(size=t.shape) for name, t in graph.inputs}
    forward = ENGINE.jacobian(graph, inputs, mode="forward")
    reverse = ENGINE.jacobian(graph, inputs, mode="reverse")
    assert forward.blocks.keys() == reverse.blocks.keys()
    for key, block in forward.blocks.items():
        np.testing.assert_allclose(block, reverse.blocks[key], rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(graph=graphs(), seed=st.integers(0, 2**32 - 1))
def test_jvp_vjp_and_finite_differences_agree(graph, seed):
    rng = np.random.default_rng(seed)
    inputs = {name: rng.normal(size=t.shape) for name, t in graph.inputs}
    assert check_graph(ENGINE, graph, inputs, rng) == []
