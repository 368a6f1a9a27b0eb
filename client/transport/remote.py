"""Calls over gRPC: the channel, the graph-id cache, and each call's way through retries and
resends (`Attempt`). The async transport (`wengert.aio`) subclasses `RemoteTransport` and
differs only in how it waits, so every decision is made here.

* Graphs travel in full once; afterwards by the id the server returned. A NOT_FOUND for an id
  (the server restarted, or evicted the graph) resends the full graph, once.
* UNAVAILABLE, and only UNAVAILABLE, is retried `retries` times with exponential backoff and
  jitter, waiting at least the delay a busy server asks for (RetryInfo). Every RPC is a pure
  computation, so a retry is always safe.
* `timeout` is the deadline of the whole call, retries included.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Sequence

import grpc

from wengert.execution.call import Call
from wengert.execution.cost import Quote
from wengert.transport.codec import cost_request, decode, decode_quote, encode
from wengert.errors import DeadlineExceeded, WengertError
from wengert.transport.status import from_rpc
from wengert.ir.graph import Graph
from wengert.lru import LRU
from wengert.v1 import service_pb2_grpc
from wengert.transport.wire import graph_to_proto


@dataclass(frozen=True)
class Policy:
    """Deadline and retry settings of a client."""

    timeout: float | None = None
    retries: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 2.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0-based): doubling, capped, and
        jittered so that many clients do not retry in lockstep."""
        return min(self.initial_backoff * 2 ** attempt, self.max_backoff) * random.uniform(0.5, 1.0)


class GraphIds:
    """The ids the server returned for graphs this client sent, keyed by graph equality (so a
    function traced again reuses its graph's id); the least recently used are forgotten."""

    def __init__(self, size: int = 256):
        self._ids: LRU[Graph, str] = LRU(size)

    def get(self, graph: Graph) -> str | None:
        return self._ids.get(graph)

    def remember(self, graph: Graph, graph_id: str) -> None:
        self._ids.pop(graph)
        self._ids.setdefault(graph, graph_id)

    def forget(self, graph: Graph) -> None:
        self._ids.pop(graph)


class Attempt:
    """One call's request (tensors encoded once) and its state across retries and resends.
    A `priced` attempt asks for the call's price (the Cost RPC) instead of its result."""

    def __init__(self, call: Call, ids: GraphIds, policy: Policy, priced: bool = False):
        self.call, self.ids, self.policy, self.priced = call, ids, policy, priced
        self.rpc = "Cost" if priced else call.rpc
        self.request = encode(call)
        self.retries = 0
        self.deadline = None if policy.timeout is None else time.monotonic() + policy.timeout
        self.by_id = False
        if call.graph is not None:
            graph_id = ids.get(call.graph)
            if graph_id is None:
                self.request.graph.CopyFrom(graph_to_proto(call.graph))
            else:
                self.request.graph_id, self.by_id = graph_id, True

    def timeout(self) -> float | None:
        """Seconds left for the next try (None: no deadline)."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"{self.call.rpc}: deadline of {self.policy.timeout} s passed "
                                   f"after {self.retries} retries")
        return left

    def retry_after(self, exc: grpc.RpcError) -> float:
        """Seconds to wait before trying again, or raises the typed error for `exc`."""
        code = exc.code()
        if code == grpc.StatusCode.NOT_FOUND and self.by_id:
            self.ids.forget(self.call.graph)
            self.request.graph.CopyFrom(graph_to_proto(self.call.graph))
            self.by_id = False
            return 0.0
        if code == grpc.StatusCode.UNAVAILABLE and self.retries < self.policy.retries:
            # A busy server says how long to wait (RetryInfo): at least that, backing off beyond.
            delay = max(self.policy.backoff(self.retries), error_from_rpc(exc).retry_delay or 0.0)
            self.retries += 1
            if self.deadline is None or time.monotonic() + delay < self.deadline:
                return delay
        raise error_from_rpc(exc) from exc

    def message(self):
        """What to send: the request, or the Cost request holding it."""
        return cost_request(self.call.rpc, self.request) if self.priced else self.request

    def result(self, response) -> Any:
        if self.call.graph is not None and getattr(response, "graph_id", ""):  # a stream has none
            self.ids.remember(self.call.graph, response.graph_id)
        return decode_quote(response) if self.priced else decode(self.call, response)


def error_from_rpc(exc: grpc.RpcError) -> WengertError:
    """The typed error for a failed call, from its status and its structured details."""
    code, message = exc.code().name, exc.details() or ""
    if code == "RESOURCE_EXHAUSTED" and "larger than max" in message:  # gRPC's own refusal: no details
        message += " (the server's --max-message-mb limits every message)"
    return from_rpc(code, message, exc.trailing_metadata())


class RemoteTransport:
    """Runs calls over a blocking gRPC channel."""

    grpc_module = grpc

    def __init__(self, channel, policy: Policy, metadata: tuple[tuple[str, str], ...]):
        self.channel, self.policy, self.metadata = channel, policy, metadata
        self.stub = service_pb2_grpc.DifferentiationServiceStub(channel)
        self.ids = GraphIds()

    @classmethod
    def connect(cls, target: str, *, timeout: float | None, credentials, token: str | None,
                retries: int, options: Sequence[tuple[str, Any]], load_balancing: str | None):
        """A transport on a new channel. The channel reconnects at the pace of the retries and
        accepts responses of any size (a Jacobian easily exceeds gRPC's 4 MB default; the
        server enforces the limits). `options` override these."""
        policy = Policy(timeout, retries)
        merged = {
            "grpc.max_receive_message_length": -1,
            "grpc.initial_reconnect_backoff_ms": int(policy.initial_backoff * 1000),
            "grpc.max_reconnect_backoff_ms": int(policy.max_backoff * 1000),
        }
        if load_balancing is not None:
            merged["grpc.lb_policy_name"] = load_balancing
        merged.update(options)
        if credentials is None:
            channel = cls.grpc_module.insecure_channel(target, options=list(merged.items()))
        else:
            channel = cls.grpc_module.secure_channel(target, credentials, options=list(merged.items()))
        return cls(channel, policy, (("authorization", f"Bearer {token}"),) if token else ())

    def __call__(self, call: Call, priced: bool = False) -> Any:
        attempt = Attempt(call, self.ids, self.policy, priced)
        method = getattr(self.stub, attempt.rpc)
        while True:
            try:
                response = method(attempt.message(), timeout=attempt.timeout(), metadata=self.metadata)
                return attempt.result(response)  # a stream is read here, so its errors are caught
            except grpc.RpcError as exc:
                time.sleep(attempt.retry_after(exc))

    def cost(self, call: Call) -> Quote:
        """What `call` would cost on the server, by its limits (the Cost RPC)."""
        return self(call, priced=True)

    def close(self) -> None:
        self.channel.close()
