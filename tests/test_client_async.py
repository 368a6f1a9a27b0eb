"""`wg.AsyncClient`: the same methods as coroutines, locally and against a real server."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import wengert as wg
from conftest import WORKED_GRADIENT, WORKED_VALUE, worked_example
from test_client_remote import free_port


@pytest.fixture(params=["local", "remote"])
def connect(request):
    """Makes the client inside the running event loop, where grpc.aio channels must be born."""
    if request.param == "local":
        return wg.AsyncClient.local
    target = request.getfixturevalue("server").target
    return lambda: wg.AsyncClient(target, timeout=30)


def test_the_worked_example_through_every_method(connect):
    async def main():
        async with connect() as client:
            return (await client.evaluate(worked_example, 2.0, 5.0),
                    await client.value_and_grad(worked_example, 2.0, 5.0, argnums=(0, 1)),
                    await client.jacobian(worked_example, 2.0, 5.0, wrt=["x2"], mode="forward"),
                    await client.trace(worked_example, 2.0, 5.0, tangents=(1.0, 0.0)),
                    await client.list_ops())

    value, (same, grad), jacobian, trace, ops = asyncio.run(main())
    assert value == same == pytest.approx(WORKED_VALUE, abs=1e-15)
    assert grad == pytest.approx(WORKED_GRADIENT, abs=1e-15)
    assert jacobian == {"x2": pytest.approx(WORKED_GRADIENT[1], abs=1e-15)}
    assert str(trace).endswith("ẏ = 5.5")
    assert "sin" in {op.name for op in ops}


def test_concurrent_calls_share_one_client(connect):
    points = np.linspace(1.0, 3.0, 16)

    async def main():
        async with connect() as client:
            return await asyncio.gather(*(client.grad(worked_example, x, 5.0) for x in points))

    np.testing.assert_allclose(asyncio.run(main()), 1 / points + 5.0, rtol=1e-15)


def test_errors_are_typed(connect, worked_graph):
    async def main():
        async with connect() as client:
            await client.evaluate(worked_graph, np.float32(2.0), 5.0)

    with pytest.raises(wg.InvalidTensor):
        asyncio.run(main())


def test_an_unreachable_server_is_unavailable_after_the_retries():
    async def main():
        async with wg.AsyncClient(f"127.0.0.1:{free_port()}", retries=1) as client:
            await client.evaluate(wg.sin, 1.0)

    with pytest.raises(wg.Unavailable):
        asyncio.run(main())
