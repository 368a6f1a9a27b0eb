"""`wg.optim.minimize`, the loop the Minimize RPC serves, run in-process on an `Engine`:
convex and non-convex problems solved to stated tolerances, the stopping rules, what each report
holds, and requests that do not fit the graph."""

from __future__ import annotations

import math

import numpy as np
import pytest

import wengert as wg
from wengert.errors import InvalidRequest
from wengert.optim import SteepestDescent, Stop, minimize
from wengert.plugins.registry import default_registry

NORMS = default_registry().norm_names()

# A convex quadratic f(w) = 1/2 w^T A w - b^T w with condition number 10; minimum at A^-1 b.
A = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 0.5]])
B = np.array([1.0, -2.0, 0.5])
QUADRATIC = wg.trace(lambda w: 0.5 * wg.sum(w * (A @ w)) - wg.sum(B * w), np.zeros(3))
# A learning rate below 1/L under each norm, L the smoothness constant in that norm: the
# largest eigenvalue of A (l2; spectral and product on one vector), its largest entry (l1), at
# most the sum of its absolute entries (l-inf). Steepest descent with lr < 1/L converges.
QUADRATIC_LR = {"l2": 0.2, "l1": 0.2, "linf": 0.08, "spectral": 0.2, "product": 0.2}


def xor_predict(W1, b1, W2, b2, X):
    """A 2-8-1 tanh network with a sigmoid output."""
    return wg.sigmoid(wg.tanh(X @ W1 + b1) @ W2 + b2)


def xor_mlp(W1, b1, W2, b2, X, Y):
    """Its mean squared error on the four XOR points."""
    return wg.mean((xor_predict(W1, b1, W2, b2, X) - Y) ** 2)


XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def xor_start(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"W1": rng.standard_normal((2, 8)), "b1": np.zeros(8), "W2": rng.standard_normal(8),
            "b2": np.zeros(())}


XOR = wg.trace(xor_mlp, *xor_start().values(), XOR_X, XOR_Y)


def last(progress):
    *_, final = progress
    return final


@pytest.mark.parametrize("norm", NORMS)
def test_every_norm_solves_a_convex_quadratic(engine, norm):
    opt = SteepestDescent({"w": np.zeros(3)}, norm=norm, lr=QUADRATIC_LR.get(norm, 0.05))
    final = last(minimize(engine, QUADRATIC, opt, stop=Stop(max_steps=5000, tolerance=1e-10)))
    assert final.reason == "converged"
    np.testing.assert_allclose(final.params["w"], np.linalg.solve(A, B), atol=1e-8)


def test_rosenbrock_with_momentum_reaches_the_minimum(engine):
    rosenbrock = wg.trace(lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2, np.zeros(2))
    opt = SteepestDescent({"x": np.array([-1.2, 1.0])}, lr=1e-3, momentum=0.9)
    final = last(minimize(engine, rosenbrock, opt, stop=Stop(max_steps=10_000, tolerance=1e-6)))
    assert final.reason == "converged" and final.step < 5000
    np.testing.assert_allclose(final.params["x"], [1.0, 1.0], atol=1e-5)
    assert final.loss < 1e-10


def test_least_squares_fit_matches_lstsq(engine):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    y = X @ np.array([2.0, -1.0, 0.5]) + 0.1 * rng.standard_normal(30)
    graph = wg.trace(lambda w, X, y: wg.mean((X @ w - y) ** 2), np.zeros(3), X, y)
    opt = SteepestDescent({"w": np.zeros(3)}, lr=0.3)
    final = last(minimize(engine, graph, opt, {"X": X, "y": y},
                          stop=Stop(max_steps=2000, tolerance=1e-10)))
    assert final.reason == "converged"
    np.testing.assert_allclose(final.params["w"], np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-9)


@pytest.mark.parametrize("norm, lr", [
    ("l2", 2.0), ("spectral", 0.5), ("linf", 0.1),
    ({"W1": "spectral", "W2": "spectral", "b1": "linf", "b2": "linf"}, 0.5),
])
def test_a_small_mlp_learns_xor(engine, norm, lr):
    opt = SteepestDescent(xor_start(), norm=norm, lr=lr, momentum=0.9)
    final = last(minimize(engine, XOR, opt, {"X": XOR_X, "Y": XOR_Y},
                          stop=Stop(max_steps=2000, tolerance=1e-4)))
    assert final.reason == "converged" and final.loss < 1e-3
    predict = wg.trace(xor_predict, *[final.params[k] for k in ("W1", "b1", "W2", "b2")], XOR_X)
    predictions = engine.evaluate(predict, {**final.params, "X": XOR_X})["y"]
    np.testing.assert_array_equal(predictions > 0.5, XOR_Y > 0.5)


