"""`wg.optim.SteepestDescent`: one step rule for every norm. Under l2 it is gradient descent
(with PyTorch's heavy-ball momentum); under every norm a step is the steepest one of its length;
momentum and schedules work the same under any norm; parameters update in place."""

from __future__ import annotations

import math

import numpy as np
import pytest

import wengert as wg
from wengert.errors import InvalidRequest
from wengert.optim import Schedule, SteepestDescent
from wengert.plugins.registry import default_registry

NORMS = default_registry().norm_names()
ULP = 4 * np.finfo(float).eps  # l2 divides by ||g|| and multiplies it back: a few roundings


def problem(seed: int = 0):
    """Parameters (a matrix, a vector, a scalar) and a few gradients shaped like them."""
    rng = np.random.default_rng(seed)
    shapes = {"W": (3, 4), "b": (4,), "s": ()}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    grads = [{k: rng.standard_normal(s) for k, s in shapes.items()} for _ in range(5)]
    return params, grads


def test_l2_steps_are_gradient_descent():
    """From zero a step is observed without rounding: it is lr * g to the last few bits."""
    _, grads = problem()
    for g in grads:
        params = {k: np.zeros_like(v) for k, v in g.items()}
        SteepestDescent(params, norm="l2", lr=0.1).step(g)
        for k in g:
            np.testing.assert_allclose(-params[k], 0.1 * g[k], rtol=ULP, atol=0)


def test_l2_trajectories_are_gradient_descent():
    params, grads = problem()
    want = {k: v.copy() for k, v in params.items()}
    opt = SteepestDescent(params, norm="l2", lr=0.1)
    for g in grads:
        opt.step(g)
        want = {k: want[k] - 0.1 * g[k] for k in want}
    for k in want:
        np.testing.assert_allclose(params[k], want[k], rtol=1e-13, atol=1e-15)


