"""Gradients of expectations against closed forms, in-process.

Statistical tests with fixed seeds and stated bounds: an estimate is within 4 of its reported
standard errors of the truth; a reported standard error is within 20 % of the spread of the
estimates over 200 keys (the spread itself is known to about 5 % from 200 keys, so 20 % is four
of its own standard errors); baselines lower the variance by a stated factor; enumeration is
exact. Every key is fixed, so each test passes or fails the same way on every run.
"""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from wengert.autodiff.transform import jvp_graph, vjp_graph
from wengert.errors import InvalidRequest
from wengert.execution.engine import Engine
from wengert.expectations import expectation_gradient
from wengert.plugins.sampling import sample_keys
from wengert.transport.wire import graph_from_proto, graph_to_proto

MU, SIGMA, P = 1.0, 0.5, 0.3
LOGITS = np.array([0.2, -0.7, 1.1])
TABLE = np.array([1.0, -2.0, 4.0])


def square(p, key):
    return wg.random.normal(key, p["mu"], p["sigma"]) ** 2


def cube(p, key):
    return wg.random.normal(key, p["mu"], p["sigma"]) ** 3


def shifted_bernoulli(p, key):
    return (wg.random.bernoulli(key, p["p"]) + 2.0) ** 2  # f(1) = 9, f(0) = 4


def table_lookup(p, key):
    return wg.take(TABLE, wg.random.categorical(key, p["logits"]))


def two_level(p, key):
    """A discrete choice b ~ Bern(p), then z ~ N(mu_b, sigma^2); f = z^2."""
    k_choice, k_value = wg.random.split(key)
    b = wg.random.bernoulli(k_choice, p["p"])
    z = wg.random.normal(k_value, b * p["mu1"] + (1 - b) * p["mu0"], p["sigma"])
    return z**2


TWO_LEVEL = {"p": P, "mu0": -1.0, "mu1": 2.0, "sigma": SIGMA}
# E = p (mu1^2 + sigma^2) + (1 - p) (mu0^2 + sigma^2)
TWO_LEVEL_VALUE = P * (4.0 + SIGMA**2) + (1 - P) * (1.0 + SIGMA**2)
TWO_LEVEL_GRADIENT = {"p": 4.0 - 1.0, "mu0": 2 * (1 - P) * -1.0, "mu1": 2 * P * 2.0, "sigma": 2 * SIGMA}

# name -> (function, parameters, E[f], gradient, estimator, baseline)
CLOSED_FORMS = {
    "square-pathwise": (square, {"mu": MU, "sigma": SIGMA}, MU**2 + SIGMA**2, {"mu": 2 * MU, "sigma": 2 * SIGMA},
                        "pathwise", "none"),
    "square-score-function": (square, {"mu": MU, "sigma": SIGMA}, MU**2 + SIGMA**2,
                              {"mu": 2 * MU, "sigma": 2 * SIGMA}, "score_function", "none"),
    "bernoulli-score-function": (shifted_bernoulli, {"p": P}, 4 + 5 * P, {"p": 5.0}, "score_function", "none"),
    "two-level-mixed": (two_level, TWO_LEVEL, TWO_LEVEL_VALUE, TWO_LEVEL_GRADIENT, "auto", "none"),
    "two-level-mixed-leave-one-out": (two_level, TWO_LEVEL, TWO_LEVEL_VALUE, TWO_LEVEL_GRADIENT, "auto",
                                      "leave_one_out"),
}


@pytest.fixture(scope="module")
def client():
    return wg.Client.local()


@pytest.mark.parametrize("case", CLOSED_FORMS)
def test_estimates_are_within_four_standard_errors_of_the_closed_form(client, case):
    f, params, value, gradient, estimator, baseline = CLOSED_FORMS[case]
    result = client.expectation_grad(f, params, samples=20_000, key=7, estimator=estimator, baseline=baseline)
    assert result.samples == 20_000
    assert abs(result.value - value) <= 4 * result.value_error
    for name, expected in gradient.items():
        assert abs(result.gradient[name] - expected) <= 4 * result.gradient_error[name], name
        assert 0 < result.gradient_error[name] < 0.1 * max(1.0, abs(expected)), name  # an informative estimate


