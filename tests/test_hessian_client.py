"""Hessians, HVPs, derivative graphs and sparse or streamed Jacobians through the SDK, in-process
(`Client.local()`) and against a real server: both give the same answers."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import wengert as wg
from test_hessian import rosenbrock, rosenbrock_hessian
from test_sparsity import tridiagonal
from wengert.jacobians.sweeps import SparseBlock


X = np.array([1.2, 0.7, -0.3, 2.0])


def test_hessian_dense_and_sparse(client):
    np.testing.assert_allclose(client.hessian(rosenbrock, X), rosenbrock_hessian(X), rtol=1e-14)
    sparse = client.hessian(rosenbrock, X, format="sparse")
    assert isinstance(sparse, SparseBlock) and sparse.values.size == 3 * 4 - 2
    np.testing.assert_allclose(sparse.todense(), rosenbrock_hessian(X), rtol=1e-14)


def test_hessian_of_several_inputs_nests_like_jax(client):
    def f(a, b):
        return wg.sum(wg.sin(a) * b) + wg.sum(b ** 3)

    a, b = np.array([0.3, -0.4]), np.array([1.5, 0.5])
    blocks = client.hessian(f, a, b, argnums=(0, 1))
    assert [[blocks[i][j].shape for j in range(2)] for i in range(2)] == [[(2, 2)] * 2] * 2
    np.testing.assert_allclose(blocks[0][1], np.diag(np.cos(a)), rtol=1e-14)
    np.testing.assert_allclose(blocks[1][1], np.diag(6 * b), rtol=1e-14)
    by_name = client.hessian(f, a, b, wrt=["b"])
    np.testing.assert_allclose(by_name["b"]["b"], np.diag(6 * b), rtol=1e-14)


def test_hvp_batched(client):
    directions = np.eye(4)[:2]
    products = client.hvp(rosenbrock, (X,), (directions,), batched=True)
    np.testing.assert_allclose(products, directions @ rosenbrock_hessian(X), rtol=1e-14)


def test_derivative_graph_comes_back_as_a_graph_that_runs(client):
    gradient = client.derivative_graph(rosenbrock, "gradient", X)
    assert gradient.input_names == ("x",) and gradient.output_names == ("y", "cotangent:x")
    np.testing.assert_allclose(client.jacobian(gradient, X, outputs="cotangent:x"), rosenbrock_hessian(X),
                               rtol=1e-14)
    vjp = client.derivative_graph(wg.trace(rosenbrock, X), "vjp")
    assert vjp.input_names == ("x", "cotangent:y")


@pytest.mark.parametrize("stream", [False, True])
def test_sparse_and_streamed_jacobians_agree_with_dense(client, stream):
    x = np.linspace(-1, 1, 30)
    dense = client.jacobian(tridiagonal, x)
    sparse = client.jacobian(tridiagonal, x, format="sparse", stream=stream)
    np.testing.assert_allclose(sparse.todense(), dense, rtol=1e-15)
    np.testing.assert_allclose(client.jacobian(tridiagonal, x, stream=stream), dense, rtol=1e-15)
    assert sparse.values.size == 3 * 30 - 2


@pytest.mark.parametrize("where", ["local", "remote"])
def test_async_client_hessian_and_streamed_jacobian(request, where):
    def connect():
        if where == "local":
            return wg.AsyncClient.local()
        return wg.AsyncClient(request.getfixturevalue("server").target, timeout=60)

    async def main():
        async with connect() as client:
            return (await client.hessian(rosenbrock, X),
                    await client.jacobian(lambda x: wg.softmax(x), X, stream=True))

    hessian, jacobian = asyncio.run(main())
    np.testing.assert_allclose(hessian, rosenbrock_hessian(X), rtol=1e-14)
    s = np.exp(X) / np.exp(X).sum()
    np.testing.assert_allclose(jacobian, np.diag(s) - np.outer(s, s), rtol=1e-14, atol=1e-16)
