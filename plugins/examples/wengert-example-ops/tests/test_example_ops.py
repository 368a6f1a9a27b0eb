"""The plugin's own tests, run after `pip install .`: wengert's derivative checker on every op
(what `wengert check-plugin example-ops` runs), and each forward against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

import wengert as wg
from wengert.execution.engine import Engine
from wengert.plugins.checker import check_op
from wengert.plugins.registry import Registry
from wengert_example_ops import erf, expm, gelu, huber, swish

REGISTRY = Registry.load()  # entry points: the builtin ops and this plugin, once installed
OPS = ["swish", "huber", "erf", "gelu", "expm"]


def evaluate(f, *args):
    graph = wg.trace(f, *args, registry=REGISTRY)
    return Engine(REGISTRY).evaluate(graph, dict(zip(graph.input_names, args)))["y"]


def test_the_plugin_is_installed_under_its_entry_point_name():
    (plugin,) = [p for p in REGISTRY.plugins if p.name == "example-ops"]
    assert plugin.loaded and plugin.version == "0.1.0" and sorted(plugin.ops) == sorted(OPS)


@pytest.mark.parametrize("name", OPS)
def test_derivatives_pass_the_checker_to_second_order(name):
    report = check_op(name, REGISTRY)
    assert report.examples > 0 and report.passed, report.text()
    assert not report.notes, report.text()


def test_activations_match_their_formulas():
    x = np.linspace(-3, 3, 13)
    phi = 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x]))
    assert np.allclose(evaluate(lambda x: swish(x), x), x / (1 + np.exp(-x)))
    assert np.allclose(evaluate(lambda x: erf(x), x), [math.erf(v) for v in x])
    assert np.allclose(evaluate(lambda x: gelu(x), x), x * phi)
    assert evaluate(lambda x: erf(x), np.float32(0.5)).dtype == np.float32


def test_huber_is_quadratic_inside_delta_and_linear_outside():
    x = np.array([-3.0, -0.5, 0.0, 0.25, 2.0])
    assert np.allclose(evaluate(lambda x: huber(x, delta=1.0), x), [2.5, 0.125, 0.0, 0.03125, 1.5])
    with pytest.raises(wg.InvalidGraph, match=r"\(huber\): delta must be positive, got -1.0"):
        wg.trace(lambda x: huber(x, delta=-1.0), x, registry=REGISTRY)


def test_expm_of_a_rotation_generator_is_a_rotation():
    t = 0.7
    got = evaluate(lambda a: expm(a), np.array([[0.0, t], [-t, 0.0]]))
    assert np.allclose(got, [[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]], atol=1e-15)


def test_expm_of_a_symmetric_matrix_matches_its_eigendecomposition():
    b = np.random.default_rng(0).standard_normal((5, 5))
    s = 2.0 * (b + b.T)  # large enough to need scaling and squaring
    w, v = np.linalg.eigh(s)
    assert np.allclose(evaluate(lambda a: expm(a), s), (v * np.exp(w)) @ v.T, rtol=1e-12)


def test_expm_hessian_by_differentiating_twice():
    """d2/dt2 expm(tA) = A^2 expm(tA): the second derivative through expm's own rules."""
    a = np.array([[0.1, 0.4], [-0.3, 0.2]])
    graph = wg.trace(lambda t: expm(t * a), 1.0, registry=REGISTRY)
    engine = Engine(REGISTRY)
    tangent_graph = engine.derivative_graph(graph, "jvp")
    second = engine.jvp(tangent_graph, {"t": 1.0, "tangent:t": 1.0}, {"t": 1.0})[1]["tangent:y"]
    assert np.allclose(second, a @ a @ evaluate(lambda m: expm(m), a))