@pytest.mark.parametrize("case", CLOSED_FORMS)
def test_reported_standard_errors_match_the_spread_over_200_keys(client, case):
    f, params, _, gradient, estimator, baseline = CLOSED_FORMS[case]
    runs = [client.expectation_grad(f, params, samples=500, key=1000 + k, estimator=estimator, baseline=baseline)
            for k in range(200)]
    for name in gradient:
        spread = np.std([r.gradient[name] for r in runs], ddof=1)
        reported = np.mean([r.gradient_error[name] for r in runs])
        assert abs(reported / spread - 1) <= 0.2, f"{name}: reported {reported:.4g}, spread {spread:.4g}"
    spread = np.std([r.value for r in runs], ddof=1)
    assert abs(np.mean([r.value_error for r in runs]) / spread - 1) <= 0.2


def test_the_mixed_estimator_goes_pathwise_where_it_can(client):
    result = client.expectation_grad(two_level, TWO_LEVEL, samples=10, key=0)
    assert [(n.op, n.estimator) for n in result.nodes] == [("random_bernoulli", "score_function"),
                                                           ("random_normal", "pathwise")]


def test_enumerating_a_bernoulli_is_exact(client):
    result = client.expectation_grad(shifted_bernoulli, {"p": P}, samples=1000, key=3, estimator="enumerate")
    assert result.samples == 1 and result.estimators == {"v1": "enumerate"}
    assert result.value == pytest.approx(4 + 5 * P, abs=1e-12) and result.value_error == 0
    assert result.gradient["p"] == pytest.approx(5.0, abs=1e-12) and result.gradient_error["p"] == 0


def test_enumerating_a_categorical_is_exact(client):
    result = client.expectation_grad(table_lookup, {"logits": LOGITS}, estimator="enumerate")
    p = np.exp(LOGITS) / np.exp(LOGITS).sum()
    expected = p @ TABLE
    assert result.value == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(result.gradient["logits"], p * (TABLE - expected), atol=1e-12)
    np.testing.assert_array_equal(result.gradient_error["logits"], 0)


def test_enumeration_under_a_sampled_node_is_exact_in_its_part(client):
    """Two levels with the choice enumerated: d/dp no longer carries the choice's noise."""
    result = client.expectation_grad(two_level, TWO_LEVEL, samples=20_000, key=11, estimator="enumerate")
    assert result.estimators == {"v3": "enumerate", "v9": "pathwise"}
    for name, expected in TWO_LEVEL_GRADIENT.items():
        assert abs(result.gradient[name] - expected) <= 4 * result.gradient_error[name], name
    mixed = client.expectation_grad(two_level, TWO_LEVEL, samples=20_000, key=11)
    assert result.gradient_error["p"] < 0.5 * mixed.gradient_error["p"]


def test_the_dice_hessian_is_unbiased_to_second_order():
    """Hessian of E[z^3] = mu^3 + 3 mu sigma^2 in (mu, sigma): [[6 mu, 6 sigma], [6 sigma, 6 mu]],
    from the score-function surrogate differentiated twice, per sample, over 50,000 samples."""
    engine = Engine()
    graph = wg.trace(cube, {"mu": MU, "sigma": SIGMA}, wg.random.key(0))
    names = ["p/mu", "p/sigma"]
    surrogate = expectation_gradient(graph, names, "score_function")
    assert [n.estimator for n in surrogate.nodes] == ["score_function"]
    gradient = vjp_graph(surrogate.graph, names, seeds=["surrogate"], unit_seeds=True)
    hessian = jvp_graph(gradient, names)
    plan = engine.plan(hessian, frozenset({"key"}))
    samples = 50_000
    expected = np.array([[6 * MU, 6 * SIGMA], [6 * SIGMA, 6 * MU]])
    for column, direction in enumerate(np.eye(2)):
        out = plan.run({"p/mu": np.float64(MU), "p/sigma": np.float64(SIGMA), "key": sample_keys(5, samples),
                        "tangent:p/mu": direction[0], "tangent:p/sigma": direction[1]})
        for row, name in enumerate(names):
            per_sample = out[f"tangent:cotangent:{name}"]
            mean, error = per_sample.mean(), per_sample.std(ddof=1) / np.sqrt(samples)
            assert abs(mean - expected[row, column]) <= 4 * error, (row, column, mean, error)


