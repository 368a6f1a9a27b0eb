"""The engine's contract beyond the worked example: checked inputs, derivative plumbing
(broadcasting undone in one place, integer outputs, stop_gradient, missing rules), batching,
open dimensions, and the error classes every rejection carries."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from wengert.execution.engine import Engine
from wengert.errors import (EvaluationError, InvalidGraph, InvalidRequest, InvalidTensor, LimitExceeded,
                            NoDerivative)
from wengert.plugins.registry import default_registry
from wengert.plugins.shapes import same_as_first


def test_inputs_are_checked_against_declared_types(engine):
    g = wg.trace(lambda x: wg.sin(x), np.zeros(3))
    with pytest.raises(InvalidTensor, match=r"input 'x' must be float64\[3\], got float64\[4\]"):
        engine.evaluate(g, {"x": np.zeros(4)})
    with pytest.raises(InvalidTensor, match=r"input 'x' must be float64\[3\], got float32\[3\]"):
        engine.evaluate(g, {"x": np.zeros(3, np.float32)})
    with pytest.raises(InvalidRequest, match=r"missing input 'x'"):
        engine.evaluate(g, {})
    with pytest.raises(InvalidRequest, match=r"unknown input\(s\) 'z'"):
        engine.evaluate(g, {"x": np.zeros(3), "z": np.zeros(3)})
    assert InvalidTensor.code == InvalidRequest.code == "INVALID_ARGUMENT"


def test_shape_errors_name_node_and_op():
    with pytest.raises(InvalidGraph, match=r"^node 'v1' \(mul\): shapes \[3,4\] and \[5\] cannot be broadcast"):
        wg.trace(lambda a, b: a * b, np.zeros((3, 4)), np.zeros(5))


def test_an_op_failing_on_values_names_node_and_op():
    explode = wg.OpDef("explode", lambda x: 1 / 0, same_as_first, elementwise=True, doc="fails")
    registry = default_registry().with_ops([explode])
    g = wg.trace(lambda x: wg.op("explode", x) * 2, np.zeros(2), registry=registry)
    with pytest.raises(EvaluationError, match=r"^node 'v1' \(explode\): ZeroDivisionError"):
        Engine(registry).evaluate(g, {"x": np.zeros(2)})


def test_running_out_of_memory_in_an_op_is_a_limit_naming_node_and_op(engine):
    g = wg.trace(lambda x: wg.sin(wg.broadcast_to(x, (2**50,))), 1.0)  # 8 PiB: no machine has them
    with pytest.raises(LimitExceeded, match=r"^node 'v2' \(sin\): out of memory computing a float64\[11258999"):
        engine.evaluate(g, {"x": 1.0})


def test_missing_rule_is_unimplemented_naming_the_op():
    opaque = wg.OpDef("opaque", np.sin, same_as_first, elementwise=True, doc="no rules")
    registry = default_registry().with_ops([opaque])
    g = wg.trace(lambda x: wg.op("opaque", x) + x, np.ones(2), registry=registry)
    engine = Engine(registry)
    assert engine.evaluate(g, {"x": np.ones(2)})["y"] == pytest.approx(np.sin(1) + 1)
    with pytest.raises(NoDerivative, match=r"^node 'v1' \(opaque\): op has no reverse-mode \(VJP\)"):
        engine.vjp(g, {"x": np.ones(2)}, {"y": np.ones(2)})
    with pytest.raises(NoDerivative, match=r"forward-mode \(JVP\)"):
        engine.jvp(g, {"x": np.ones(2)}, {"x": np.ones(2)})
    assert NoDerivative.code == "UNIMPLEMENTED"


def test_broadcasting_is_undone_for_cotangents(engine):
    g = wg.trace(lambda b, m: m * b, np.zeros(4), np.zeros((3, 4)))
    _, grads = engine.vjp(g, {"b": np.arange(4.0), "m": np.ones((3, 4))}, {"y": np.ones((3, 4))})
    np.testing.assert_array_equal(grads["b"], [3.0, 3.0, 3.0, 3.0])
    assert grads["b"].shape == (4,) and grads["m"].shape == (3, 4)
    g = wg.trace(lambda s, m: s + m, np.zeros((1, 4)), np.zeros((3, 4)))
    _, grads = engine.vjp(g, {"s": np.zeros((1, 4)), "m": np.zeros((3, 4))}, {"y": np.ones((3, 4))})
    np.testing.assert_array_equal(grads["s"], np.full((1, 4), 3.0))


def test_tangents_are_broadcast_to_the_output(engine):
    g = wg.trace(lambda b, m: b + m, np.zeros(4), np.zeros((3, 4)))
    _, t = engine.jvp(g, {"b": np.zeros(4), "m": np.zeros((3, 4))}, {"b": np.arange(4.0)})
    np.testing.assert_array_equal(t["y"], np.broadcast_to(np.arange(4.0), (3, 4)))


def test_integer_outputs_and_stop_gradient_carry_no_derivative(engine):
    def f(x):
        return {"masked": wg.where(x > 0, x, 0.0), "blocked": wg.stop_gradient(x) * x,
                "flag": x > 0}
    g = wg.trace(f, np.zeros(3))
    x = np.array([-1.0, 2.0, 3.0])
    _, t = engine.jvp(g, {"x": x}, {"x": np.ones(3)})
    np.testing.assert_array_equal(t["masked"], [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(t["blocked"], x)  # d(c * x) with c held fixed
    assert t["flag"].dtype == np.bool_ and not t["flag"].any()


def test_wrt_must_name_float_inputs(engine, worked_graph):
    with pytest.raises(InvalidRequest, match=r"wrt names 'z'"):
        engine.jacobian(worked_graph, {"x1": 2.0, "x2": 5.0}, wrt=["z"])
    g = wg.trace(lambda x, k: x * k, np.zeros(2), np.zeros(2, np.int64))
    with pytest.raises(InvalidRequest, match=r"cannot differentiate with respect to 'k' of dtype int64"):
        engine.jacobian(g, {"x": np.zeros(2), "k": np.zeros(2, np.int64)}, wrt=["k"])


def test_batched_directions_equal_stacked_ones(engine):
    g = wg.trace(lambda a, b: wg.tanh(a * b) + wg.exp(-a), np.zeros((2, 3)), np.zeros(3))
    rng = np.random.default_rng(1)
    x = {"a": rng.normal(size=(2, 3)), "b": rng.normal(size=3)}
    directions = {"a": rng.normal(size=(5, 2, 3)), "b": rng.normal(size=(5, 3))}
    _, batched = engine.jvp(g, x, directions, batched=True)
    for k in range(5):
        _, single = engine.jvp(g, x, {n: d[k] for n, d in directions.items()})
        np.testing.assert_allclose(batched["y"][k], single["y"], rtol=1e-14)


def test_open_dimensions_are_specialized_per_request(engine):
    g = wg.trace(lambda x: wg.sin(x) * 2, wg.spec((-1, 3)))
    assert str(g.inputs[0][1]) == "float64[?,3]"
    for rows in (1, 4):
        x = np.ones((rows, 3))
        assert engine.evaluate(g, {"x": x})["y"].shape == (rows, 3)
        _, grads = engine.vjp(g, {"x": x}, {"y": np.ones((rows, 3))})
        np.testing.assert_allclose(grads["x"], 2 * np.cos(x))


def test_jacobian_blocks_are_out_shape_plus_in_shape(engine):
    g = wg.trace(lambda a, b: {"p": a[:, None] * b, "q": wg.sin(a)}, np.zeros(2), np.zeros(3))
    x = {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0, 5.0])}
    fwd = engine.jacobian(g, x, mode="forward")
    rev = engine.jacobian(g, x, mode="reverse")
    assert fwd.blocks[("p", "a")].shape == (2, 3, 2) and fwd.blocks[("p", "b")].shape == (2, 3, 3)
    for key in fwd.blocks:
        np.testing.assert_allclose(fwd.blocks[key], rev.blocks[key], rtol=1e-14)
    np.testing.assert_allclose(fwd.blocks[("q", "a")], np.diag(np.cos(x["a"])))
    assert engine.jacobian(g, x).mode == "forward"  # n = 5 inputs <= m = 8 outputs
