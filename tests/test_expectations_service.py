"""ExpectationGradient and stochastic Minimize through a real server: the same bits as
in-process for the same key, every client (blocking and asyncio), priced like every request,
and refusals with the right status naming the node at fault."""

from __future__ import annotations

import asyncio
import sys

import grpc
import numpy as np
import pytest

import wengert as wg
from plugin_fixtures.cli import FIXTURES
from wengert.errors import InvalidRequest, LimitExceeded, UnknownOp
from wengert.plugins.registry import Registry
from wengert.testing import start_server
from wengert.transport.wire import graph_to_proto, tensor_to_proto
from wengert.v1 import service_pb2 as pb


def two_level(p, key):
    k_choice, k_value = wg.random.split(key)
    b = wg.random.bernoulli(k_choice, p["p"])
    return wg.random.normal(k_value, b * p["mu1"] + (1 - b) * p["mu0"], p["sigma"]) ** 2


PARAMS = {"p": 0.3, "mu0": -1.0, "mu1": 2.0, "sigma": 0.5}


@pytest.fixture(scope="module")
def remote(server):
    with wg.Client(server.target, timeout=60) as client:
        yield client


def _same(a: wg.ExpectationResult, b: wg.ExpectationResult) -> None:
    assert a.value == b.value and a.value_error == b.value_error and a.nodes == b.nodes
    assert a.samples == b.samples
    for name in a.gradient:
        assert a.gradient[name].tobytes() == b.gradient[name].tobytes(), name
        assert a.gradient_error[name].tobytes() == b.gradient_error[name].tobytes(), name


@pytest.mark.parametrize("estimator, baseline", [("auto", "none"), ("score_function", "leave_one_out"),
                                                 ("enumerate", "moving_average")])
def test_remote_and_local_estimates_are_bit_identical(remote, estimator, baseline):
    options = dict(samples=700, key=5, estimator=estimator, baseline=baseline)
    here = wg.Client.local().expectation_grad(two_level, PARAMS, **options)
    there = remote.expectation_grad(two_level, PARAMS, **options)
    _same(here, there)
    _same(there, remote.expectation_grad(two_level, PARAMS, **options))  # by graph id this time


def test_the_async_client_gives_the_same_estimate(server):
    async def estimate():
        async with wg.AsyncClient(server.target, timeout=60) as client:
            return await client.expectation_grad(two_level, PARAMS, samples=300, key=2)
    _same(asyncio.run(estimate()), wg.Client.local().expectation_grad(two_level, PARAMS, samples=300, key=2))


def test_the_server_prices_samples_times_the_plan(remote):
    local = wg.Client.local().cost(two_level, PARAMS, samples=3000, kind="expectation_grad")
    quote = remote.cost(two_level, PARAMS, samples=3000, kind="expectation_grad")
    assert quote.admitted and quote.work == local.work and quote.plans == local.plans
    with pytest.raises(LimitExceeded, match="memory"):  # 1e8 samples: far over the default budget
        remote.expectation_grad(two_level, PARAMS, samples=10**8)


def test_refusals_name_the_node(remote):
    with pytest.raises(InvalidRequest, match=r"node 'v3' \(random_bernoulli\): is not reparameterised"):
        remote.expectation_grad(two_level, PARAMS, samples=10, estimator="pathwise")


def test_raw_requests_take_documented_defaults_and_refuse_unknown_enums(server):
    graph = wg.trace(two_level, PARAMS, wg.random.key(0))
    stub = server.stub()
    request = pb.ExpectationGradientRequest(
        graph=graph_to_proto(graph), inputs={f"p/{k}": tensor_to_proto(np.float64(v)) for k, v in PARAMS.items()},
        wrt=["p/p"], expectation=pb.Expectation(key=3))
    response = stub.ExpectationGradient(request, timeout=60)
    assert response.samples == 1000 and set(response.gradient) == {"p/p"}
    assert [(n.node, n.estimator) for n in response.nodes] == [("v3", pb.ESTIMATOR_SCORE_FUNCTION),
                                                               ("v9", pb.ESTIMATOR_PATHWISE)]
    request.expectation.estimator = 17
    with pytest.raises(grpc.RpcError) as caught:
        stub.ExpectationGradient(request, timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "estimator" in caught.value.details()


def test_a_stochastic_minimization_runs_the_same_steps_remotely(remote):
    def loss(p, key):
        return (wg.random.normal(key, p["mu"], wg.exp(p["log_sigma"])) - 3.0) ** 2

    options = dict(lr=0.05, stop=wg.optim.Stop(max_steps=40),
                   expectation=wg.Expectation(samples=16, key=4, estimator="score_function",
                                              baseline="moving_average"))
    here = wg.Client.local().minimize(loss, {"mu": 0.0, "log_sigma": 0.0}, **options)
    there = remote.minimize(loss, {"mu": 0.0, "log_sigma": 0.0}, **options)
    assert there.reason == here.reason == "max_steps" and there.loss == here.loss
    for name in ("mu", "log_sigma"):
        assert there.params[name].tobytes() == here.params[name].tobytes()


def test_a_plugins_distribution_is_verified_and_served(remote):
    """The fixture's Laplace distribution, loaded by a server with --plugins: verified at start-up
    (derivative and distribution checks), then estimated to the same bits as in-process."""
    def f(p, key):
        return wg.op("laplace_sample", key, p["loc"], p["scale"]) ** 2

    sys.path.insert(0, str(FIXTURES))
    try:
        registry = Registry.load(modules=["laplace_distribution"])
    finally:
        sys.path.remove(str(FIXTURES))
    params, options = {"loc": 0.5, "scale": 0.8}, dict(samples=2000, key=3, estimator="score_function")
    here = wg.Client.local(registry=registry).expectation_grad(f, params, **options)
    with start_server("--plugins", "laplace_distribution", pythonpath=(str(FIXTURES),)) as server, \
            wg.Client(server.target, timeout=60) as client:
        _same(client.expectation_grad(f, params, **options), here)
        assert here.estimators == {"v1": "score_function"}
    with pytest.raises(UnknownOp, match="unknown op 'laplace_sample'"):  # the shared server has none
        remote.expectation_grad(f, params, **options)