def test_baselines_lower_the_score_functions_variance(client):
    """E[(z + 20)^2] under N(mu, 1), mu = 0.5, a = 20.5: the plain score function's per-sample
    gradient (a + e)^2 e (e = z - mu) has variance about a^4 = 1.8e5; a baseline near E[f] =
    a^2 + 1 leaves (2 a e + e^2 - 1) e, of variance about 8 a^2 = 3.4e3, 50 times less. Asserted:
    at least 10 times less, in the reported standard errors and in the spread over 50 keys
    (measured: 34 and 31 times for the moving average, 52 and 54 for leave-one-out)."""
    def offset(mu, key):
        return (wg.random.normal(key, mu, 1.0) + 20.0) ** 2  # `mu` is the whole (one-leaf) pytree

    def spread_and_error(baseline):
        runs = [client.expectation_grad(offset, 0.5, samples=400, key=200 + k, estimator="score_function",
                                        baseline=baseline) for k in range(50)]
        return np.var([r.gradient for r in runs]), np.mean([r.gradient_error ** 2 for r in runs])

    plain_spread, plain_error = spread_and_error("none")
    for baseline in ("moving_average", "leave_one_out"):
        spread, error = spread_and_error(baseline)
        ratios = f"{baseline}: variance {plain_spread / spread:.1f} and {plain_error / error:.1f} times lower"
        assert spread < plain_spread / 10 and error < plain_error / 10, ratios


def test_the_same_key_gives_bit_identical_results(client):
    first = client.expectation_grad(two_level, TWO_LEVEL, samples=300, key=42, baseline="moving_average")
    again = client.expectation_grad(two_level, TWO_LEVEL, samples=300, key=42, baseline="moving_average")
    other = client.expectation_grad(two_level, TWO_LEVEL, samples=300, key=43, baseline="moving_average")
    assert first.value == again.value and first.value_error == again.value_error
    for name in TWO_LEVEL:  # the gradient has the parameters' structure: a dict by name
        assert first.gradient[name].tobytes() == again.gradient[name].tobytes()
        assert first.gradient_error[name].tobytes() == again.gradient_error[name].tobytes()
    assert first.value != other.value


def test_more_samples_extend_the_same_stream(client):
    """Sample i has key (key, i) whatever the count: 100 samples are the first 100 of 200."""
    small = client.expectation_grad(square, {"mu": MU, "sigma": SIGMA}, samples=100, key=9)
    graph = wg.trace(square, {"mu": MU, "sigma": SIGMA}, wg.random.key(0))
    values = Engine().plan(graph, frozenset({"key"})).run({"p/mu": np.float64(MU), "p/sigma": np.float64(SIGMA),
                                                            "key": sample_keys(9, 200)})["y"]
    assert small.value == pytest.approx(values[:100].mean(), rel=1e-15)


def test_the_surrogate_is_a_graph_that_travels():
    graph = wg.trace(two_level, TWO_LEVEL, wg.random.key(0))
    surrogate = expectation_gradient(graph, [f"p/{k}" for k in TWO_LEVEL], "auto", baseline=True)
    assert "stop_gradient" in str(surrogate.graph) and "normal_log_prob" not in str(surrogate.graph)
    assert "bernoulli_log_prob" in str(surrogate.graph) and "baseline:v3" in surrogate.graph.input_names
    sent = graph_from_proto(graph_to_proto(surrogate.graph))
    assert sent == surrogate.graph
    engine, params, keys = Engine(), {f"p/{k}": np.float64(v) for k, v in TWO_LEVEL.items()}, sample_keys(1, 5)
    value = engine.plan(sent, frozenset({"key", "baseline:v3"})).run(
        {**params, "key": keys, "baseline:v3": np.zeros(5)})["value"]
    np.testing.assert_array_equal(value, engine.plan(graph, frozenset({"key"})).run({**params, "key": keys})["y"])


