"""The checker verifies distributions, builtin or from a plugin: the log density normalises,
samples follow it, pathwise rules match finite differences of the sampler at a fixed key; and
it catches each of these going wrong. A plugin's distribution then works with the estimators
like a builtin one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import wengert as wg
from plugin_fixtures.cli import FIXTURES
from wengert.plugins.checker import check_op
from wengert.plugins.distribution_checker import check_distribution
from wengert.plugins.registry import Registry, default_registry

REGISTRY = default_registry()
SAMPLERS = [op.name for op in REGISTRY if op.sampler is not None]


@pytest.fixture(scope="module")
def registry():
    import sys

    sys.path.insert(0, str(FIXTURES))
    try:
        return Registry.load(modules=["laplace_distribution"])
    finally:
        sys.path.remove(str(FIXTURES))


def test_every_builtin_distribution_is_found():
    assert sorted(SAMPLERS) == sorted(f"random_{n}" for n in (
        "normal", "lognormal", "uniform", "exponential", "gamma", "beta", "dirichlet", "bernoulli", "categorical",
        "relaxed_categorical"))
    reparameterized = {name: REGISTRY.get(name).sampler.reparameterized for name in SAMPLERS}
    assert [n for n, r in reparameterized.items() if not r] == ["random_bernoulli", "random_categorical"]


@pytest.mark.parametrize("name", SAMPLERS)
def test_builtin_distributions_pass_the_distribution_checks(name):
    assert check_distribution(REGISTRY.get(name), REGISTRY) == []


def test_a_plugins_distribution_passes_the_whole_check(registry):
    for name in ("laplace_sample", "laplace_log_prob"):
        report = check_op(name, registry)
        assert report.passed and report.examples, report.text()


def _failures(op, registry, **changes):
    planted = dataclasses.replace(op, **changes) if changes else op
    return [f.check for f in check_op(planted, registry, dtypes=("float64",)).failures]


def test_the_checker_catches_a_log_density_that_does_not_normalise(registry):
    log_prob = registry.get("laplace_log_prob")
    wrong = registry.with_ops([dataclasses.replace(log_prob, forward=lambda x, loc, scale: log_prob.forward(
        x, loc, scale) + 0.05)])
    assert "distribution: log density normalises" in _failures(wrong.get("laplace_sample"), wrong)


def test_the_checker_catches_samples_that_do_not_follow_the_density(registry):
    sampler = registry.get("laplace_sample")
    too_wide = lambda key, loc, scale, shape: sampler.forward(key, loc, 1.2 * scale, shape=shape)  # noqa: E731
    failures = _failures(sampler, registry, forward=too_wide)
    assert "distribution: samples follow the log density (Kolmogorov-Smirnov)" in failures


def test_the_checker_catches_a_wrong_pathwise_rule(registry):
    sampler = registry.get("laplace_sample")
    rules = (None, lambda t, ans, key, loc, scale, shape: t, lambda t, ans, key, loc, scale, shape: t * (ans - loc))
    assert "JVP vs finite differences" in _failures(sampler, registry, jvp=rules)


def test_the_checker_catches_a_discrete_sampler_with_the_wrong_probabilities():
    sampler = REGISTRY.get("random_bernoulli")
    squared = lambda key, p, shape: sampler.forward(key, p * p, shape=shape)  # noqa: E731
    assert "distribution: samples follow the log density (chi-square)" in _failures(sampler, REGISTRY, forward=squared)


def test_the_checker_catches_a_simplex_density_off_by_a_constant():
    log_prob = REGISTRY.get("dirichlet_log_prob")
    wrong = REGISTRY.with_ops([dataclasses.replace(log_prob, forward=lambda x, a: log_prob.forward(x, a) + 0.1)])
    assert "distribution: log density normalises (Monte Carlo)" in _failures(wrong.get("random_dirichlet"), wrong)


def test_a_plugins_distribution_works_with_the_estimators(registry):
    """E[z^2] = loc^2 + 2 scale^2 for a Laplace z: gradient (2 loc, 4 scale), pathwise and by
    the score function, within 4 standard errors."""
    client = wg.Client.local(registry=registry)

    def f(p, key):
        return wg.op("laplace_sample", key, p["loc"], p["scale"]) ** 2

    for estimator in ("pathwise", "score_function"):
        result = client.expectation_grad(f, {"loc": 0.5, "scale": 0.8}, samples=20_000, key=3, estimator=estimator)
        assert result.estimators == {"v1": estimator}
        for name, expected in {"loc": 1.0, "scale": 3.2}.items():
            assert abs(result.gradient[name] - expected) <= 4 * result.gradient_error[name], (estimator, name)


def test_the_gamma_ratio_is_nan_where_it_is_undefined_or_would_not_converge():
    """gammainc_ratio (the gamma's pathwise derivative) sums a series or a continued fraction:
    an infinite or NaN argument would never converge (the long fuzz run: 100,000 terms, 20 s
    per call), and x near a huge a needs more terms than allowed. Those are NaN, at once; the
    rest is exact, against finite differences of SciPy's gammainc."""
    from scipy import special as scipy_special

    from wengert.plugins.builtin.special import gammainc_ratio

    a = np.array([np.inf, 2.0, np.nan, 1.5, 1e12, 3.0, 0.7])
    x = np.array([2.0, np.inf, 1.0, -1.0, 1e12, 4.0, 0.2])
    got = gammainc_ratio(a, x, 1)
    assert np.isnan(got[:5]).all()
    h = 1e-6  # d/da P(a, x) / p(x; a) by central differences
    for k in (5, 6):
        dp = (scipy_special.gammainc(a[k] + h, x[k]) - scipy_special.gammainc(a[k] - h, x[k])) / (2 * h)
        density = np.exp((a[k] - 1) * np.log(x[k]) - x[k] - scipy_special.gammaln(a[k]))
        assert got[k] == pytest.approx(dp / density, rel=1e-6)


def test_gamma_family_pathwise_gradients_match_closed_forms():
    """Implicit reparameterisation: E[x] of Gamma(a, b) is a / b, of Beta(a, b) a / (a + b), of
    Dirichlet(alpha)_0 alpha_0 / sum(alpha): pathwise gradients within 4 standard errors."""
    client = wg.Client.local()
    a, b, alpha = 2.5, 1.5, np.array([1.5, 2.0, 0.7])
    cases = [
        (lambda p, key: wg.random.gamma(key, p["a"], p["b"]), {"a": 1 / b, "b": -a / b**2}),
        (lambda p, key: wg.random.beta(key, p["a"], p["b"]), {"a": b / (a + b) ** 2, "b": -a / (a + b) ** 2}),
    ]
    for f, gradient in cases:
        result = client.expectation_grad(f, {"a": a, "b": b}, samples=20_000, key=2, estimator="pathwise")
        for name, expected in gradient.items():
            assert abs(result.gradient[name] - expected) <= 4 * result.gradient_error[name], name
    result = client.expectation_grad(lambda alpha, key: wg.random.dirichlet(key, alpha)[0], alpha,
                                     samples=20_000, key=2, estimator="pathwise")
    total = alpha.sum()
    expected = np.array([1 / total - alpha[0] / total**2, -alpha[0] / total**2, -alpha[0] / total**2])
    assert np.all(np.abs(result.gradient - expected) <= 4 * result.gradient_error)


@pytest.mark.parametrize("value_shape, param_shape", [((), (3,)), ((3,), ()), ((2,), (3,))])
def test_densities_over_vectors_refuse_values_without_the_event_axis(value_shape, param_shape):
    """Found by the decoder fuzzer: a scalar value reached the rules, which index its last axis."""
    for name, extra in (("dirichlet_log_prob", ()), ("relaxed_categorical_log_prob", (1.0,))):
        with pytest.raises(wg.InvalidGraph, match="same last \\(event\\) axis"):
            wg.trace(lambda x, a: wg.op(name, x, a, *extra), np.ones(value_shape), np.ones(param_shape))
