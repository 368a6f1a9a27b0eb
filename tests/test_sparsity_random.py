"""Property-based tests: on random graphs, every compressed Jacobian (any mode, dense or COO)
equals the identity pushed through one batched JVP, and its pattern never misses a nonzero."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import wengert as wg
from test_random_graphs import graphs
from test_sparsity import reference, shifted
from wengert.execution.engine import Engine

ENGINE = Engine()
UNARY = [wg.sin, wg.tanh, wg.exp, lambda v: v * v]
BINARY = [wg.add, wg.mul, wg.sub]


@st.composite
def banded_graphs(draw):
    """Vectors of length 12 mixed by random shifts and elementwise ops: banded Jacobians."""
    steps = draw(st.lists(st.tuples(st.integers(0, 2), st.integers(-3, 3), st.integers(0, 100),
                                    st.integers(0, 100)), min_size=1, max_size=8))

    def f(x):
        values = [x]
        for kind, shift, i, j in steps:
            a, b = values[i % len(values)], values[j % len(values)]
            if kind == 0 and shift:
                values.append(shifted(a, shift))
            elif kind == 1:
                values.append(BINARY[j % len(BINARY)](a, b))
            else:
                values.append(UNARY[i % len(UNARY)](a))
        return values[-1] + 0.5 * x

    return wg.trace(f, np.zeros(12))


def check(graph, inputs):
    n = sum(a.size for a in inputs.values())
    m = sum(graph.output_type(o).size for o in graph.output_names)
    for mode in ("auto", "forward", "reverse"):
        dense = ENGINE.jacobian(graph, inputs, mode=mode)
        sparse = ENGINE.jacobian(graph, inputs, mode=mode, format="sparse")
        assert sparse.sweeps == dense.sweeps <= (n if dense.mode == "forward" else m)
        for (out, wrt), block in dense.blocks.items():
            expected = reference(ENGINE, graph, inputs, wrt, out)
            np.testing.assert_allclose(block, expected, rtol=1e-12, atol=1e-12)
            coo = sparse.blocks[(out, wrt)]
            np.testing.assert_allclose(coo.todense(), expected, rtol=1e-12, atol=1e-12)
            found = np.zeros(expected.shape, bool)
            found[tuple(coo.indices.T)] = True
            assert (found | (expected == 0)).all(), "the pattern misses a nonzero"


@settings(max_examples=40, deadline=None)
@given(graph=graphs(), seed=st.integers(0, 2**32 - 1))
def test_random_graphs(graph, seed):
    rng = np.random.default_rng(seed)
    check(graph, {name: rng.normal(size=t.shape) for name, t in graph.inputs})


@settings(max_examples=40, deadline=None)
@given(graph=banded_graphs(), seed=st.integers(0, 2**32 - 1))
def test_random_banded_graphs(graph, seed):
    check(graph, {"x": np.random.default_rng(seed).normal(size=12)})