def test_minimize_takes_the_same_steps_as_a_hand_written_sdk_loop(engine):
    data = {"X": XOR_X, "Y": XOR_Y}
    mine = xor_start()
    opt = SteepestDescent(mine, norm="spectral", lr=0.5, momentum=0.9)
    losses = []
    for _ in range(50):
        values, grads = engine.vjp(XOR, {**mine, **data}, {"y": 1.0}, wrt=list(mine))
        losses.append(float(values["y"]))
        opt.step(grads)
    served = SteepestDescent(xor_start(), norm="spectral", lr=0.5, momentum=0.9)
    reports = list(minimize(engine, XOR, served, data, stop=Stop(max_steps=50)))
    assert [r.loss for r in reports[:-1]] == losses
    for k in mine:
        np.testing.assert_array_equal(reports[-1].params[k], mine[k])


def test_reports_start_at_step_0_and_hold_copies(engine):
    opt = SteepestDescent({"w": np.zeros(3)}, lr=0.2)
    reports = list(minimize(engine, QUADRATIC, opt, stop=Stop(max_steps=3)))
    assert [r.step for r in reports] == [0, 1, 2, 3]
    assert [r.reason for r in reports] == ["", "", "", "max_steps"]
    assert reports[0].loss == 0.0 and reports[0].gradient_norm == pytest.approx(np.linalg.norm(B))
    np.testing.assert_array_equal(reports[0].params["w"], np.zeros(3))  # not moved by later steps
    np.testing.assert_array_equal(reports[-1].params["w"], opt.params["w"])
    assert reports[-1].params["w"] is not opt.params["w"]


def test_every_kth_step_is_reported_and_always_the_last(engine):
    opt = SteepestDescent({"w": np.zeros(3)}, lr=0.2)
    reports = list(minimize(engine, QUADRATIC, opt, stop=Stop(max_steps=5), every=2))
    assert [(r.step, r.reason) for r in reports] == [(0, ""), (2, ""), (4, ""), (5, "max_steps")]


@pytest.mark.parametrize("norm", NORMS)
def test_a_learning_rate_too_large_stops_as_diverged(engine, norm):
    opt = SteepestDescent({"w": np.ones(3)}, norm=norm, lr=1e6)
    with np.errstate(over="ignore", invalid="ignore"):
        final = last(minimize(engine, QUADRATIC, opt, stop=Stop(max_steps=1000)))
    assert final.reason == "diverged" and final.step < 100


def test_a_time_limit_ends_the_run_normally(engine):
    opt = SteepestDescent({"w": np.zeros(3)}, lr=1e-6)
    final = last(minimize(engine, QUADRATIC, opt, stop=Stop(max_seconds=0.05)))
    assert final.reason == "time_limit" and final.step > 0


def test_a_stop_rule_needs_a_step_or_time_limit():
    with pytest.raises(InvalidRequest, match="set max_steps or max_seconds"):
        Stop(tolerance=1e-6)


@pytest.mark.parametrize("limits", [{"max_seconds": math.nan}, {"max_seconds": math.inf},
                                    {"max_steps": 5, "tolerance": math.nan}, {"max_steps": -1}])
def test_a_stop_rule_with_a_limit_that_never_stops_is_refused(limits):
    with pytest.raises(InvalidRequest, match="stopping limits must be finite and not negative"):
        Stop(**limits)


LINEAR = wg.trace(lambda w, n: wg.sum(w * n), np.zeros(3), np.arange(3))
VECTOR = wg.trace(lambda w: w * 2.0, np.zeros(3))


@pytest.mark.parametrize("graph, params, data, loss, message", [
    (QUADRATIC, {"w": np.zeros(3)}, {}, "z", "loss 'z' is not an output of the graph"),
    (VECTOR, {"w": np.zeros(3)}, {}, None, r"loss 'y' must be a float scalar \(any shape with one element\), got float64\[3\]"),
    (QUADRATIC, {"w": np.zeros(3)}, {"X": np.zeros(3)}, None, "'X' is not an input of the graph"),
    (LINEAR, {"w": np.zeros(3)}, {}, None, "input 'n' is neither a parameter nor data"),
    (LINEAR, {"w": np.zeros(3)}, {"w": np.zeros(3), "n": np.arange(3)}, None,
     "input 'w' is given both as a parameter and as data"),
    (LINEAR, {"w": np.zeros(3), "n": np.zeros(3)}, {}, None,
     "parameter 'n' is int64.*: only float inputs can be optimized"),
])
def test_requests_that_do_not_fit_the_graph_are_refused_before_any_step(engine, graph, params, data,
                                                                       loss, message):
    opt = SteepestDescent(params, lr=0.1)
    with pytest.raises(InvalidRequest, match=message):
        minimize(engine, graph, opt, data, loss=loss, stop=Stop(max_steps=1))
