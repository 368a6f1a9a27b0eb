"""`wg.Client`: the SDK's methods over gRPC, or in-process with `Client.local()`.

    client = wg.Client("localhost:50051", timeout=10)
    client.grad(f, 2.0, 5.0, argnums=(0, 1))        # (array(5.5), array(1.716...))

Local and remote give the same results and raise the same error classes. `wengert.api` says
how arguments and results are shaped; `wengert.transport.remote` how retries and graph ids work.
"""

from __future__ import annotations

from wengert.optim import minimizing
from wengert.api import ClientAPI, Then
from wengert.transport.local import LocalTransport
from wengert.transport.remote import RemoteTransport


class Client(ClientAPI):
    """A blocking client of the server at `target`; the arguments are `ClientAPI`'s."""

    remote_transport = RemoteTransport
    local_transport = LocalTransport

    def _run(self, call, finish):
        if self._pricing:
            return self._transport.cost(call)
        result = finish(self._transport(call))
        while isinstance(result, Then):
            result = result.finish(self._transport(result.call))
        return result

    def minimize(self, f, params, data=None, **options):
        """Steepest descent of `f(params, data)` (or `f(params)`) over the pytree `params`, on
        the server (in-process for `Client.local()`), streamed back as it goes; see
        `wengert.optim.minimizing.minimize` for the options."""
        return minimizing.minimize(self, f, params, data, **options)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