def test_l2_with_momentum_is_pytorch_heavy_ball():
    params, grads = problem()
    want = {k: v.copy() for k, v in params.items()}
    buf = {k: np.zeros_like(v) for k, v in params.items()}
    opt = SteepestDescent(params, norm="l2", lr=0.05, momentum=0.9)
    for g in grads:
        opt.step(g)
        buf = {k: 0.9 * buf[k] + g[k] for k in buf}  # torch.optim.SGD(momentum=0.9, dampening=0)
        want = {k: want[k] - 0.05 * buf[k] for k in want}
    for k in want:
        np.testing.assert_allclose(params[k], want[k], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", NORMS)
def test_every_step_is_the_steepest_of_its_length(name):
    """||dw|| = lr * ||g||_* and <g, dw> = -||dw|| * ||g||_*: no step of that length (in that
    norm) lowers a linear model of the loss more."""
    params, (g, *_) = problem()
    before = {k: v.copy() for k, v in params.items()}
    opt = SteepestDescent(params, norm=name, lr=0.1)
    opt.step(g)
    dw = [params[k] - before[k] for k in opt.keys]
    gs = [g[k] for k in opt.keys]
    dual = opt.norm.dual_norm(gs)
    assert opt.norm.norm(dw) == pytest.approx(0.1 * dual, rel=1e-9)
    assert sum(np.vdot(a, b) for a, b in zip(gs, dw)) == pytest.approx(-0.1 * dual**2, rel=1e-9)


def test_linf_is_sign_descent_scaled_by_the_l1_norm():
    params, (g, *_) = problem()
    before = {k: v.copy() for k, v in params.items()}
    SteepestDescent(params, norm="linf", lr=0.01).step(g)
    l1 = sum(np.abs(v).sum() for v in g.values())
    for k in params:
        np.testing.assert_allclose(params[k], before[k] - 0.01 * l1 * np.sign(g[k]), rtol=1e-14)


def test_momentum_works_the_same_under_any_norm():
    params, grads = problem()
    before = {k: v.copy() for k, v in params.items()}
    opt = SteepestDescent(params, norm="linf", lr=0.01, momentum=0.5)
    opt.step(grads[0])
    after_one = {k: v.copy() for k, v in params.items()}
    opt.step(grads[1])
    m = {k: 0.5 * grads[0][k] + grads[1][k] for k in params}  # the direction of the second step
    l1 = sum(np.abs(v).sum() for v in m.values())
    for k in params:
        np.testing.assert_allclose(after_one[k], before[k] - 0.01 * sum(
            np.abs(v).sum() for v in grads[0].values()) * np.sign(grads[0][k]), rtol=1e-14)
        np.testing.assert_allclose(params[k], after_one[k] - 0.01 * l1 * np.sign(m[k]), rtol=1e-14)


def test_a_mapping_of_norms_is_the_product_norm():
    """Each parameter moves in its own geometry, all by the same distance lr * ||g||_*."""
    params, (g, *_) = problem()
    before = {k: v.copy() for k, v in params.items()}
    opt = SteepestDescent(params, norm={"W": "spectral", "b": "linf"}, lr=0.1)
    opt.step(g)
    dw = {k: params[k] - before[k] for k in params}
    u, sigma, vt = np.linalg.svd(g["W"], full_matrices=False)
    dual = sigma.sum() + np.abs(g["b"]).sum() + abs(g["s"])
    np.testing.assert_allclose(dw["W"], -0.1 * dual * u @ vt, rtol=1e-12)
    np.testing.assert_allclose(dw["b"], -0.1 * dual * np.sign(g["b"]), rtol=1e-12)
    np.testing.assert_allclose(dw["s"], -0.1 * dual * np.sign(g["s"]), rtol=1e-12)  # l2 of a scalar


@pytest.mark.parametrize("schedule, want", [
    (Schedule(), [1.0, 1.0, 1.0, 1.0]),
    (Schedule("exponential", decay=0.5), [1.0, 0.5, 0.25, 0.125]),
    (Schedule("cosine", steps=2), [1.0, 0.5, 0.0, 0.0]),
])
def test_schedules_scale_the_learning_rate_per_step(schedule, want):
    """Under l2 with a constant gradient, step t moves by exactly lr * schedule(t) * g."""
    w = np.zeros(2)
    opt = SteepestDescent([w], lr=0.5, schedule=schedule)
    moved = []
    for _ in want:
        before = w.copy()
        opt.step([np.array([1.0, 0.0])])
        moved.append(before[0] - w[0])
    np.testing.assert_allclose(moved, [0.5 * m for m in want], atol=1e-15)


def test_any_callable_is_a_schedule_in_process():
    w = np.zeros(1)
    opt = SteepestDescent([w], lr=1.0, schedule=lambda t: 1 / (t + 1))
    for _ in range(3):
        opt.step([np.ones(1)])
    assert w[0] == pytest.approx(-(1 + 1 / 2 + 1 / 3))


def test_cosine_anneals_smoothly():
    cosine = Schedule("cosine", steps=4)
    assert [cosine(t) for t in range(6)] == pytest.approx(
        [1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2, 0.0, 0.0])


def test_parameters_update_in_place_in_a_dict_or_a_list():
    params, (g, *_) = problem()
    arrays = dict(params)
    as_list = [v.copy() for v in arrays.values()]
    SteepestDescent(params, lr=0.1).step(g)
    assert all(params[k] is arrays[k] for k in params)
    SteepestDescent(as_list, lr=0.1).step(list(g.values()))
    for a, b in zip(as_list, params.values()):
        np.testing.assert_array_equal(a, b)


def test_float32_parameters_stay_float32():
    w = np.ones(3, dtype=np.float32)
    SteepestDescent([w], norm="spectral", lr=0.1).step([np.array([1.0, 2.0, 2.0], dtype=np.float32)])
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, 1 - 0.1 * np.array([1.0, 2.0, 2.0]), rtol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"params": {"w": np.zeros(2, dtype=int)}}, "parameter 'w' must be a writeable float NumPy array"),
    ({"params": {"w": [0.0, 1.0]}}, "parameter 'w/0' must be a writeable float NumPy array"),
    ({"norm": "l3"}, "unknown norm 'l3'"),
    ({"norm": {"v": "l2"}}, "norm given for 'v', which is not a parameter"),
    ({"lr": 0.0}, "learning rate must be positive"),
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
])
def test_bad_settings_are_refused_with_a_reason(kwargs, message):
    args = {"params": {"w": np.zeros(2)}, **kwargs}
    with pytest.raises(InvalidRequest, match=message):
        SteepestDescent(**args)


@pytest.mark.parametrize("schedule, message", [
    ({"kind": "linear"}, "unknown schedule 'linear'"),
    ({"kind": "exponential", "decay": 0.0}, r"decay must be in \(0, 1\]"),
    ({"kind": "cosine"}, "steps must be at least 1"),
])
def test_bad_schedules_are_refused(schedule, message):
    with pytest.raises(InvalidRequest, match=message):
        Schedule(**schedule)


def test_a_gradient_of_the_wrong_shape_is_refused():
    opt = SteepestDescent({"w": np.zeros(2)})
    with pytest.raises(InvalidRequest, match=r"gradient for 'w' is shaped \[3\], the parameter \[2\]"):
        opt.step({"w": np.zeros(3)})


def test_the_sdk_exports_the_optimizer():
    assert wg.optim.SteepestDescent is SteepestDescent
