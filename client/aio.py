"""`wg.AsyncClient`: `wg.Client`'s methods as coroutines, over `grpc.aio`.

    async with wg.AsyncClient("localhost:50051") as client:
        value, grad = await client.value_and_grad(f, 2.0, 5.0)

Requests, results, retries and errors are `Client`'s own (`wengert.api`, `wengert.transport.codec`,
`wengert.transport.remote`); only the waiting is asynchronous.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from wengert.api import ClientAPI, Then
from wengert.execution.call import Call
from wengert.transport.codec import STREAMS
from wengert.execution.cost import Quote
from wengert.transport.local import LocalTransport
from wengert.transport.remote import Attempt, RemoteTransport


class AsyncRemoteTransport(RemoteTransport):
    """Runs calls over a `grpc.aio` channel."""

    grpc_module = grpc.aio

    async def __call__(self, call: Call, priced: bool = False) -> Any:
        attempt = Attempt(call, self.ids, self.policy, priced)
        method = getattr(self.stub, attempt.rpc)
        while True:
            try:
                pending = method(attempt.message(), timeout=attempt.timeout(), metadata=self.metadata)
                response = [piece async for piece in pending] if attempt.rpc in STREAMS else await pending
            except grpc.RpcError as exc:
                await asyncio.sleep(attempt.retry_after(exc))
            else:
                return attempt.result(response)

    async def close(self) -> None:
        await self.channel.close()


class AsyncLocalTransport(LocalTransport):
    """The in-process engine, run in a worker thread to keep the event loop free."""

    async def __call__(self, call: Call) -> Any:
        return await asyncio.to_thread(super().__call__, call)

    async def cost(self, call: Call) -> Quote:
        return super().cost(call)

    async def close(self) -> None:
        """Nothing to release."""


class AsyncClient(ClientAPI):
    """An asyncio client: every method is a coroutine; the arguments are `ClientAPI`'s.

    Tracing is synchronous, so a node of an op only the server has is typed over a second,
    blocking channel to the same server: the event loop waits for that round trip (once per
    new signature, see `wengert.server_ops`)."""

    remote_transport = AsyncRemoteTransport
    local_transport = AsyncLocalTransport
    _typing: RemoteTransport | None = None

    async def _run(self, call, finish):
        if self._pricing:
            return await self._transport.cost(call)
        result = finish(await self._transport(call))
        while isinstance(result, Then):
            result = result.finish(await self._transport(result.call))
        return result

    def _blocking_transport(self, target, settings):
        self._typing = RemoteTransport.connect(target, **settings)
        return self._typing

    async def close(self) -> None:
        await self._transport.close()
        if self._typing is not None:
            self._typing.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
