"""A request (Evaluate, JVP, VJP, Jacobian, Hessian) of a shape the engine prepared before
(same graph, options, input and seed names, dtypes and shapes) skips selection, validation and
pricing (`Prepared.again`), and is still answered, checked and admitted exactly as the first one
was. A request on the lean path hands back the `again` the engine keeps for its shape; one
prepared anew, a new one."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import wengert as wg
from wengert.errors import InvalidRequest, InvalidTensor, LimitExceeded
from wengert.execution.call import Call
from wengert.execution.cost import Limits
from wengert.execution.engine import Engine
from wengert.testing import worked_example


def grad_call(graph, x1, x2, seed=1.0):
    return Call("Vjp", graph, {"x1": np.float64(x1), "x2": np.float64(x2)},
                cotangents={"y": np.float64(seed)}, wrt=("x1", "x2"))


def test_repeated_vjps_take_the_lean_path_and_answer_for_their_own_values():
    engine, graph = Engine(), wg.trace(worked_example, 2.0, 5.0)
    first = engine.prepare(grad_call(graph, 2.0, 5.0))
    assert first.again is not None
    for x1, x2, seed in [(2.0, 5.0, 1.0), (0.5, -1.0, 1.0), (3.0, 0.25, -2.0)]:
        prepared = engine.prepare(grad_call(graph, x1, x2, seed))
        assert prepared.price == first.price
        values, grads = engine.run(prepared)
        assert values["y"] == pytest.approx(np.log(x1) + x1 * x2 - np.sin(x2), rel=1e-15)
        assert grads["x1"] == pytest.approx(seed * (1 / x1 + x2), rel=1e-14)
        assert grads["x2"] == pytest.approx(seed * (x1 - np.cos(x2)), rel=1e-14)


def test_another_shape_is_prepared_anew_and_a_bad_one_still_refused():
    engine = Engine()
    graph = wg.trace(lambda x: wg.sum(wg.sin(x) * x), wg.spec((-1,)))
    for n in (3, 5, 3):
        x = np.linspace(0.0, 1.0, n)
        (tangent,) = engine.run(engine.prepare(Call("Jvp", graph, {"x": x}, tangents={"x": np.ones(n)})))[1].values()
        assert tangent == pytest.approx(np.sum(np.cos(x) * x + np.sin(x)), rel=1e-14)
    with pytest.raises(InvalidTensor, match=r"tangent for input 'x' must be float64\[3\], got float64\[4\]"):
        engine.prepare(Call("Jvp", graph, {"x": np.ones(3)}, tangents={"x": np.ones(4)}))
    with pytest.raises(InvalidTensor, match=r"must be float64\[\?\], got float32\[3\]"):
        engine.prepare(Call("Jvp", graph, {"x": np.ones(3, np.float32)}, tangents={"x": np.ones(3)}))


def test_a_request_of_a_shape_seen_before_is_admitted_by_its_price_every_time():
    graph = wg.trace(lambda x: wg.sum(wg.exp(x)), np.ones(1000))
    engine = Engine(limits=Limits(memory=4000))
    call = Call("Vjp", graph, {"x": np.ones(1000)}, cotangents={"y": np.float64(1.0)})
    for _ in range(2):
        with pytest.raises(LimitExceeded, match="memory"):
            engine.run(engine.prepare(call))


def evaluate_call(graph, x1, x2, outputs=()):
    return Call("Evaluate", graph, {"x1": np.asarray(x1), "x2": np.asarray(x2)}, outputs)


def test_repeated_evaluations_take_the_lean_path_and_answer_for_their_own_values():
    engine, graph = Engine(), wg.trace(worked_example, 2.0, 5.0)
    first = engine.prepare(evaluate_call(graph, 2.0, 5.0))
    assert first.again is not None
    for x1, x2 in [(2.0, 5.0), (0.5, -1.0), (3.0, 0.25)]:
        prepared = engine.prepare(evaluate_call(graph, x1, x2))
        assert prepared.again is first.again and prepared.price == first.price
        assert engine.run(prepared)["y"] == pytest.approx(np.log(x1) + x1 * x2 - np.sin(x2), rel=1e-15)
    with pytest.raises(InvalidRequest, match="'z' is not an output"):  # other options: prepared anew
        engine.prepare(evaluate_call(graph, 2.0, 5.0, ("z",)))


def test_an_evaluation_of_another_shape_or_dtype_is_prepared_anew_and_refused_as_before():
    engine = Engine()
    graph = wg.trace(lambda x: wg.sum(wg.sin(x) * x), wg.spec((-1,)))
    first = engine.prepare(Call("Evaluate", graph, {"x": np.ones(3)}))
    other = engine.prepare(Call("Evaluate", graph, {"x": np.linspace(0.0, 1.0, 5)}))
    assert None is not other.again is not first.again is not None
    x = np.linspace(0.0, 1.0, 5)
    assert engine.run(other)["y"] == pytest.approx(np.sum(np.sin(x) * x), rel=1e-15)
    for _ in range(2):  # the same error before and after a request of the shape was prepared
        with pytest.raises(InvalidTensor, match=r"input 'x' must be float64\[\?\], got float32\[3\]"):
            engine.prepare(Call("Evaluate", graph, {"x": np.ones(3, np.float32)}))
        with pytest.raises(InvalidTensor, match=r"input 'x' must be float64\[\?\], got float64\[3,1\]"):
            engine.prepare(Call("Evaluate", graph, {"x": np.ones((3, 1))}))
        with pytest.raises(InvalidRequest, match="missing input 'x'"):
            engine.prepare(Call("Evaluate", graph, {}))


def test_a_batched_evaluation_of_another_batch_size_is_prepared_anew():
    engine = Engine()
    graph = wg.trace(lambda x, w: wg.sum(x * w), np.ones(2), np.ones(2))
    w = np.array([1.0, 2.0])
    for batch in (3, 4, 3):
        xs = np.arange(2.0 * batch).reshape(batch, 2)
        call = Call("Evaluate", graph, {"x": xs, "w": w}, batched_inputs=("x",))
        assert engine.run(engine.prepare(call))["y"] == pytest.approx(xs @ w, rel=1e-15)
        unbatched = Call("Evaluate", graph, {"x": xs, "w": w}, batched_inputs=("w",))
        with pytest.raises(InvalidTensor, match=r"input 'x' must be float64\[2\]"):
            engine.prepare(unbatched)


def test_repeated_jacobians_and_hessians_take_the_lean_path_and_check_their_inputs():
    engine, graph = Engine(), wg.trace(worked_example, 2.0, 5.0)
    jacobian = Call("Jacobian", graph, {"x1": np.asarray(2.0), "x2": np.asarray(5.0)}, wrt=("x1", "x2"),
                    mode="auto")
    hessian = Call("Hessian", graph, {"x1": np.asarray(2.0), "x2": np.asarray(5.0)}, wrt=("x1", "x2"))
    firsts = engine.prepare(jacobian), engine.prepare(hessian)
    assert all(p.again is not None for p in firsts)
    for x1, x2 in [(0.5, -1.0), (3.0, 0.25)]:
        inputs = {"x1": np.asarray(x1), "x2": np.asarray(x2)}
        j, h = (engine.prepare(Call(c.rpc, graph, inputs, wrt=c.wrt, mode=c.mode)) for c in (jacobian, hessian))
        assert (j.again, h.again) == tuple(p.again for p in firsts)
        blocks = engine.run(j).blocks
        assert blocks[("y", "x1")] == pytest.approx(1 / x1 + x2, rel=1e-14)
        assert blocks[("y", "x2")] == pytest.approx(x1 - np.cos(x2), rel=1e-14)
        second = engine.run(h).blocks
        assert (second[("x1", "x1")], second[("x1", "x2")], second[("x2", "x2")]) == pytest.approx(
            (-1 / x1 ** 2, 1.0, np.sin(x2)), rel=1e-14)
    for call in (jacobian, hessian):
        with pytest.raises(InvalidTensor, match=r"input 'x2' must be float64\[\], got float32\[\]"):
            engine.prepare(Call(call.rpc, graph, {"x1": np.asarray(2.0), "x2": np.float32(5.0)}, wrt=call.wrt,
                                mode=call.mode))


def test_an_evaluation_of_a_shape_seen_before_is_admitted_by_its_price_every_time():
    graph = wg.trace(lambda x: wg.exp(x), np.ones(1000))
    engine = Engine(limits=Limits(response=4000))
    for _ in range(2):
        with pytest.raises(LimitExceeded, match="response size"):
            engine.run(engine.prepare(Call("Evaluate", graph, {"x": np.ones(1000)})))


def test_a_lean_path_dropped_by_the_cache_frees_its_graph_and_plans_at_once():
    """No reference cycle holds them until a garbage collection (a server's caches must bound
    its memory by what they keep)."""
    engine = Engine(cache_size=1)  # every entry pushes out the one before

    def evaluate_once(k: float) -> weakref.ref:
        graph = wg.trace(lambda x: wg.sum(wg.exp(x) * k), np.ones(3))  # a graph equal to no other
        for _ in range(2):
            engine.run(engine.prepare(Call("Evaluate", graph, {"x": np.ones(3)})))
        return weakref.ref(graph)

    gc.collect()
    gc.disable()
    try:
        first = evaluate_once(1.0)
        evaluate_once(2.0)
        assert first() is None
    finally:
        gc.enable()
