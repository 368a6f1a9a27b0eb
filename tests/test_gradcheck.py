"""Every op in the live registry is gradient-checked by the same public checker plugin authors
use: JVP vs central finite differences (float64), VJP vs JVP by the dot-product identity,
batched vs stacked directions, float32 vs float64, and second order where rules compose."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import wengert as wg
from wengert.plugins.checker import check_op
from wengert.plugins.registry import default_registry

REGISTRY = default_registry()
# Ops that declare a zero derivative (every rule None), so the checker does not compare theirs
# with finite differences: stop_gradient's is zero by design, the others' almost everywhere (a
# Bernoulli sample is a step function of p at a fixed key: its expectation's gradient goes by the
# score function, docs/expectations.md).
DECLARED_ZERO = {"sign", "stop_gradient", "floor", "ceil", "trunc", "round", "floor_divide", "random_bernoulli"}


@pytest.mark.parametrize("name", REGISTRY.names())
def test_op_derivatives(name):
    report = check_op(name, REGISTRY)
    assert report.examples > 0, f"{name}: no examples to check"
    assert report.passed, report.text()
    assert not [n for n in report.notes if "second order" in n], report.text()
    assert any("declares a zero derivative" in n for n in report.notes) == (name in DECLARED_ZERO)


def _planted(name: str, **changes) -> wg.OpDef:
    return dataclasses.replace(REGISTRY.get(name), name=f"planted_{name}", **changes)


def test_checker_catches_a_vjp_with_the_wrong_sign():
    op = _planted("sin", vjp=(lambda g, ans, x: -(g * wg.cos(x)),))
    report = check_op(op, REGISTRY)
    assert not report.passed
    assert "planted_sin" in report.text() and "dot product" in report.text()


def test_checker_catches_a_jvp_missing_a_term():
    op = _planted("mul", jvp=(lambda x_dot, ans, x, y: x_dot * y, lambda y_dot, ans, x, y: None))
    report = check_op(op, REGISTRY)
    assert not report.passed
    assert any("finite differences" in f.check for f in report.failures)


def test_checker_catches_a_shape_rule_that_disagrees_with_the_forward():
    op = _planted("exp", infer=lambda x: wg.TensorType(x.dtype, x.shape + (1,)))
    report = check_op(op, REGISTRY)
    assert not report.passed
    assert "shape rule" in report.text() and "planted_exp" in report.text()


def test_checker_catches_a_rule_returning_the_wrong_shape():
    op = _planted("tanh", vjp=(lambda g, ans, x: wg.sum(g * (1 - ans * ans)),))
    report = check_op(op, REGISTRY)
    assert not report.passed


def test_checker_passes_a_correct_op():
    report = check_op(_planted("tanh"), REGISTRY)
    assert report.passed, report.text()
    assert report.examples == 3


def test_checker_catches_a_batched_forward_that_disagrees():
    op = _planted("tanh", elementwise=False, batched_forward=lambda x: np.tanh(x) * 1.5,
                  examples=lambda rng: [wg.Example((rng.normal(size=(3, 4)),))])
    report = check_op(op, REGISTRY)
    assert any("batched" in f.check for f in report.failures), report.text()
