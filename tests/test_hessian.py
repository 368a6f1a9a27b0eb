"""Hessians and Hessian-vector products, forward over reverse on the gradient graph: against
finite differences of gradients, exactly on Rosenbrock, symmetric, for every builtin op in the
live registry, and with an error naming the op whose rules cannot be differentiated again."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from wengert.ir.builder import GraphBuilder
from wengert.execution.engine import Engine
from wengert.errors import InvalidRequest, NoDerivative
from wengert.ir.graph import TensorType
from wengert.plugins.checker import op_examples
from wengert.plugins.opdef import OpDef
from wengert.plugins.registry import default_registry
from wengert.plugins.shapes import same_as_first

REGISTRY = default_registry()
STEP = 1e-6


def gradient(engine, graph, inputs, wrt):
    return engine.vjp(graph, inputs, {graph.output_names[0]: 1.0}, wrt)[1]


def gradient_differences(engine, graph, inputs, directions):
    """(grad f(x + h v) - grad f(x - h v)) / 2h: H v by central differences of gradients."""
    wrt = list(directions)
    plus = {k: a + STEP * directions[k] if k in directions else a for k, a in inputs.items()}
    minus = {k: a - STEP * directions[k] if k in directions else a for k, a in inputs.items()}
    gp, gm = gradient(engine, graph, plus, wrt), gradient(engine, graph, minus, wrt)
    return {k: (gp[k] - gm[k]) / (2 * STEP) for k in wrt}


def rosenbrock(x):
    return wg.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i, i + 1] = h[i + 1, i] = -400 * x[i]
        h[i + 1, i + 1] += 200
    return h


@pytest.mark.parametrize("format", ["dense", "sparse"])
def test_rosenbrock_hessian_is_exact(engine, format):
    x = np.array([1.2, 0.7, -0.3, 2.0, 0.1, -1.5])
    result = engine.hessian(wg.trace(rosenbrock, x), {"x": x}, format=format)
    block = result.blocks[("x", "x")]
    h = block if format == "dense" else block.todense()
    np.testing.assert_allclose(h, rosenbrock_hessian(x), rtol=1e-14, atol=1e-12)
    assert result.sweeps == 3  # tridiagonal: a star colouring needs 3 colours whatever n is
    assert result.nnz == 3 * len(x) - 2
    assert result.value == pytest.approx(sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))
    expected = gradient(engine, wg.trace(rosenbrock, x), {"x": x}, ["x"])
    np.testing.assert_allclose(result.gradient["x"], expected["x"])


def mixed(a, b, c):
    """Several inputs of several shapes, coupled nonlinearly."""
    return wg.sum(wg.sin(a) * b[0]) + wg.logsumexp(a @ c) + wg.sum(b * b * wg.tanh(b))


def mixed_inputs(rng):
    return {"a": rng.standard_normal((2, 3)), "b": rng.standard_normal(4), "c": rng.standard_normal((3, 2))}


def test_hessian_blocks_match_finite_differences_of_gradients(engine):
    rng = np.random.default_rng(1)
    inputs = mixed_inputs(rng)
    graph = wg.trace(mixed, *inputs.values())
    result = engine.hessian(graph, inputs)
    for a, x in inputs.items():
        for b, y in inputs.items():
            assert result.blocks[(a, b)].shape == x.shape + y.shape
    for b, y in inputs.items():  # column j of every row block = H e_j by differences
        for j in np.ndindex(y.shape):
            e = {k: np.zeros(v.shape) for k, v in inputs.items()}
            e[b][j] = 1.0
            expected = gradient_differences(engine, graph, inputs, e)
            for a in inputs:
                got = result.blocks[(a, b)][(...,) + j]
                np.testing.assert_allclose(got, expected[a], rtol=1e-5, atol=1e-6)


def test_hessian_is_symmetric(engine):
    rng = np.random.default_rng(2)
    inputs = mixed_inputs(rng)
    result = engine.hessian(wg.trace(mixed, *inputs.values()), inputs)
    names = list(inputs)
    sizes = [inputs[k].size for k in names]
    full = np.block([[result.blocks[(a, b)].reshape(inputs[a].size, inputs[b].size) for b in names]
                     for a in names])
    assert full.shape == (sum(sizes), sum(sizes))
    np.testing.assert_allclose(full, full.T, rtol=1e-12, atol=1e-12)


def test_hessian_with_respect_to_some_inputs(engine):
    rng = np.random.default_rng(3)
    inputs = mixed_inputs(rng)
    graph = wg.trace(mixed, *inputs.values())
    full = engine.hessian(graph, inputs)
    some = engine.hessian(graph, inputs, wrt=["c", "a"])
    assert set(some.blocks) == {("c", "c"), ("c", "a"), ("a", "c"), ("a", "a")}
    for key, block in some.blocks.items():
        np.testing.assert_allclose(block, full.blocks[key], rtol=1e-12, atol=1e-14)


def test_hvp_batched_is_the_hessian_times_each_direction(engine):
    x = np.linspace(-1, 1, 5)
    graph = wg.trace(rosenbrock, x)
    directions = np.random.default_rng(4).standard_normal((3, 5))
    value, grad, products = engine.hvp(graph, {"x": x}, {"x": directions}, batched=True)
    np.testing.assert_allclose(products["x"], directions @ rosenbrock_hessian(x), rtol=1e-12)
    _, _, single = engine.hvp(graph, {"x": x}, {"x": directions[1]})
    np.testing.assert_allclose(single["x"], products["x"][1], rtol=1e-12)
    assert value.shape == () and grad["x"].shape == (5,)


def test_hessian_needs_a_float_scalar_output(engine):
    graph = wg.trace(lambda x: (wg.sum(x), x * 2), np.zeros(3))
    with pytest.raises(InvalidRequest, match="name the output"):
        engine.hessian(graph, {"x": np.ones(3)})
    with pytest.raises(InvalidRequest, match="output 'y1' must be a float scalar"):
        engine.hessian(graph, {"x": np.ones(3)}, output="y1")
    assert engine.hessian(graph, {"x": np.ones(3)}, output="y0").blocks[("x", "x")].shape == (3, 3)


# -- every builtin op, second order ----------------------------------------------------------
def _cases():
    rng = np.random.default_rng(0)
    for op in REGISTRY:
        for k, example in enumerate(op_examples(op, rng)):
            if not example.dtypes or "float64" in example.dtypes:  # bodies typed for float32: not here
                yield pytest.param(op.name, example, id=f"{op.name}-{k}")


@pytest.mark.parametrize("name, example", list(_cases()))
def test_hvp_of_every_builtin_op_matches_differences_of_gradients(engine, name, example):
    """f(x) = sum(op(x) * w) for a fixed random w: its HVP along a random direction."""
    rng = np.random.default_rng(5)
    builder = GraphBuilder(REGISTRY)
    args = [builder.input(f"x{i}", TensorType.of(np.asarray(a))) for i, a in enumerate(example.inputs)]
    out = builder.add(name, args, example.attrs)
    if not out.type.is_float or not any(a.type.is_float for a in args):
        pytest.skip("no float input or output: nothing to differentiate")
    with builder:
        y = wg.sum(out * rng.standard_normal(out.shape))
    graph = builder.build({"y": y})
    inputs = {f"x{i}": np.asarray(a) for i, a in enumerate(example.inputs)}
    directions = {k: rng.standard_normal(v.shape) for k, v in inputs.items() if v.dtype.kind == "f"}
    _, _, products = engine.hvp(graph, inputs, directions)
    expected = gradient_differences(engine, graph, inputs, directions)
    for k in directions:
        np.testing.assert_allclose(products[k], expected[k], rtol=1e-5, atol=1e-5,
                                   err_msg=f"{name}: H v for {k}")


# -- rules that cannot be differentiated again ------------------------------------------------
def _first_order_only() -> Engine:
    """`softsign` whose VJP uses an op with no derivative rules of its own."""
    grad_op = OpDef("softsign_grad", lambda x: 1 / (1 + np.abs(x)) ** 2, same_as_first, elementwise=True)
    softsign = OpDef("softsign", lambda x: x / (1 + np.abs(x)), same_as_first, elementwise=True,
                     jvp=(lambda x_dot, ans, x: x_dot * wg.op("softsign_grad", x),),
                     vjp=(lambda g, ans, x: g * wg.op("softsign_grad", x),))
    return Engine(REGISTRY.with_ops([grad_op, softsign]))


def test_an_op_whose_rules_are_not_differentiable_again_is_named():
    engine = _first_order_only()
    graph = wg.trace(lambda x: wg.sum(wg.op("softsign", wg.sin(x))), np.zeros(3), registry=engine.registry)
    _, grads = engine.vjp(graph, {"x": np.ones(3)}, {"y": 1.0})  # first order works
    assert grads["x"].shape == (3,)
    softsign_node = next(n.id for n in graph.nodes if n.op == "softsign")
    for call in (lambda: engine.hessian(graph, {"x": np.ones(3)}),
                 lambda: engine.hvp(graph, {"x": np.ones(3)}, {"x": np.ones(3)})):
        named = rf"node '{softsign_node}' \(softsign\): second derivatives"
        with pytest.raises(NoDerivative, match=named) as info:
            call()
        assert info.value.code == "UNIMPLEMENTED"
        assert "softsign_grad" in str(info.value)


def test_gradient_graph_is_a_graph_that_differentiates_again(engine):
    x = np.array([0.3, -0.2, 0.5])
    graph = wg.trace(rosenbrock, x)
    gradient_graph = engine.derivative_graph(graph, "gradient")
    assert gradient_graph.input_names == ("x",)
    assert gradient_graph.output_names == ("y", "cotangent:x")
    j = engine.jacobian(gradient_graph, {"x": x}, outputs=["cotangent:x"])
    np.testing.assert_allclose(j.blocks[("cotangent:x", "x")], rosenbrock_hessian(x), rtol=1e-14)


def test_derivative_graph_kinds_check_their_seeds(engine):
    graph = wg.trace(lambda x: (wg.sum(x), wg.sum(x * x)), np.zeros(3))
    with pytest.raises(InvalidRequest, match="one scalar output"):
        engine.derivative_graph(graph, "gradient")
    gradient_graph = engine.derivative_graph(graph, "gradient", seeds=["y1"])
    assert gradient_graph.output_names == ("y0", "y1", "cotangent:x")
    with pytest.raises(InvalidRequest, match="no seeds"):
        engine.derivative_graph(graph, "jvp", seeds=["y0"])
