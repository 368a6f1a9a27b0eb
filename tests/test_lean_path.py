"""A JVP or VJP request of a shape the engine prepared before (same graph, input and seed
names, dtypes and shapes) skips selection, validation and pricing (`Prepared.again`), and is
still answered, checked and admitted exactly as the first one was."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from wengert.errors import InvalidTensor, LimitExceeded
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