def test_the_request_is_priced_as_samples_times_the_plan(client):
    params = {"mu": MU, "sigma": SIGMA}
    small = client.cost(square, params, samples=1000, kind="expectation_grad")
    large = client.cost(square, params, samples=4000, kind="expectation_grad")
    assert large.work == pytest.approx(4 * small.work, rel=0.01)
    assert "1000 sample(s)" in small.plans[0].what
    limited = wg.Client.local(limits=wg.Limits(memory=small.peak_bytes * 2))
    limited.expectation_grad(square, params, samples=1000)
    with pytest.raises(wg.LimitExceeded, match="memory"):
        limited.expectation_grad(square, params, samples=4000)


@pytest.mark.parametrize("f, params, estimator, message", [
    (shifted_bernoulli, {"p": P}, "pathwise", r"node 'v1' \(random_bernoulli\): is not reparameterised"),
    (lambda mu, key: wg.random.normal(key, mu) + wg.random.normal(key, mu), 1.0, "auto",
     "draws with the same key as node"),
    (lambda mu, key: wg.random.normal(wg.random.key(3), mu) + 0 * wg.sum(key), 1.0, "auto",
     "its key does not come from the key input 'key'"),
])
def test_graphs_the_estimators_cannot_serve_are_refused_by_node(client, f, params, estimator, message):
    with pytest.raises(InvalidRequest, match=message):
        client.expectation_grad(f, params, samples=10, estimator=estimator)


def test_requests_that_do_not_fit_are_refused(client):
    graph = wg.trace(square, {"mu": MU, "sigma": SIGMA}, wg.random.key(0))
    with pytest.raises(InvalidRequest, match="'key' is the key input"):
        client.expectation_grad(graph, {"p/mu": MU, "p/sigma": SIGMA, "key": wg.random.key(0)})
    with pytest.raises(InvalidRequest, match="no key input 'seed'"):
        client.expectation_grad(graph, {"p/mu": MU, "p/sigma": SIGMA}, key_input="seed")
    with pytest.raises(InvalidRequest, match="unknown estimator"):
        client.expectation_grad(square, {"mu": MU, "sigma": SIGMA}, estimator="reinforce")
    with pytest.raises(InvalidRequest, match="samples must be between 1"):
        client.expectation_grad(square, {"mu": MU, "sigma": SIGMA}, samples=0)
    with pytest.raises(InvalidRequest, match="no key input 'key'"):
        client.expectation_grad(wg.trace(lambda mu: mu * 2.0, MU), {"mu": MU})


@pytest.mark.parametrize("norm, lr", [("l2", 0.05), ("linf", 0.02)])
def test_a_stochastic_objective_minimizes_its_expectation(client, norm, lr):
    """E[(z - 3)^2] under N(mu, sigma^2) = (mu - 3)^2 + sigma^2: the minimum is mu = 3, sigma -> 0,
    by stochastic gradient descent and by stochastic sign descent (any norm)."""
    def loss(p, key):
        return (wg.random.normal(key, p["mu"], wg.exp(p["log_sigma"])) - 3.0) ** 2

    options = dict(lr=lr, norm=norm, stop=wg.optim.Stop(max_steps=300), expectation=wg.Expectation(samples=32, key=1))
    fit = client.minimize(loss, {"mu": 0.0, "log_sigma": 0.0}, **options)
    assert fit.reason == "max_steps"
    assert abs(fit.params["mu"] - 3.0) < 0.05 and np.exp(fit.params["log_sigma"]) < 0.2  # from 1
    again = client.minimize(loss, {"mu": 0.0, "log_sigma": 0.0}, **options)
    assert fit.params["mu"].tobytes() == again.params["mu"].tobytes()
